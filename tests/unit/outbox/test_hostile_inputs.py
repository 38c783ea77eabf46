"""Issue 12: what someone who may write the outbox can make of it, and what holds.

Points 1 (only regular files of the outbox are read), 6 (no file ends the daemon),
8 (what is archived is what was checked), 9 (back-off while storage is away),
14 (idempotency by content and target) and 19 (an unknown type is refused, with reason).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from pathlib import Path

import pytest

from hhu_sync.model.loader import MAX_NESTING
from hhu_sync.outbox import OutboxProcessor
from hhu_sync.outbox.processor import fit_name
from hhu_sync.store.base import StorageUnavailable
from tests.conftest import EXAMPLES
from tests.unit.outbox.test_processor import depot, drop  # noqa: F401 - the fixture

SECRET = b"root:$6$very-secret-hash-of-the-root-password:19000:0:99999:7:::\n"


def reason_of(out) -> str:
    return out.moved_to.with_name(out.moved_to.name + ".reason.txt").read_text()


def everything_said(depot, out, caplog) -> str:  # noqa: F811
    """The reason file, the reason in the database and the log, together."""
    rows = depot.store._db().execute("SELECT reason FROM inputs").fetchall()
    return "\n".join([reason_of(out), out.detail, caplog.text, *(r[0] for r in rows)])


@pytest.fixture
def secret(tmp_path) -> Path:
    path = tmp_path / "elsewhere" / "hhu-key.csv"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


# -- 1: only regular files that live in the outbox are read ----------------------------

def test_a_symlink_to_a_secret_is_moved_aside_unread(depot, secret, caplog):  # noqa: F811
    link = depot.outbox / "k.csv"
    link.symlink_to(secret)
    out = depot.process(link)
    assert out.status == "rejected" and "symbolic link" in out.detail
    assert out.moved_to.is_symlink() and os.readlink(out.moved_to) == str(secret)
    assert not os.path.lexists(link) and secret.read_bytes() == SECRET
    assert "very-secret" not in everything_said(depot, out, caplog)


def test_a_symlink_to_a_folder_is_moved_aside_not_followed(depot, secret):  # noqa: F811
    link = depot.outbox / "sub"
    link.symlink_to(secret.parent, target_is_directory=True)
    out = depot.process(link / "hhu-key.csv")
    assert out.status == "rejected" and "not followed" in out.detail
    assert out.moved_to.is_symlink() and secret.exists()
    assert not os.path.lexists(link)


def test_a_symlinked_quick_send_folder_is_not_followed(depot, secret):  # noqa: F811
    (depot.outbox / "quick-send").mkdir()
    (depot.outbox / "quick-send" / "HHU-001").symlink_to(secret.parent)
    out = depot.process(depot.outbox / "quick-send" / "HHU-001" / "hhu-key.csv")
    assert out.status == "rejected" and out.moved_to.is_symlink()
    assert secret.read_bytes() == SECRET


def test_nothing_is_ever_moved_aside_through_a_symlinked_folder(depot, secret, monkeypatch):  # noqa: F811
    """Even when examining fails unexpectedly, the quarantine does not link the target of
    a symlinked folder into rejected/ (where others could read it)."""
    import hhu_sync.outbox.examine as examine
    from hhu_sync.outbox.examine import Examined

    (depot.outbox / "sub").symlink_to(secret.parent, target_is_directory=True)
    path = depot.outbox / "sub" / "hhu-key.csv"
    monkeypatch.setattr(examine, "examine_file",
                        lambda ctx, p, keys=None: Examined(p, "unreadable", detail="boom"))
    out = depot.process(path)
    assert out.status == "failed" and secret.read_bytes() == SECRET
    ino = secret.stat().st_ino
    assert all(p.lstat().st_ino != ino for p in depot.config.paths.rejected.rglob("*"))
    assert secret.stat().st_nlink == 1


def test_a_rejection_of_an_unread_file_is_recorded_for_people(depot, secret):  # noqa: F811
    (depot.outbox / "k.csv").symlink_to(secret)
    depot.process(depot.outbox / "k.csv")
    (name, status, reason), = depot.store._db().execute(
        "SELECT name, status, reason FROM inputs").fetchall()
    assert (name, status) == ("k.csv", "rejected") and "symbolic link" in reason


def test_a_hard_link_to_a_file_elsewhere_is_moved_aside_unread(depot, secret, caplog):  # noqa: F811
    link = depot.outbox / "k.csv"
    os.link(secret, link)
    out = depot.process(link)
    assert out.status == "rejected" and "hard link" in out.detail
    assert "very-secret" not in everything_said(depot, out, caplog)
    assert secret.read_bytes() == SECRET


def test_a_fifo_is_moved_aside_without_being_opened(depot):  # noqa: F811
    fifo = depot.outbox / "pipe.toml"
    os.mkfifo(fifo)
    out = depot.process(fifo)          # would block for ever if it were opened to read
    assert out.status == "rejected" and "FIFO" in out.detail
    assert out.moved_to.is_fifo()


def test_a_socket_is_moved_aside(depot):  # noqa: F811
    path = depot.outbox / "s.csv"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        out = depot.process(path)
    assert out.status == "rejected" and "socket" in out.detail


def test_a_device_is_moved_aside_unread(depot):  # noqa: F811
    path = depot.outbox / "zero.csv"
    os.mknod(path, 0o600 | 0o020000, os.makedev(1, 5))     # /dev/zero (CI runs as root)
    out = depot.process(path)
    assert out.status == "rejected" and "character device" in out.detail


def test_a_folder_named_like_an_input_is_moved_aside(depot):  # noqa: F811
    folder = depot.outbox / "x.toml"
    folder.mkdir()
    out = depot.process(folder)
    assert out.status == "rejected" and "folder" in out.detail and out.moved_to.is_dir()


def test_a_parse_error_quotes_only_a_short_safe_excerpt(depot, caplog):  # noqa: F811
    value = "A" * 3000 + "\n[forged]\x1b[31m"
    content = f'[scheme]\nid = "x"\nmodel = "{value[:3000]}"\n'.encode()
    out = depot.process(drop(depot, "long.toml", content=content))
    assert out.status == "rejected"
    for text in (reason_of(out), out.detail):
        assert "A" * 81 not in text and "\x1b" not in text
        assert all(len(line) <= 400 for line in text.splitlines())


def test_control_characters_in_a_name_are_escaped_in_the_reason(depot):  # noqa: F811
    out = depot.process(drop(depot, "a\nb\x1b.toml", content=b"junk = 1\n"))
    assert out.status == "rejected"
    assert "\x1b" not in reason_of(out) and "a\\nb\\x1b.toml" in reason_of(out)


def test_an_interrupted_archive_move_is_still_recovered(depot):  # noqa: F811
    """The processor's own both-names state is no 'hard link from elsewhere'."""
    path = drop(depot, "as230-flat.toml")
    out = depot.process(path)
    os.link(out.moved_to, path)
    again = depot.process(path)
    assert again.status == "accepted" and again.detail == "recovered"


def test_an_interrupted_move_aside_is_finished_not_rejected_twice(depot):  # noqa: F811
    """Linked into rejected/ (reason beside it), then the daemon died before the unlink."""
    path = drop(depot, "bad.toml", content=b"junk = 1\n")
    rejected = depot.config.paths.rejected
    rejected.mkdir(parents=True, exist_ok=True)
    (rejected / "bad.toml.reason.txt").write_text("bad.toml: the first time\n")
    os.link(path, rejected / "bad.toml")
    out = depot.process(path)
    assert out.status == "rejected" and out.detail == "recovered"
    assert not path.exists() and out.moved_to == rejected / "bad.toml"
    assert sorted(p.name for p in rejected.iterdir()) == ["bad.toml", "bad.toml.reason.txt"]


# -- 6: no input ends the daemon --------------------------------------------------------

def test_a_name_too_long_for_its_reason_file_is_rejected_under_a_shorter_name(depot):  # noqa: F811
    name = "x" * 245 + ".toml"            # 250 bytes: NAME.reason.txt would be 261
    out = depot.process(drop(depot, name, content=b"junk = 1\n"))
    assert out.status == "rejected" and out.moved_to.read_bytes() == b"junk = 1\n"
    assert len(os.fsencode(out.moved_to.name + ".reason.txt")) <= 255
    assert reason_of(out)
    assert fit_name(name) == out.moved_to.name and fit_name(name) != fit_name("y" + name[1:])


def test_toml_nested_a_thousand_deep_is_rejected_not_a_crash(depot):  # noqa: F811
    content = b"x = " + b"[" * 1000 + b"]" * 1000 + b"\n"
    out = depot.process(drop(depot, "deep.toml", content=content))
    assert out.status == "rejected" and f"nested more than {MAX_NESTING} deep" in out.detail


@pytest.mark.parametrize("content", [
    b"x = " + b"{a=" * 1000 + b"1" + b"}" * 1000,
    b"a" + b".a" * 2000 + b" = 1",
    b"[a" + b".a" * 2000 + b"]",
])
def test_every_kind_of_deep_nesting_is_rejected(depot, content):  # noqa: F811
    out = depot.process(drop(depot, "deep.toml", content=content + b"\n"))
    assert out.status == "rejected" and "nested" in out.detail


def test_a_file_that_vanishes_mid_processing_is_gone_not_a_crash(depot, monkeypatch):  # noqa: F811
    path = drop(depot, "as230-flat.toml")
    import hhu_sync.outbox.examine as examine

    real = examine.load_inputs

    def vanish(*args, **kwargs):
        path.unlink()
        return real(*args, **kwargs)

    monkeypatch.setattr(examine, "load_inputs", vanish)
    out = depot.process(path)
    assert out.status in ("gone", "accepted")
    assert depot.process(path).status == "gone"


def test_an_unexpected_fault_on_one_file_is_kept_to_that_file(depot, monkeypatch):  # noqa: F811
    good = drop(depot, "as230-flat.toml")
    bad = drop(depot, "bad.toml", content=b"junk = 1\n")
    import hhu_sync.outbox.processor as processor

    real = processor.OutboxProcessor._examine

    def explode(self, item, *args):
        if item.path == bad:
            raise RuntimeError("a bug met by one file")
        return real(self, item, *args)

    monkeypatch.setattr(processor.OutboxProcessor, "_examine", explode)
    good_out, bad_out = depot.process_batch([good, bad])
    depot.mover.flush()
    assert good_out.status == "accepted"
    assert bad_out.status == "rejected" and "RuntimeError" in bad_out.detail
    assert bad_out.moved_to.read_bytes() == b"junk = 1\n"


def test_a_file_that_cannot_even_be_moved_aside_is_left_once_not_retried(depot, monkeypatch):  # noqa: F811
    path = drop(depot, "pipe.toml", content=b"junk = 1\n")
    import hhu_sync.outbox.processor as processor

    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(processor, "move_aside", refuse)
    out = depot.process(path)
    assert out.status == "failed" and path.exists()
    tries = len(calls)
    assert depot.process(path).status == "failed" and len(calls) == tries   # remembered
    assert list(depot.stuck) == [path] and depot.failures >= 1


def test_an_unreadable_sub_folder_does_not_stop_a_scan(tmp_path, monkeypatch):
    """Tests run as root: a folder without read (or search) permission is simulated."""
    from hhu_sync.outbox import ReadyFiles

    for sub in ("locked", "unsearchable"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "a.toml").write_text("x")
    (tmp_path / "b.toml").write_text("x")
    real_scandir, real_stat, real_lstat = os.scandir, os.stat, os.lstat

    def denied(path):
        if "locked" in str(path) or "unsearchable" + os.sep in str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

    def scandir(path="."):
        denied(path) if str(path).endswith("locked") else None
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: denied(p) or real_stat(p, *a, **k))
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: denied(p) or real_lstat(p, *a, **k))
    ready = ReadyFiles(tmp_path, 0.5, 2.0, clock=lambda: 100.0, wall=lambda: 1e12)
    ready.writers = lambda keys: (set(), True)
    ready.scan()
    ready.scan()
    assert ready.ready() == [tmp_path / "b.toml"]


def test_undecodable_bytes_in_a_name_are_handled(depot):  # noqa: F811
    raw = os.fsencode(depot.outbox) + b"/caf\xe9\xff.toml"
    with open(raw, "wb") as fh:
        fh.write(b"junk = 1\n")
    path = Path(os.fsdecode(raw))
    out = depot.process(path)
    assert out.status == "rejected" and out.moved_to.read_bytes() == b"junk = 1\n"
    assert "caf\\udce9\\udcff.toml" in reason_of(out)


@pytest.mark.parametrize("content", [b"\x00\x00\x00", b"\xff\xfe[scheme]", b"\xc3(abc"])
def test_nul_bytes_and_invalid_utf8_are_rejected_with_their_offset(depot, content):  # noqa: F811
    out = depot.process(drop(depot, "b.toml", content=content))
    assert out.status == "rejected" and "byte offset" in out.detail


# -- 19: an unknown type is refused, not ignored ----------------------------------------

@pytest.mark.parametrize("name", ["report.xlsx", "notes.txt", "README"])
def test_a_file_of_an_unknown_type_is_rejected_naming_the_accepted_types(depot, name):  # noqa: F811
    out = depot.process(drop(depot, name, content=b"some words\n"))
    assert out.status == "rejected" and ".toml or .csv" in out.detail


# -- 14: idempotency by content and target ----------------------------------------------

def test_an_unchanged_scheme_can_be_quick_sent_to_a_second_hhu(depot):  # noqa: F811
    depot.keystore.enroll("HHU-002")
    first = depot.process(drop(depot, "a1700-ci-tou.toml", sub="quick-send/HHU-001"))
    second = depot.process(drop(depot, "a1700-ci-tou.toml", sub="quick-send/HHU-002"))
    assert first.status == "accepted" and second.status == "accepted", second.detail
    assert [d.ref for d in depot.store.pending_deliveries("HHU-002", None, "9999")] == \
        ["a1700-ci-tou-2026"]
    again = depot.process(drop(depot, "a1700-ci-tou.toml", sub="quick-send/HHU-002"))
    assert again.status == "duplicate"      # the same file to the same HHU: once


# -- 9: back-off while storage is unavailable -------------------------------------------

def test_storage_unavailable_backs_off_with_a_cap_and_logs_state_changes(depot, monkeypatch,  # noqa: F811
                                                                       caplog):
    clock = depot.clock_
    attempts = []
    real_accept = depot.store.accept_inputs
    down = [True]

    def accept(items):
        attempts.append(clock.t)
        if down[0]:
            raise StorageUnavailable("database or disk is full")
        return real_accept(items)

    monkeypatch.setattr(depot.store, "accept_inputs", accept)
    import hhu_sync.outbox.examine as examine

    reads = []
    real_examine = examine.examine_file
    monkeypatch.setattr(examine, "examine_file",
                        lambda *a, **k: reads.append(1) or real_examine(*a, **k))
    path = drop(depot, "as230-flat.toml")
    caplog.set_level(logging.INFO, "hhu_sync.outbox")
    while clock.t < 120:                    # the daemon's 0.2 s turns for two minutes
        (out,) = next(depot.process_many([path]))
        assert out.status == "deferred" and path.exists()
        clock.t += 0.2
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    assert len(attempts) <= 12 and len(reads) == len(attempts)     # not 600 times
    assert gaps == sorted(gaps) and max(gaps) <= 30.0 + 0.2 and max(gaps) >= 29.8
    assert caplog.text.count("storage unavailable") == 1
    down[0] = False
    clock.t += 31
    (out,) = next(depot.process_many([path]))
    assert out.status == "accepted"
    assert caplog.text.count("storage available again") == 1


# -- 8: what is archived is what was checked -------------------------------------------

def test_a_file_changed_after_its_check_is_not_archived_as_checked(depot):  # noqa: F811
    """The checked content is queued; the changed file stays and is read again as new."""
    path = drop(depot, "as230-flat.toml")
    examined = depot.examiner.submit([path])()
    with open(path, "ab") as fh:               # a writer appends after the check
        fh.write(b"# appended\n")
    os.utime(path, (time.time() - 60, time.time() - 60))
    (out,) = depot._guarded([path], examined)
    assert out.status == "accepted" and depot.mover.flush(10)
    assert path.read_bytes().endswith(b"# appended\n")
    assert not out.moved_to.exists()              # nothing unchecked in the archive
    assert depot.moves_to_retry() == [path]       # handed back: read again as new
    again = depot.process(path)
    assert again.status in ("accepted", "rejected") and not path.exists()
    assert again.moved_to.read_bytes().endswith(b"# appended\n")


def test_quick_send_key_differs_by_target_but_not_by_name(depot):  # noqa: F811
    from hhu_sync.outbox.examine import input_key

    sha = "0" * 64
    assert input_key(sha, "HHU-001") != input_key(sha, "HHU-002")
    assert input_key(sha, "HHU-001") == input_key(sha, "HHU-001")


def test_a_restarted_processor_still_refuses_a_repeat_quick_send(depot):  # noqa: F811
    depot.process(drop(depot, "a1700-ci-tou.toml", sub="quick-send/HHU-001"))
    restarted = OutboxProcessor(depot.config, depot.store, depot.catalog, depot.keystore,
                                wall=lambda: time.time() + 60)
    again = restarted.process(drop(depot, "a1700-ci-tou.toml", sub="quick-send/HHU-001"))
    assert again.status == "duplicate"
    assert (EXAMPLES / "a1700-ci-tou.toml").exists()
