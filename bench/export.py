"""Export bench: the readings the store holds, written as CSV and as CMEP.

    python bench/export.py [--readings 100000] [--per-upload 10000] [--no-list] [--repeat 3]

The store is filled through the real ingest path (as ``bench/ingest.py`` does: visits of
a meter list the store holds, or with ``--no-list`` visits that name none), then each
step is timed on its own, as ``hhu-sync export`` runs it: ``Store.readings()`` read to
the end, ``write_csv(store.readings(), path)`` and ``write_cmep(store.readings(), path)``.
The best of ``--repeat`` runs counts (the machine is shared). Last line:
``export: N readings, readings R rows/s, csv C rows/s, cmep M rows/s``.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import LISTED_AT, OBIS, meter_list_for, visits_for  # noqa: E402

import hhu_sync  # noqa: E402
from hhu_sync.dock.readings import ingest_upload_bytes  # noqa: E402
from hhu_sync.export import write_cmep, write_csv  # noqa: E402
from hhu_sync.store import SqliteStore  # noqa: E402
from hhu_sync.transfer import encode_transfer  # noqa: E402

KEY = hashlib.sha256(b"bench").digest()
HHU = "HHU-B"


def fill(store: SqliteStore, readings: int, per_upload: int, *, listed: bool) -> int:
    """Ingest ``readings`` in uploads of ``per_upload``; the number stored."""
    uploads = max(1, readings // per_upload)
    if listed:
        for n in range(uploads):
            store.add_meter_list(meter_list_for(n, per_upload, HHU), now=LISTED_AT)
    sealed = [(f"U{n:06d}", encode_transfer(
        "readings", {"upload_id": f"U{n:06d}", "hhu_id": HHU,
                     "visits": visits_for(n, per_upload, listed=listed)},
        source=HHU, target="depot", key=KEY, bundle_id=f"U{n:06d}"))
        for n in range(uploads)]
    for upload_id, data in sealed:      # check_upload + Store.ingest, as hhu-sync ingest
        ingest_upload_bytes(store, data, hhu_id=HHU, hhu_key=KEY, upload_id=upload_id)
    return int(store.status()["readings"])


def best(repeat: int, step) -> tuple[float, int]:
    """The shortest of ``repeat`` runs of ``step()`` (which returns a count), and its count."""
    times, count = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        count = step()
        times.append(time.perf_counter() - t0)
    return min(times), count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readings", type=int, default=100_000)
    ap.add_argument("--per-upload", type=int, default=10_000)
    ap.add_argument("--no-list", action="store_true",
                    help="visits name no meter list (every row exported as no_list)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per step; the best counts")
    args = ap.parse_args()
    per_upload = args.per_upload // len(OBIS) * len(OBIS)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "ours.db")
        stored = fill(store, args.readings, per_upload, listed=not args.no_list)
        out = Path(tmp) / "out"
        steps = {
            "readings()": lambda: sum(1 for _ in store.readings()),
            "write_csv": lambda: write_csv(store.readings(), out.with_suffix(".csv")),
            "write_cmep": lambda: (write_cmep(store.readings(), out.with_suffix(".cmep"),
                                              sender="BENCH"), stored)[1],
        }
        results = {}
        for name, step in steps.items():
            seconds, count = best(args.repeat, step)
            assert count == stored, (name, count, stored)
            results[name] = seconds
        sizes = {ext: out.with_suffix(ext).stat().st_size for ext in (".csv", ".cmep")}
        store.close()
    print(f"{'step':<14}{'rows':>10}{'seconds':>10}{'rows/s':>12}{'bytes':>12}")
    for name, seconds in results.items():
        size = {"write_csv": sizes[".csv"], "write_cmep": sizes[".cmep"]}.get(name, 0)
        print(f"{name:<14}{stored:>10}{seconds:>10.3f}{stored / seconds:>12,.0f}{size:>12,}")
    print(f"code: {Path(hhu_sync.__file__).parent}; visits "
          f"{'name no list' if args.no_list else 'of a list held'}; best of {args.repeat}; "
          f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}")
    r, c, m = (stored / results[k] for k in ("readings()", "write_csv", "write_cmep"))
    print(f"export: {stored} readings, readings {r:,.0f} rows/s, csv {c:,.0f} rows/s, "
          f"cmep {m:,.0f} rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
