"""status, export, requeue, cancel and a clean stop on SIGTERM, against a real run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hhu_sync.cli import main
from tests.conftest import EXAMPLES
from tests.integration.test_daemon_docks import SCHEMES, Depot, dock


@pytest.fixture
def served(tmp_path, capsys):
    """A depot whose list was delivered, worked in the field, and read back."""
    depot = Depot(tmp_path, dock("cradle-1", "HHU-001"))
    depot.drop(*SCHEMES, "route-north.toml")
    assert depot.run(capsys) == 0
    trip = depot.field_trip("HHU-001")
    assert depot.run(capsys) == 0
    return depot, trip


def cli(capsys, depot, *args) -> tuple[int, str, str]:
    code = main([*args, "--config", str(depot.config)])
    out, err = capsys.readouterr()
    return code, out, err


def test_status_json_shows_hhus_lists_and_sessions(served, capsys):
    depot, _ = served
    code, out, _ = cli(capsys, depot, "status", "--json")
    status = json.loads(out)
    assert code == 0
    assert status["hhus"][0]["hhu_id"] == "HHU-001"
    assert status["lists_by_state"] == {"complete": 1}
    assert {s["outcome"] for s in status["sessions"]} == {"done"}
    assert status["docks"][0]["name"] == "cradle-1"


def test_status_as_tables_for_a_person(served, capsys):
    depot, _ = served
    code, out, _ = cli(capsys, depot, "status")
    assert code == 0 and "route-north-2026-11" in out and "handhelds" in out


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "cmep"])
def test_export_on_demand_writes_every_reading(served, capsys, tmp_path, fmt):
    depot, trip = served
    out_file = tmp_path / f"out.{fmt}"
    code, out, _ = cli(capsys, depot, "export", "--format", fmt, "-o", str(out_file))
    assert code == 0
    text = out_file.read_text()
    if fmt == "csv":
        assert len(list(csv.reader(text.splitlines()))) == trip.readings + 1
    elif fmt == "jsonl":
        assert len(text.splitlines()) == trip.readings
    else:
        assert all(line.startswith("MEPMD01,") for line in text.splitlines())


def test_export_since_the_future_is_empty(served, capsys, tmp_path):
    depot, _ = served
    code, out, _ = cli(capsys, depot, "export", "--since", "2999-01-01T00:00", "-o",
                       str(tmp_path / "x.csv"))
    assert code == 0 and "exported 0 readings" in out


def test_export_with_a_bad_time_names_it(served, capsys):
    depot, _ = served
    code, _, err = cli(capsys, depot, "export", "--since", "yesterday")
    assert code == 1 and "'yesterday' is not an ISO 8601 time" in err


def test_requeue_then_cancel_a_list(served, capsys):
    depot, _ = served
    code, out, _ = cli(capsys, depot, "requeue", "route-north-2026-11")
    assert code == 0 and out.strip() == "meter list route-north-2026-11: queued"
    code, out, _ = cli(capsys, depot, "cancel", "route-north-2026-11")
    assert code == 0 and out.strip() == "meter list route-north-2026-11: cancelled"


def test_requeue_of_an_unknown_list_is_refused(served, capsys):
    depot, _ = served
    code, _, err = cli(capsys, depot, "requeue", "nope")
    assert code == 1 and "no meter list 'nope'" in err


def test_sigterm_stops_the_daemon_cleanly(tmp_path):
    depot = Depot(tmp_path, dock("cradle-1", "HHU-001"))
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("hhu-sync")), "run", "--config",
         str(depot.config), "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    deadline = time.monotonic() + 90
    db = tmp_path / "var" / "hhu-sync.db"
    while not db.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    depot.drop(*SCHEMES, "route-north.toml")
    while depot.count("SELECT COUNT(*) FROM deliveries WHERE state='delivered'") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "Traceback" not in err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("accepted route-north.toml" in rec["msg"] for rec in lines)
    assert "bundles pushed: 1" in out


def _children(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (from /proc; zombies do not count)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_daemon_killed_outright_leaves_no_worker_processes_behind(tmp_path):
    depot = Depot(tmp_path, "")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("hhu-sync")), "run", "--config",
         str(depot.config), "--log-format", "json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    started = threading.Event()

    def watch_log() -> None:                      # a long-running daemon starts them at once
        for line in proc.stderr:
            if "worker processes examine files" in line:
                started.set()

    threading.Thread(target=watch_log, daemon=True).start()
    try:
        assert started.wait(90), "the outbox workers never started"
        workers = _children(proc.pid)
        assert len(workers) >= 2
    finally:
        proc.kill()
        proc.wait(10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def test_a_daemon_killed_while_its_workers_clear_a_backlog_loses_and_doubles_nothing(tmp_path):
    depot = Depot(tmp_path, "")
    quick = depot.outbox / "quick-send" / "HHU-001"
    quick.mkdir(parents=True)
    staging = tmp_path / "staging"
    staging.mkdir()
    template = (EXAMPLES / "a1700-ci-tou.toml").read_text()
    count = 1500
    for n in range(count):
        (staging / f"q{n:04d}.toml").write_text(
            template.replace('id = "a1700-ci-tou-2026"', f'id = "q{n:04d}"', 1))
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("hhu-sync")), "run", "--config",
         str(depot.config), "--log-format", "json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    started = threading.Event()

    def watch_log() -> None:
        for line in proc.stderr:
            if "worker processes examine files" in line:
                started.set()

    threading.Thread(target=watch_log, daemon=True).start()
    deadline = time.monotonic() + 120
    try:
        assert started.wait(90), "the outbox workers never started"
        for path in sorted(staging.iterdir()):      # back office drops the lot at once
            os.replace(path, quick / path.name)
        while time.monotonic() < deadline:          # kill it partway through the backlog
            if depot.count("SELECT COUNT(*) FROM deliveries") >= 200:
                break
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait(10)
    taken = depot.count("SELECT COUNT(*) FROM deliveries")
    assert 200 <= taken < count                      # killed with work left
    assert depot.run(timeout=120) == 0               # the next start finishes it
    assert depot.count("SELECT COUNT(*) FROM deliveries") == count
    assert depot.count("SELECT COUNT(DISTINCT ref) FROM deliveries") == count
    assert depot.count("SELECT COUNT(*) FROM deliveries WHERE bundle IS NULL") == 0
    assert not list(quick.iterdir())
    archived = sorted(p.name for p in (tmp_path / "var" / "archive").rglob("*.toml"))
    assert archived == sorted(f"q{n:04d}.toml" for n in range(count))
    rejected = tmp_path / "var" / "rejected"
    assert not rejected.exists() or not list(rejected.iterdir())
