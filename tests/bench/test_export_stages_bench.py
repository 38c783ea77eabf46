"""bench/export_stages.py times the export worker's steps (issues 13 and 16): its figures
are not asserted; that it fills a store of either shape and prints every step is."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize("shape", ["ingest", "docks"])
def test_the_export_stages_bench_prints_each_step(shape):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "export_stages.py"),
                           "--uploads", "2", "--per-upload", "40", "--shape", shape,
                           "--repeat", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith(f"80 readings in 2 uploads ({shape}), SQLite"), lines
    steps = [line.split("|")[1].strip() for line in lines[3:-1]]
    assert steps == ["export_stored, all of it", "readings fetched",
                     "rows read and enriched", "CSV written", "CMEP written",
                     "two empty atomic files", "intervals read"], lines
    assert lines[-1].startswith("export stages: 80 readings, export_stored "), lines
