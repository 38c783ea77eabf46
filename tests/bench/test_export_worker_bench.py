"""bench/export_worker.py runs the export worker's path, and compares two codes' bytes.

Issue 13: its figures are not asserted; that it exports every upload, and says whether
the files are the same, is (here the code against itself: the same)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_the_export_worker_bench_compares_the_exports_of_two_codes():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "export_worker.py"),
                           "--readings", "400", "--per-upload", "200", "--rounds", "1",
                           "--stages", "--against", str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("400 readings in 2 uploads"), lines
    assert "digests: 4 files, all the same" in lines, lines
    assert any(line.startswith("steps, ours / against: read rows ") for line in lines), lines
    assert lines[-1].startswith("export worker: 400 readings, ours "), lines
