"""The ingest and export benches still run, measure what they say, and print their figures.

docs/benchmarks.md quotes their last lines; their speed is not asserted here.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

INGEST = re.compile(r"^ingest: [\d,]+ rows/s, sqlite [\d,]+ rows/s, ratio [\d.]+$")
EXPORT = re.compile(r"^export: (\d+) readings, readings [\d,]+ rows/s, csv [\d,]+ rows/s, "
                    r"cmep [\d,]+ rows/s$")


#: what a docking runs with an upload (issue 13: the bench times the daemon's own path)
DAEMON_PATH = ("daemon path: Session._pull -> UploadDecoder.submit -> check_upload -> "
               "Session._commit_when -> SqliteStore.ingest -> Session._acknowledge -> "
               "Daemon._upload_committed -> UploadDecoder.export -> export_stored -> "
               "PortableStatements.mark_cleared")


def run(script: str, *args: str) -> list[str]:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines()


@pytest.mark.parametrize("extra, path", [([], "of a list held (billable)"),
                                         (["--no-list"], "name no list")],
                         ids=["billable", "no-list"])
def test_the_ingest_bench_stores_every_reading_on_the_path_it_names(extra, path):
    # The bench asserts every upload stored all its readings, and on the billable path
    # that none was left not billable: a run that exits 0 measured that path.
    lines = run("ingest.py", "--readings", "2000", "--per-upload", "1000", "--inline", *extra)
    assert INGEST.match(lines[-1]), lines
    assert DAEMON_PATH in lines, lines
    assert any(line.startswith(f"code: {ROOT / 'hhu_sync'}; visits {path}") for line in lines)
    assert any(line.startswith("cpu per reading: depot ") for line in lines), lines


def test_the_export_bench_exports_every_reading_held():
    lines = run("export.py", "--readings", "2000", "--per-upload", "1000", "--repeat", "1")
    last = EXPORT.match(lines[-1])
    assert last and last.group(1) == "2000", lines
