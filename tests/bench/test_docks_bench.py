"""The docks bench runs and prints the depot's CPU per MB apart from the simulators'.

Issue 13 (point 6): the depot's own figure must be visible. Its values are not asserted.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

COLUMNS = ["run", "HHUs", "line", "rate", "B/s", "bytes", "moved", "wall", "s",
           "depot", "cpu-s/MB", "sims", "cpu-s/MB", "of", "N", "x", "line", "rate"]


def test_the_docks_bench_prints_depot_and_simulator_cpu_per_mb_apart():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "docks.py"), "--hhus", "2",
                           "--sim-procs", "1", "--bundle-kib", "4", "--upload-kib", "4"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split() == COLUMNS, lines
    live = lines[1].split()
    assert live[0] == "live" and live[1] == "2" and live[2] == "11520", lines
    assert len(live) == 8 and all(float(v) >= 0 for v in live[1:]), lines
    assert lines[-1].startswith("docks: 2 HHUs, "), lines
