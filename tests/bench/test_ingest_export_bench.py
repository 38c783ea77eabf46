"""The ingest and export benches still run, measure what they say, and print their figures.

docs/benchmarks.md quotes their last lines; their speed is not asserted here.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import pytest

from tests.conftest import ROOT
from tests.unit.store.conftest import PG_SERVER

INGEST = re.compile(r"^ingest: [\d,]+ rows/s, sqlite [\d,]+ rows/s, ratio [\d.]+$")
PG_INGEST = re.compile(r"^ingest: [\d,]+ rows/s, copy [\d,]+ rows/s, ratio [\d.]+$")
DEPOTS = re.compile(r"^depots: 3 depots [\d,]+ readings/s [\d,]+ intervals/s, p50 \d+ ms, "
                    r"p99 \d+ ms, one depot [\d,]+ readings/s$")
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


def bench_store() -> str:
    """A database name on the test server for a bench to make and drop (its own)."""
    return f"{PG_SERVER}/hhu_bench_{uuid.uuid4().hex[:12]}"


def test_the_ingest_bench_on_postgresql_stores_every_reading_beside_a_raw_copy():
    lines = run("ingest.py", "--readings", "2000", "--per-upload", "1000", "--inline",
                "--repeat", "2", "--store", bench_store())
    assert PG_INGEST.match(lines[-1]), lines
    assert DAEMON_PATH.replace("SqliteStore.ingest", "PostgresStore.ingest") in lines, lines
    assert any(line.startswith("postgresql COPY (raw)") for line in lines), lines
    assert sum(line.startswith("  run ") for line in lines) == 4, lines


def test_the_depots_bench_checks_every_reading_stored_once():
    # it exits 1 when a reading or interval is not stored exactly once
    lines = run("depots.py", "--depots", "3", "--uploads", "2", "--visits", "20",
                "--store", bench_store())
    assert DEPOTS.match(lines[-1]), lines
    assert any(line.startswith("stored once: ") and "NOT" not in line for line in lines)


def test_the_export_bench_exports_every_reading_held():
    lines = run("export.py", "--readings", "2000", "--per-upload", "1000", "--repeat", "1")
    last = EXPORT.match(lines[-1])
    assert last and last.group(1) == "2000", lines
