"""ReadyFiles: a file is handed over only when complete and quiet."""

from __future__ import annotations

import os

from hhu_sync.outbox import ReadyFiles


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(tmp_path, clock, wall=None):
    return ReadyFiles(tmp_path, debounce=0.5, scan_quiet=2.0, clock=clock,
                      wall=wall or (lambda: 1e12))


def test_a_closed_file_is_ready_after_the_debounce(tmp_path):
    clock = Clock()
    ready = make(tmp_path, clock)
    ready.note("closed", str(tmp_path / "a.toml"))
    assert ready.ready() == []
    clock.t += 0.6
    assert ready.ready() == [tmp_path / "a.toml"]
    assert ready.ready() == []


def test_a_file_still_being_written_is_not_ready(tmp_path):
    clock = Clock()
    ready = make(tmp_path, clock)
    ready.note("created", str(tmp_path / "a.toml"))
    ready.note("modified", str(tmp_path / "a.toml"))
    clock.t += 60
    assert ready.ready() == []


def test_a_write_after_close_restarts_the_wait(tmp_path):
    clock = Clock()
    ready = make(tmp_path, clock)
    ready.note("closed", str(tmp_path / "a.toml"))
    clock.t += 0.4
    ready.note("modified", str(tmp_path / "a.toml"))
    clock.t += 10
    assert ready.ready() == []
    ready.note("closed", str(tmp_path / "a.toml"))
    clock.t += 0.6
    assert ready.ready() == [tmp_path / "a.toml"]


def test_a_file_renamed_in_is_complete(tmp_path):
    clock = Clock()
    ready = make(tmp_path, clock)
    ready.note("moved", str(tmp_path / "a.csv"))
    clock.t += 0.6
    assert ready.ready() == [tmp_path / "a.csv"]


def test_temporary_hidden_and_foreign_files_are_ignored(tmp_path):
    clock = Clock()
    ready = make(tmp_path, clock)
    # (a *.reason.txt is no longer ignored: hhu-sync never writes one in the outbox, so
    # one there is refused with a reason; see test_folder_swaps.py)
    for name in ("a.toml.tmp", "a.csv.part", "a.toml~", ".a.toml", "sub/.hidden/a.toml"):
        ready.note("closed", str(tmp_path / name))
    ready.note("closed", "/elsewhere/a.toml")
    clock.t += 1
    assert ready.ready() == [] and ready.pending == 0


def test_a_file_of_an_unknown_type_is_handed_over_to_be_refused_not_ignored(tmp_path):
    """Issue 12, point 19: report.xlsx, notes.txt, a name without suffix are not left
    lying in the outbox unexplained; the processor rejects them with a reason."""
    clock = Clock()
    ready = make(tmp_path, clock)
    for name in ("report.xlsx", "notes.txt", "README"):
        ready.note("closed", str(tmp_path / name))
    clock.t += 1
    assert sorted(p.name for p in ready.ready()) == ["README", "notes.txt", "report.xlsx"]


def test_a_scan_finds_old_files_but_not_fresh_ones(tmp_path):
    clock = Clock()
    (tmp_path / "old.toml").write_text("x")
    (tmp_path / "new.toml").write_text("x")
    os.utime(tmp_path / "old.toml", (0, 0))
    now = (tmp_path / "new.toml").stat().st_mtime
    ready = make(tmp_path, clock, wall=lambda: now + 1)
    ready.scan()
    assert ready.ready() == [tmp_path / "old.toml"]


def test_a_handled_file_is_not_picked_up_again_by_a_scan(tmp_path):
    clock = Clock()
    (tmp_path / "a.toml").write_text("x")
    os.utime(tmp_path / "a.toml", (0, 0))
    ready = make(tmp_path, clock)
    ready.scan()
    (path,) = ready.ready()
    ready.done(path)
    ready.scan()
    assert ready.ready() == []


def test_a_file_counts_as_quiet_from_when_its_event_was_seen_not_noted(tmp_path):
    # The daemon notes events after a batch: a file closed during it has waited already.
    clock = Clock()
    ready = make(tmp_path, clock)
    seen_at = clock.t
    clock.t += 0.6                    # a batch was being processed meanwhile
    ready.note("closed", str(tmp_path / "a.toml"), at=seen_at)
    assert ready.ready() == [tmp_path / "a.toml"]


def test_due_in_says_how_long_until_the_next_file_is_ready(tmp_path):
    clock = Clock()
    ready = make(tmp_path, clock)
    assert ready.due_in() is None
    ready.note("created", str(tmp_path / "b.toml"))      # incomplete: never due
    assert ready.due_in() is None
    ready.note("closed", str(tmp_path / "a.toml"))
    clock.t += 0.2
    assert abs(ready.due_in() - 0.3) < 1e-9
    clock.t += 1
    assert ready.due_in() == 0.0


def test_files_handled_and_gone_are_forgotten_at_the_next_scan(tmp_path):
    clock = Clock()
    ready = make(tmp_path, clock)
    kept, gone = tmp_path / "kept.toml", tmp_path / "gone.toml"
    kept.write_text("x")
    ready.done(kept)
    ready.done(gone)                   # processed and moved to archive/
    ready.scan()
    assert ready.handled == {kept}     # still in the outbox: still not taken again
    assert ready.pending == 0


def test_a_folder_that_appears_asks_for_a_scan_at_once(tmp_path):
    clock = Clock()
    ready = make(tmp_path, clock)
    assert not ready.scan_due()
    ready.note("dir", str(tmp_path / "quick-send" / "HHU-003"))
    assert ready.scan_due()
    ready.scan()
    assert not ready.scan_due()


def test_files_a_scan_finds_too_fresh_are_looked_at_again_once_quiet(tmp_path):
    clock = Clock()
    now = 5000.0
    ready = make(tmp_path, clock, wall=lambda: now)
    path = tmp_path / "new.toml"
    path.write_text("x")
    os.utime(path, (now - 0.5, now - 0.5))           # written half a second ago
    assert ready.scan() == 1 and ready.ready() == []
    assert not ready.scan_due()
    clock.t += 2.0                                    # scan_quiet later
    assert ready.scan_due()
    now += 2.0
    assert ready.scan() == 0
    clock.t += 0.5
    assert ready.ready() == [path]


def test_a_file_requeued_while_storage_backs_off_waits_that_long(tmp_path):
    """Issue 12, point 9: a deferred file is handed over again after the back-off."""
    clock = Clock()
    ready = make(tmp_path, clock)
    ready.requeue(tmp_path / "a.toml", after=8.0)
    clock.t += 7.9
    assert ready.ready() == [] and 0 < ready.due_in() <= 0.1 + 1e-9
    clock.t += 0.1
    assert ready.ready() == [tmp_path / "a.toml"]
