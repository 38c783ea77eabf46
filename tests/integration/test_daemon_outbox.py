"""The daemon's outbox, live: watchdog events, slow writers, duplicates, --once."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from hhu_sync.cli import main
from hhu_sync.config import load_config
from hhu_sync.daemon import Daemon
from hhu_sync.keys import KeyStore
from tests.conftest import EXAMPLES

CONFIG = """
[depot]
id = "DEPOT-T"
[[hhus]]
id = "HHU-001"
crew = "crew-north"
[[hhus]]
id = "HHU-002"
crew = "crew-south"
[limits]
debounce_seconds = 0.1
[schedule]
poll_seconds = 0.2
rescan_seconds = 1
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "hhu-sync.toml"
    path.write_text(CONFIG)
    cfg = load_config(path)
    ks = KeyStore(cfg.paths.keystore)
    ks.enroll("HHU-001")
    for name in ("a1700-level1", "a1700-level3", "a1140-level2", "as230-level1"):
        ks.set_secret(name, "x")
    return cfg


def wait_for(predicate, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def running(config):
    daemon = Daemon(config)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    yield daemon
    daemon.stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()


def archived(config) -> list[str]:
    return sorted(p.name for p in config.paths.archive.rglob("*") if p.is_file())


def test_a_file_written_slowly_in_pieces_is_processed_once_complete(config, running):
    text = (EXAMPLES / "a1700-ci-tou.toml").read_bytes()
    path = config.paths.outbox / "slow.toml"
    with open(path, "wb") as fh:
        for i in range(0, len(text), 200):
            fh.write(text[i:i + 200])
            fh.flush()
            time.sleep(0.05)     # pauses longer than the debounce: only close counts
    assert wait_for(lambda: archived(config) == ["slow.toml"])
    assert not list(config.paths.rejected.iterdir())
    assert running.summary.files["accepted"] == 1


def test_a_file_renamed_into_the_outbox_is_processed(config, running):
    tmp = config.paths.outbox / "x.toml.tmp"
    shutil.copyfile(EXAMPLES / "as230-flat.toml", tmp)
    tmp.rename(config.paths.outbox / "as230-flat.toml")
    assert wait_for(lambda: archived(config) == ["as230-flat.toml"])


@pytest.fixture
def unscanned(tmp_path):
    """A daemon whose periodic rescan is an hour away: only its events bring files in."""
    path = tmp_path / "hhu-sync.toml"
    path.write_text(CONFIG.replace("rescan_seconds = 1", "rescan_seconds = 3600"))
    cfg = load_config(path)
    ks = KeyStore(cfg.paths.keystore)
    ks.enroll("HHU-001")
    for name in ("as230-level1",):
        ks.set_secret(name, "x")
    daemon = Daemon(cfg)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    assert wait_for(daemon.watcher.alive)
    yield cfg
    daemon.stop.set()
    thread.join(timeout=30)


def test_a_file_written_elsewhere_and_renamed_in_is_processed_at_once(unscanned, tmp_path):
    elsewhere = tmp_path / "back-office" / "as230-flat.toml"
    elsewhere.parent.mkdir()
    shutil.copyfile(EXAMPLES / "as230-flat.toml", elsewhere)
    elsewhere.rename(unscanned.paths.outbox / "as230-flat.toml")
    assert wait_for(lambda: archived(unscanned) == ["as230-flat.toml"], timeout=10)


def test_a_file_written_in_place_is_processed_at_once(unscanned):
    shutil.copyfile(EXAMPLES / "as230-flat.toml", unscanned.paths.outbox / "as230-flat.toml")
    assert wait_for(lambda: archived(unscanned) == ["as230-flat.toml"], timeout=10)


def test_a_folder_moved_in_with_a_quick_send_inside_is_processed_at_once(unscanned, tmp_path):
    prepared = tmp_path / "back-office" / "HHU-001"
    prepared.mkdir(parents=True)
    shutil.copyfile(EXAMPLES / "as230-flat.toml", prepared / "as230-flat.toml")
    (unscanned.paths.outbox / "quick-send").mkdir()
    prepared.rename(unscanned.paths.outbox / "quick-send" / "HHU-001")
    assert wait_for(lambda: archived(unscanned) == ["as230-flat.toml"], timeout=10)


def test_the_same_file_dropped_twice_is_queued_once(config, running):
    shutil.copyfile(EXAMPLES / "as230-flat.toml", config.paths.outbox / "a.toml")
    assert wait_for(lambda: archived(config) == ["a.toml"])
    shutil.copyfile(EXAMPLES / "as230-flat.toml", config.paths.outbox / "b.toml")
    assert wait_for(lambda: (config.paths.rejected / "b.toml.reason.txt").exists())
    assert "already received as a.toml" in \
        (config.paths.rejected / "b.toml.reason.txt").read_text()


def test_a_rejected_file_gets_its_reason(config, running):
    (config.paths.outbox / "bad.toml").write_text("[scheme]\nid = 'x'\n")
    assert wait_for(lambda: (config.paths.rejected / "bad.toml.reason.txt").exists())
    assert "bad.toml" in (config.paths.rejected / "bad.toml.reason.txt").read_text()


def test_a_dead_observer_is_restarted_and_files_are_still_found(config, running):
    assert wait_for(running.watcher.alive)
    running.watcher.observer.stop()
    running.watcher.observer.join(5)
    shutil.copyfile(EXAMPLES / "as230-flat.toml", config.paths.outbox / "a.toml")
    assert wait_for(lambda: archived(config) == ["a.toml"])
    assert running.watcher.restarts >= 1


def test_run_once_drains_the_outbox_and_prints_a_summary(config, capsys):
    config.paths.outbox.mkdir(parents=True)
    for name in ("a1700-ci-tou.toml", "a1140-day-night.toml", "as230-flat.toml",
                 "route-north.toml", "route-south.csv"):
        shutil.copyfile(EXAMPLES / name, config.paths.outbox / name)
    code = main(["run", "--once", "--config", str(config.file), "--timeout", "60",
                 "--log-format", "text"])
    out = capsys.readouterr().out
    assert code == 0
    assert "files: 5 accepted" in out
    assert "lists: 2 queued" in out
    assert sorted(p.name for p in Path(config.paths.outbox).iterdir()) == []


# -- issue 12: a hostile outbox writer ---------------------------------------------------

def test_a_fifo_neither_hangs_the_daemon_nor_keeps_sigterm_from_ending_it(config):
    """Point 7: a FIFO is never opened to read; SIGTERM ends the daemon in its grace."""
    import os
    import signal
    import subprocess
    import sys

    config.paths.outbox.mkdir(parents=True, exist_ok=True)
    os.mkfifo(config.paths.outbox / "before.toml")       # found by the first scan
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("hhu-sync")), "run", "--config",
         str(config.file), "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert wait_for(lambda: (config.paths.rejected / "before.toml").is_fifo(), 60)
        os.mkfifo(config.paths.outbox / "after.csv")     # no event: the rescan finds it
        assert wait_for(lambda: (config.paths.rejected / "after.csv").is_fifo(), 60)
        shutil.copyfile(EXAMPLES / "as230-flat.toml", config.paths.outbox / "good.toml")
        assert wait_for(lambda: archived(config) == ["good.toml"], 60)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "Traceback" not in err
    assert "named pipe" in (config.paths.rejected / "before.toml.reason.txt").read_text()


def test_a_hostile_outbox_never_stops_the_daemon_and_loses_nothing(config, running, tmp_path):
    """Points 1, 6, 19: symlinks, a long name, deep nesting, a folder named x.toml, an
    unknown type, undecodable names; each ends in rejected/, the daemon goes on."""
    import os

    secret = tmp_path / "secret.csv"
    secret.write_text("root:very-secret\n")
    out = config.paths.outbox
    (out / "k.csv").symlink_to(secret)
    (out / "dir-link").symlink_to(tmp_path, target_is_directory=True)
    (out / ("x" * 245 + ".toml")).write_text("junk = 1\n")
    (out / "deep.toml").write_text("x = " + "[" * 1000 + "]" * 1000 + "\n")
    (out / "notes.txt").write_text("hello\n")
    (out / "x.toml").mkdir()
    with open(os.fsencode(out) + b"/caf\xe9.toml", "wb") as fh:
        fh.write(b"junk = 2\n")
    hostile = 7
    assert wait_for(lambda: len([p for p in config.paths.rejected.iterdir()
                                 if not p.name.endswith(".reason.txt")]) >= hostile - 1, 30)
    shutil.copyfile(EXAMPLES / "as230-flat.toml", out / "good.toml")
    assert wait_for(lambda: archived(config) == ["good.toml"], 30)
    left = sorted(p.name for p in out.iterdir())
    assert left in ([], ["x.toml"]), left          # a folder may stay: it is a folder
    reasons = "".join(p.read_text() for p in config.paths.rejected.glob("*.reason.txt"))
    assert "very-secret" not in reasons and "nested more than" in reasons
    assert ".toml or .csv" in reasons and secret.read_text() == "root:very-secret\n"
    assert running.summary.turn_errors == 0


def test_a_slow_writer_found_by_a_scan_is_not_taken_while_it_holds_the_file(config):
    """Point 8: no close event yet, quiet for longer than the scan's quiet time, still
    held open for writing: not taken; taken whole after its close."""
    import os

    text = (EXAMPLES / "a1700-ci-tou.toml").read_bytes()
    config.paths.outbox.mkdir(parents=True, exist_ok=True)
    path = config.paths.outbox / "slow.toml"
    fh = open(path, "wb")    # noqa: SIM115 - held open across the daemon's scans
    try:
        fh.write(text[:300])
        fh.flush()
        old = time.time() - 3600
        os.utime(path, (old, old))             # quiet for an hour: only the writer says no
        daemon = Daemon(config)
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        scans = daemon.ready.scan
        count = [0]

        def counted():
            count[0] += 1
            return scans()

        daemon.ready.scan = counted
        assert wait_for(lambda: count[0] >= 3, 30)     # rescanned, the file seen each time
        assert path.exists() and archived(config) == []
        fh.write(text[300:])
    finally:
        fh.close()
    try:
        assert wait_for(lambda: archived(config) == ["slow.toml"], 30)
        assert (config.paths.archive.rglob("slow.toml").__next__().read_bytes() == text)
    finally:
        daemon.stop.set()
        thread.join(timeout=30)


def test_a_fault_outside_any_file_is_survived_and_counted(config, running):
    """Point 6, the last line: a turn that raises (here, a scan) does not end the daemon."""
    real = running.ready.scan
    calls = [0]

    def broken_once():
        calls[0] += 1
        if calls[0] == 1:
            raise OSError("the outbox's disk went away for a moment")
        return real()

    running.ready.scan = broken_once
    running._rescan.set()
    assert wait_for(lambda: running.summary.turn_errors == 1)
    shutil.copyfile(EXAMPLES / "as230-flat.toml", config.paths.outbox / "a.toml")
    assert wait_for(lambda: archived(config) == ["a.toml"])
