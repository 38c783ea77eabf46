"""A short chaos campaign in the suite; the long ones are in docs/reliability.md."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from hhu_sync.store import SqliteStore, open_store
from tests.conftest import ROOT
from tests.pg_server import pg_database  # noqa: F401 - a fixture


def load_bench():
    spec = importlib.util.spec_from_file_location("chaos", ROOT / "bench" / "chaos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_short_campaign_reports_zero_violations():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "chaos.py"), "--rounds", "2",
                           "--seed", "7"], capture_output=True, text=True, timeout=240)
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("chaos: 2 rounds,") and last.endswith(" 0 violations"), \
        proc.stdout + proc.stderr
    assert proc.returncode == 0


def test_a_short_campaign_on_postgresql_with_server_restarts_reports_zero_violations():
    # One round (a round is about half a minute): seed 22 draws a server down when a
    # daemon starts and a server restarted during a run (bench/chaos.py --store).
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "chaos.py"), "--store",
                           "postgresql", "--rounds", "1", "--seed", "22"],
                          capture_output=True, text=True, timeout=240)
    lines = proc.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("chaos: 1 rounds,") \
        and lines[-1].endswith(" 0 violations"), proc.stdout + proc.stderr
    faults = dict(line.rsplit(None, 1) for line in lines
                  if line.startswith("server ") and line.split()[-1].isdigit())
    assert int(faults["server down at start"]) >= 1, proc.stdout
    assert int(faults["server restart mid-run"]) >= 1, proc.stdout
    assert proc.returncode == 0


def test_the_campaign_notices_an_upload_cleared_before_it_was_committed(tmp_path):
    chaos = load_bench()
    campaign = chaos.Campaign(tmp_path, seed=1, verbose=False)
    SqliteStore(tmp_path / "var" / "hhu-sync.db").close()
    campaign.flash_dir.mkdir(parents=True)
    campaign.expected["U-lost"] = {("M1", "1.8.1", "t", "1")}
    campaign.check_cleared()
    assert campaign.violations == ["upload U-lost cleared from the HHU but not committed"]


def test_the_campaign_notices_a_vanished_file(tmp_path):
    chaos = load_bench()
    campaign = chaos.Campaign(tmp_path, seed=1, verbose=False)
    campaign.drop("gone.toml", b"x")
    (campaign.outbox / "gone.toml").unlink()
    campaign.check_files()
    assert campaign.violations == ["file gone.toml vanished"]


def test_the_campaign_notices_a_hostile_entry_gone_and_a_quoted_key(tmp_path):
    chaos = load_bench()
    campaign = chaos.Campaign(tmp_path, seed=1, verbose=False)
    SqliteStore(tmp_path / "var" / "hhu-sync.db").close()
    fifo = campaign.outbox / "p.csv"
    import os

    os.mkfifo(fifo)
    campaign._hostile(fifo, "fifo")
    fifo.unlink()
    campaign.stderr.append("rejected k.csv: " + campaign.key_file.read_text())
    campaign.check_hostile()
    assert campaign.violations == [
        "hostile fifo vanished", "the HHU key was quoted in a reason, the log or the database"]


class _Database:
    """Stands in for the bench's private server: the shared one's fresh database."""

    def __init__(self, url: str) -> None:
        self.url = url

    def database(self) -> str:
        return self.url


def test_on_postgresql_the_checks_read_the_server(tmp_path, pg_database):  # noqa: F811
    chaos = load_bench()
    campaign = chaos.Campaign(tmp_path, seed=1, verbose=False, server=_Database(pg_database))
    campaign.flash_dir.mkdir(parents=True)
    campaign.expected["U-lost"] = {("M1", "1.8.1", "t", "1")}
    campaign.check_cleared()           # no tables yet: nothing committed
    assert campaign.violations == ["upload U-lost cleared from the HHU but not committed"]
    open_store(pg_database).close()
    campaign.violations.clear()
    campaign.check_cleared()
    campaign.check_readings()
    assert campaign.violations == ["upload U-lost cleared from the HHU but not committed",
                                   "upload U-lost: 0 readings stored, 1 taken"]


ORPHANED = """Traceback (most recent call last):
  File "<string>", line 1, in <module>
  File "/usr/lib/python3.11/multiprocessing/spawn.py", line 122, in spawn_main
    exitcode = _main(fd, parent_sentinel)
               ^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/multiprocessing/spawn.py", line 130, in _main
    preparation_data = reduction.pickle.load(from_parent)
                       ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
EOFError: Ran out of input
"""
OURS = """Traceback (most recent call last):
  File "/src/hhu_sync/daemon.py", line 10, in run
    raise ValueError("a bug")
ValueError: a bug
"""


def test_only_a_worker_orphaned_at_its_start_by_the_kill_is_not_a_daemon_traceback():
    chaos = load_bench()
    assert "Traceback" not in chaos.daemon_tracebacks("warning: x\n" + ORPHANED, True)
    assert "Traceback" in chaos.daemon_tracebacks(ORPHANED, False)        # not killed
    assert "ValueError: a bug" in chaos.daemon_tracebacks(ORPHANED + OURS, True)
    assert "Traceback" in chaos.daemon_tracebacks(OURS + ORPHANED, True)
