"""The daemon lock file's content is hostile: whoever can write the database's folder can
put a file of their own at its name and hold a lock on it. What it says is read bounded
and shown only when plausible; the daemon and `status` never crash on it."""

from __future__ import annotations

import fcntl
import os

import pytest

from hhu_sync.daemon_lock import DaemonLock, DaemonRunning, daemon_info, lock_path


@pytest.fixture
def planted(tmp_path):
    """Write ``content`` at the lock's name and hold an exclusive lock on it, as a daemon
    would (flock locks belong to the open file, so one process can play both sides)."""
    fds: list[int] = []
    db = tmp_path / "db.sqlite"

    def plant(content: bytes):
        path = lock_path(db)
        path.write_bytes(content)
        fd = os.open(path, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        fds.append(fd)
        return db
    yield plant
    for fd in fds:
        os.close(fd)


HOSTILE = [
    b"[" * 4000,                                          # RecursionError in json
    b'{"pid": ' + b"9" * 4000 + b', "since": "x"}',     # a pid of 4,000 digits
    b'{"pid": -1, "since": "2026-01-01T00:00:00\\n2026 forged line"}',
    b'{"pid": true, "since": "\\u001b[2J2026-01-01"}',
    b'{"pid": 0, "since": 5}',
    b"\xff" * 10_000,
]


@pytest.mark.parametrize("content", HOSTILE)
def test_status_and_a_second_daemon_read_a_hostile_lock_without_crashing(planted, content):
    db = planted(content)
    info = daemon_info(db)
    assert info.running is True and info.pid is None and info.since is None
    with pytest.raises(DaemonRunning) as refused:
        DaemonLock(db).acquire()
    message = str(refused.value)
    assert "pid unknown" in message and message.isprintable() and len(message) < 400


def test_a_plausible_holder_is_still_named(planted):
    db = planted(b'{"pid": 4242, "since": "2026-12-01T22:00:00+00:00"}\n')
    info = daemon_info(db)
    assert (info.pid, info.since) == (4242, "2026-12-01T22:00:00+00:00")


@pytest.mark.parametrize("planted_kind", ["symlink", "folder"])
def test_a_symlink_or_folder_at_the_lock_name_is_moved_aside_and_the_lock_held(
        tmp_path, planted_kind):
    """Left there, it made the daemon run without the lock and `status` say none runs."""
    db = tmp_path / "db.sqlite"
    path = lock_path(db)
    target = tmp_path / "victim"
    target.write_text("keep\n")
    if planted_kind == "symlink":
        os.symlink(target, path)
    else:
        path.mkdir()
    lock = DaemonLock(db)
    lock.acquire()
    try:
        assert target.read_text() == "keep\n"                 # never written through
        assert daemon_info(db).pid == os.getpid()
        with pytest.raises(DaemonRunning):
            DaemonLock(db).acquire()
        kept = [p for p in tmp_path.iterdir() if p.name.endswith(".foreign")]
        assert len(kept) == 1                                   # moved aside, not deleted
    finally:
        lock.release()


def test_a_name_replanted_at_every_attempt_is_an_oserror_the_daemon_logs(tmp_path,
                                                                         monkeypatch):
    """The daemon goes on without the lock on an OSError; anything else would stop it."""
    db = tmp_path / "db.sqlite"
    path = lock_path(db)
    os.symlink(tmp_path / "x", path)
    monkeypatch.setattr(DaemonLock, "_move_aside", lambda self: None)
    with pytest.raises(OSError):
        DaemonLock(db).acquire()
