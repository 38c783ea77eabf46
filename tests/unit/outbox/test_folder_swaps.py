"""Issue 12, round 2: a folder swapped for a symlink *between* a check and the act.

A move (to archive/ or rejected/) and the unlink that finishes it used to act on the
outbox name by path: a folder on the way (``quick-send/HHU-001``) swapped for a symlink
to another folder after the check made the daemon take, and remove from its place, a
file outside the outbox. A daemon folder (archive/) swapped for a symlink while the
daemon ran was written through. Each swap is made here by a monkeypatched hook at the
worst moment, so the race is deterministic.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import hhu_sync.outbox.processor as processor
from hhu_sync.model.inputs import is_outbox_name
from tests.unit.outbox.test_processor import depot, drop  # noqa: F401 - the fixture

PRECIOUS = b"root:precious-line-of-a-file-outside-the-outbox\n"


def swap_for_symlink(folder: Path, target: Path) -> None:
    """Replace ``folder`` by a symlink to ``target`` (what an attacker does in a loop)."""
    shutil.move(str(folder), str(folder.with_name(folder.name + ".real")))
    folder.symlink_to(target, target_is_directory=True)


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A folder outside the outbox holding a file named like the outbox's."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def test_a_folder_swapped_after_the_check_never_moves_a_file_from_outside(
        depot, elsewhere, monkeypatch):  # noqa: F811
    path = drop(depot, "bad.toml", sub="quick-send/HHU-001", content=b"junk\n")
    (elsewhere / "bad.toml").write_bytes(PRECIOUS)
    checked = processor.real_folders

    def then_swap(p, root):
        checked(p, root)
        swap_for_symlink(path.parent, elsewhere)

    monkeypatch.setattr(processor, "real_folders", then_swap)
    depot.process(path)
    assert (elsewhere / "bad.toml").read_bytes() == PRECIOUS
    rejected = depot.config.paths.rejected
    for f in rejected.iterdir() if rejected.exists() else ():
        assert f.read_bytes() != PRECIOUS, f"{f} is the outside file"


def test_a_folder_swapped_before_the_archive_move_never_takes_a_file_from_outside(
        depot, elsewhere, monkeypatch):  # noqa: F811
    path = drop(depot, "as230-flat.toml", sub="")
    sub = depot.outbox / "sub"
    sub.mkdir()
    path = Path(shutil.move(str(path), str(sub / path.name)))
    shutil.copyfile(path, elsewhere / path.name)   # same bytes, another file
    by_name, at_folder = processor._sig, getattr(processor, "_sig_at", None)

    def swap() -> None:
        if not sub.is_symlink():
            swap_for_symlink(sub, elsewhere)

    def check_by_name(p):               # the post-link check of the archived name
        if p.parent.parent == depot.config.paths.archive:
            swap()
        return by_name(p)

    def check_at_folder(dfd, name):     # ... made relative to the archive folder
        if name == path.name:
            swap()
        return at_folder(dfd, name)

    monkeypatch.setattr(processor, "_sig", check_by_name)
    monkeypatch.setattr(processor, "_sig_at", check_at_folder, raising=False)
    depot.process(path)
    assert (elsewhere / path.name).exists(), "a file outside the outbox was moved away"


def test_an_archive_folder_swapped_for_a_symlink_while_running_is_not_written_through(
        depot, elsewhere):  # noqa: F811
    archive = depot.config.paths.archive
    archive.mkdir(parents=True)
    swap_for_symlink(archive, elsewhere)
    out = depot.process(drop(depot, "a1140-day-night.toml"))
    assert list(elsewhere.rglob("*")) == [], "written through the symlinked archive/"
    assert out.status != "rejected", "a broken archive/ is no fault of the file"
    assert (depot.outbox / "a1140-day-night.toml").exists()


@pytest.mark.parametrize("name", ["notes.reason.txt", "x.toml.reason.txt"])
def test_a_reason_named_file_in_the_outbox_is_handed_over_not_ignored(name):
    """Point 19: nothing of hhu-sync's writes *.reason.txt into the outbox; such a file
    is back office's, and is refused with a reason rather than left unexplained."""
    assert is_outbox_name(name)


def test_a_reason_named_file_is_rejected_beside_its_own_reason(depot):  # noqa: F811
    out = depot.process(drop(depot, "notes.reason.txt", content=b"back office's notes\n"))
    assert out.status == "rejected" and ".toml" in out.detail
    assert out.moved_to.read_bytes() == b"back office's notes\n"
    assert out.moved_to.with_name("notes.reason.txt.reason.txt").exists()


def test_a_key_store_that_cannot_be_read_defers_files_rather_than_rejecting_them(
        depot):  # noqa: F811
    """A key store fault (``hhus/`` a symlink, a key file made 0644) is no fault of the
    file: it waits in the outbox, backed off like a full disk, and is taken once fixed."""
    hhus = depot.keystore.root / "hhus"
    swap_for_symlink(hhus, hhus.with_name("hhus.real"))
    path = drop(depot, "as230-flat.toml", sub="quick-send/HHU-001")
    out = depot.process(path)
    assert out.status == "deferred" and path.exists()
    hhus.unlink()
    hhus.with_name("hhus.real").rename(hhus)
    depot.clock_.t += 60
    assert depot.process(path).status == "accepted"


def test_a_file_that_could_not_be_moved_aside_is_tried_again_after_a_capped_back_off(
        depot, monkeypatch):  # noqa: F811
    """Round 2, point 9: a file left because rejected/ refused it (EACCES) was never
    looked at again until the daemon restarted. It is tried again after 30 s, then 60 s, ...
    (capped at an hour), each retry counted and logged, and set aside once room is back."""
    path = drop(depot, "junk.toml", content=b"junk\n")
    real, calls = processor.move_aside, []

    def full(*args, **kwargs):
        calls.append(1)
        if len(calls) <= 2 * 2:          # the reject and the quarantine, twice over
            raise PermissionError(13, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(processor, "move_aside", full)
    assert depot.process(path).status == "failed"
    assert depot.stuck_retry_in(path) == 30.0
    depot.clock_.t += 29
    assert depot.process(path).status == "failed" and len(calls) == 2    # still waiting
    depot.clock_.t += 1
    assert depot.process(path).status == "failed" and len(calls) == 4    # tried again
    assert depot.stuck_retry_in(path) == 60.0                            # doubled
    depot.clock_.t += 60
    out = depot.process(path)
    assert out.status == "rejected" and not path.exists() and out.moved_to.exists()
    for _ in range(20):
        depot._leave(path)
    assert depot.stuck_retry_in(path) == processor.STUCK_MAX_RETRY


def test_a_full_rejected_folder_defers_the_outbox_with_one_log_line_not_one_per_file(
        depot, monkeypatch, caplog):  # noqa: F811
    """ENOSPC while moving aside is storage going away: every file waits in the outbox,
    the processor backs off, and the log says so once (not two lines per file)."""
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(processor, "atomic_write", full)
    paths = [drop(depot, f"junk{n}.toml", content=f"junk {n}\n".encode()) for n in range(5)]
    outcomes = depot.process_batch(paths)
    assert [o.status for o in outcomes] == ["deferred"] * 5
    assert all(p.exists() for p in paths) and depot.retry_in() > 0
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) <= 2
    monkeypatch.undo()
    depot.clock_.t += 60
    assert {o.status for o in depot.process_batch(paths)} == {"rejected"}


def beyond_path_max(root: Path) -> Path:
    """Folders nested until the path is longer than PATH_MAX (made relative, as a shell
    script in a loop of ``mkdir x; cd x`` would), a file at the bottom; the folder whose
    path first passes PATH_MAX is returned."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    path, first = root, None
    try:
        while len(os.fsencode(path)) <= 4200:
            os.mkdir("d" * 200, dir_fd=fd)
            nfd = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, path = nfd, path / ("d" * 200)
            if first is None and len(os.fsencode(path)) > 4096:
                first = path
        wfd = os.open("deep.toml", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(wfd, b"junk\n")
        os.close(wfd)
    finally:
        os.close(fd)
    return first


def test_a_folder_beyond_path_max_is_moved_aside_with_a_reason_not_left_for_good(
        depot):  # noqa: F811
    """Round 2, points 6 and 19: a folder nested past PATH_MAX could not be listed; it
    was logged once and left in the outbox for good. It is handed over and moved aside
    (its whole subtree) with a reason, reached through descriptors, never by its path."""
    from hhu_sync.outbox.watcher import ReadyFiles

    depot.outbox.mkdir(exist_ok=True)
    first = beyond_path_max(depot.outbox)
    ready = ReadyFiles(depot.outbox, debounce=0.0, scan_quiet=0.0, wall=lambda: 1e12)
    ready.scan()
    handed = ready.ready()
    assert handed, "the folder that cannot be listed is handed over"
    outcomes = [depot.process(p) for p in handed]
    assert [o.status for o in outcomes] == ["rejected"]
    moved = outcomes[0].moved_to
    assert moved.parent == depot.config.paths.rejected and moved.name[:40] == first.name[:40]
    assert [p.read_bytes() for p in moved.rglob("deep.toml")] == [b"junk\n"]   # all of it
    assert "PATH_MAX" in moved.with_name(moved.name + ".reason.txt").read_text()


def test_a_hard_link_made_after_the_check_keeps_the_file_out_of_the_archive(
        depot, elsewhere, monkeypatch):  # noqa: F811
    """A second name made on an accepted file after it was checked would let its maker
    rewrite the archived copy at will. A file with a name besides the outbox's and the
    archive's is not archived; read again, it is refused as a hard link (moved aside)."""
    path = drop(depot, "as230-flat.toml")
    theirs = elsewhere / "mine.toml"
    at_folder = processor._sig_at

    def link_then_check(dfd, name):
        if name == path.name and not theirs.exists():
            os.link(path, theirs)
        return at_folder(dfd, name)

    monkeypatch.setattr(processor, "_sig_at", link_then_check)
    depot.process(path)
    archived = [p for p in depot.config.paths.archive.rglob("*.toml")]
    assert all(not os.path.samefile(p, theirs) for p in archived), \
        "the archived copy can be rewritten through another name"
    assert path.exists() or any(os.path.samefile(p, theirs)
                                for p in depot.config.paths.rejected.glob("*.toml"))
