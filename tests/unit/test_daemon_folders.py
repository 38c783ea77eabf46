"""The daemon's own folders (archive/, rejected/, exports/) are 0750 and never symlinks.

A symlink in place of one of them would let whoever planted it choose where the daemon
writes reasons, archived inputs and billing exports.
"""

from __future__ import annotations

import os
import stat

import pytest

from hhu_firmware_sim.flash import write_atomic
from hhu_sync.config import load_config
from hhu_sync.daemon import Daemon
from hhu_sync.export import export_upload
from hhu_sync.fsutil import UnsafePathError
from hhu_sync.outbox.processor import move_aside


@pytest.fixture
def no_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_daemon_makes_its_folders_0750_whatever_the_umask(tmp_path, no_umask):
    path = tmp_path / "hhu-sync.toml"
    path.write_text("[depot]\nid = 'DEPOT-T'\n")
    config = load_config(path)
    daemon = Daemon(config, once=True)
    try:
        p = config.paths
        assert [mode(f) for f in (p.archive, p.rejected, p.exports)] == [0o750] * 3
    finally:
        daemon.processor.close()
        daemon.store.close()


def test_a_reason_is_never_written_through_a_symlinked_rejected_folder(tmp_path):
    outbox, elsewhere = tmp_path / "outbox", tmp_path / "elsewhere"
    outbox.mkdir()
    elsewhere.mkdir()
    (tmp_path / "rejected").symlink_to(elsewhere, target_is_directory=True)
    bad = outbox / "k.csv"
    bad.write_bytes(b"junk")
    with pytest.raises(UnsafePathError):
        move_aside(bad, tmp_path / "rejected", "not a meter list")
    assert list(elsewhere.iterdir()) == []
    assert bad.read_bytes() == b"junk"            # nothing lost: still in the outbox


def test_rejected_and_upload_export_folders_are_made_0750(tmp_path, no_umask):
    (tmp_path / "outbox").mkdir()
    bad = tmp_path / "outbox" / "k.csv"
    bad.write_bytes(b"junk")
    dest = move_aside(bad, tmp_path / "rejected", "not a meter list")
    assert mode(tmp_path / "rejected") == 0o750
    assert mode(dest.with_name(dest.name + ".reason.txt")) == 0o640
    export_upload([], tmp_path / "exports", "U-1", sender="depot")
    assert mode(tmp_path / "exports") == 0o750


def test_the_simulated_flash_never_writes_through_a_planted_temp_name(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / ".tmp-flash.json").symlink_to(victim)
    write_atomic(tmp_path / "flash.json", b"{}")
    assert victim.read_bytes() == b"precious"
    assert (tmp_path / "flash.json").read_bytes() == b"{}"


@pytest.mark.parametrize("folder", ["rejected", "archive", "exports"])
def test_a_daemon_folder_replaced_by_a_symlink_does_not_keep_the_daemon_from_starting(
        tmp_path, folder, caplog):
    """Issue 12 point 6, round 2: a symlink in place of rejected/ ended every start with
    'cannot start' (a crash loop under a supervisor). The daemon starts, says which folder
    it cannot use, never writes through it, and leaves the files waiting in the outbox."""
    path = tmp_path / "hhu-sync.toml"
    path.write_text("[depot]\nid = 'DEPOT-T'\n[limits]\ndebounce_seconds = 0.05\n")
    config = load_config(path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    getattr(config.paths, folder).parent.mkdir(parents=True, exist_ok=True)
    getattr(config.paths, folder).symlink_to(elsewhere, target_is_directory=True)
    config.paths.outbox.mkdir(parents=True)
    bad = config.paths.outbox / "bad.toml"
    bad.write_bytes(b"junk\n")
    os.utime(bad, (1, 1))                    # quiet for long: a scan takes it
    daemon = Daemon(config, once=True)
    summary = daemon.run(timeout=30)
    assert list(elsewhere.iterdir()) == []
    assert folder in caplog.text and "symlink" in caplog.text
    if folder == "rejected":
        assert bad.read_bytes() == b"junk\n"           # nothing lost: still in the outbox
    else:
        assert (config.paths.rejected / "bad.toml").read_bytes() == b"junk\n"
    assert summary is not None


def test_a_lock_file_that_cannot_be_made_is_logged_and_the_daemon_starts(tmp_path, caplog):
    """Only another daemon stops a start: a folder planted at the lock's name is moved
    aside (kept, logged) and the lock taken, never a crash loop, nor a daemon unlocked."""
    path = tmp_path / "hhu-sync.toml"
    path.write_text("[depot]\nid = 'DEPOT-T'\n")
    config = load_config(path)
    lock = config.paths.database.with_name(config.paths.database.name + ".daemon.lock")
    lock.mkdir(parents=True)
    daemon = Daemon(config, once=True)
    try:
        assert lock.is_file() and "moved aside" in caplog.text
        assert [p for p in lock.parent.iterdir() if p.name.endswith(".foreign")]
    finally:
        daemon.shutdown()


def test_a_second_daemon_object_on_one_database_is_refused(tmp_path):
    from hhu_sync.daemon_lock import DaemonRunning

    path = tmp_path / "hhu-sync.toml"
    path.write_text("[depot]\nid = 'DEPOT-T'\n")
    config = load_config(path)
    first = Daemon(config, once=True)
    try:
        with pytest.raises(DaemonRunning, match=f"pid {os.getpid()}"):
            Daemon(config, once=True)
    finally:
        first.shutdown()
    Daemon(config, once=True).shutdown()          # released at shutdown: starts again
