"""Issue 12, point 8: a file found by a scan is taken only when no one is writing it."""

from __future__ import annotations

import os
from pathlib import Path

from hhu_sync.outbox import ReadyFiles
from hhu_sync.outbox.writers import writing


class Clock:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(root: Path, clock, **kwargs) -> ReadyFiles:
    # The wall clock says every file has been quiet for hours: only the writer decides.
    return ReadyFiles(root, debounce=0.5, scan_quiet=2.0, clock=clock,
                      wall=lambda: 1e12, **kwargs)


def test_a_slow_writer_holding_a_file_open_keeps_it_from_a_scan(tmp_path):
    clock = Clock()
    ready = make(tmp_path, clock)
    path = tmp_path / "slow.toml"
    with open(path, "wb") as fh:
        fh.write(b"[scheme]\n")           # ... and pauses, longer than any quiet time
        fh.flush()
        assert ready.scan() == 1
        clock.t += 60
        assert ready.ready() == []
        ready.scan()
        assert ready.ready() == []
    ready.scan()                           # closed: no writer left
    assert ready.ready() == [path]


def test_a_reader_does_not_count_as_a_writer(tmp_path):
    path = tmp_path / "a.toml"
    path.write_bytes(b"x")
    st = os.stat(path)
    with open(path, "rb"):
        busy, sure = writing({(st.st_dev, st.st_ino)})
    assert busy == set() and sure
    with open(path, "r+b"):
        busy, _ = writing({(st.st_dev, st.st_ino)})
    assert busy == {(st.st_dev, st.st_ino)}


def test_without_proc_a_scan_waits_for_the_long_quiet(tmp_path):
    clock = Clock()
    now = [1e9]
    ready = ReadyFiles(tmp_path, 0.5, 2.0, clock=clock, wall=lambda: now[0],
                       long_quiet=120.0, writers=lambda keys: (set(), False))
    path = tmp_path / "a.toml"
    path.write_bytes(b"x")
    os.utime(path, (now[0] - 10, now[0] - 10))     # quiet 10 s: enough with /proc
    assert ready.scan() == 1 and ready.ready() == []
    now[0] += 111
    ready.scan()
    assert ready.ready() == [path]


def test_no_proc_at_all_means_cannot_tell(tmp_path):
    assert writing({(1, 2)}, proc=tmp_path / "no-proc") == (set(), False)


def test_fifos_and_symlinks_found_by_a_scan_are_handed_over_at_once(tmp_path):
    """No writer makes them complete; the processor moves them aside unread."""
    clock = Clock()
    ready = make(tmp_path, clock, writers=lambda keys: (set(), True))
    os.mkfifo(tmp_path / "p.toml")
    (tmp_path / "l.csv").symlink_to("/etc/passwd")
    (tmp_path / "d").symlink_to("/etc", target_is_directory=True)
    ready.scan()
    assert sorted(p.name for p in ready.ready()) == ["d", "l.csv", "p.toml"]
