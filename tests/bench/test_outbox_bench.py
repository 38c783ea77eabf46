"""The outbox bench still runs and reports what docs/benchmarks.md quotes (not its speed)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

LAST = re.compile(r"^outbox: (\d+) files \(dropped at once\) in [\d.]+ s = \d+ files/s, "
                  r"p50 \d+ ms, p99 \d+ ms$")
CPU = re.compile(r"^cpu per file: daemon \d+ us \+ workers \d+ us = \d+ us; writer \d+ us$")


@pytest.mark.parametrize("extra", [[], ["--floor"]], ids=["workers", "floor"])
def test_the_outbox_bench_queues_every_file_and_prints_its_figures(extra):
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "outbox.py"), "--files", "120",
                          *extra], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    assert LAST.match(lines[-1]) and LAST.match(lines[-1]).group(1) == "120"
    assert any(CPU.match(line) for line in lines), run.stdout
