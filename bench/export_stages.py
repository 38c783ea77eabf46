"""The export worker's parts, a table of CPU per reading: ``export_stored`` and its steps.

    python bench/export_stages.py [--uploads 20] [--per-upload 3400] [--shape ingest|docks]
                                  [--repeat 5]
                                  [--store postgresql://postgres@127.0.0.1:5432/hhu_stages]

A store (SQLite in a temporary folder, or with ``--store`` a PostgreSQL database the
bench makes and drops) is filled through the real ingest path with ``--uploads``
uploads of ``--per-upload`` readings: ``ingest``, as ``bench/ingest.py`` makes them (visits of 10
registers of a list held); ``docks``, as ``bench/docks.py``'s HHUs send them (visits of 4
registers, hex notes, one read time, a list of 1,200 meters with notes). Then, in this
process, each step is timed with ``time.process_time`` over all the uploads, best of
``--repeat``: ``export_stored`` whole (files and fsyncs included), the readings fetched,
the upload's rows read and enriched, the CSV and CMEP writers (to files), two empty
atomic files (the files' own cost: create, fsync, rename, fsync of the folder), and the
intervals read. On PostgreSQL the export connection's server backend CPU (from
``/proc``) is printed beside each step it runs. Not a comparison: run it on two
checkouts, or use ``bench/export_worker.py --against``, in one sitting.
Last line: ``export stages: N readings, export_stored U us/reading``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import LISTED_AT, meter_list_for, visits_for  # noqa: E402

from hhu_sync.dock.readings import export_stored, ingest_upload_bytes  # noqa: E402
from hhu_sync.export import write_cmep, write_csv  # noqa: E402
from hhu_sync.fsutil import atomic_open  # noqa: E402
from hhu_sync.model.meterlist import MeterEntry, MeterList  # noqa: E402
from hhu_sync.store import opening  # noqa: E402
from hhu_sync.store import sqlite as sqlite_backend  # noqa: E402
from hhu_sync.transfer import encode_transfer  # noqa: E402

KEY = hashlib.sha256(b"stages").digest()
TICK = os.sysconf("SC_CLK_TCK")


def fill(store, uploads: int, shape: str, per_upload: int) -> list[str]:
    """``uploads`` uploads ingested as the daemon ingests them; their ids."""
    taken = []
    for n in range(uploads):
        upload_id, hhu = f"U{n:06d}", f"HHU-{n:03d}"
        if shape == "ingest":
            store.add_meter_list(meter_list_for(n, per_upload, hhu), now=LISTED_AT)
            visits = visits_for(n, per_upload, listed=True)
        else:
            when = datetime.now(UTC).isoformat(timespec="seconds")
            serials = [f"{n:03d}{m:05d}" for m in range(1200)]
            store.add_meter_list(MeterList(
                id=f"bench-{hhu}", name="bench", hhu=hhu, crew=None, due="2026-12-01",
                notes="", meters=tuple(MeterEntry(s, "", "", "read", None, None,
                                                  os.urandom(20).hex()) for s in serials)),
                now=when)
            visits = []
            for m in range(per_upload // 4):
                rnd = os.urandom(24).hex()
                visits.append({
                    "meter": serials[m], "list": f"bench-{hhu}", "time": when,
                    "outcome": "done", "notes": rnd, "error_flags": "00000000",
                    "scheme": None, "verify": None, "operator": "bench",
                    "registers": [[f"1.8.{i}", f"{int(rnd[i * 4:i * 4 + 6], 16)}.{i}", "kWh",
                                   when] for i in range(4)]})
        data = encode_transfer("readings", {"upload_id": upload_id, "hhu_id": hhu,
                                            "visits": visits},
                               source=hhu, target="depot", key=KEY, bundle_id=upload_id)
        ingest_upload_bytes(store, data, hhu_id=hhu, hhu_key=KEY, upload_id=upload_id)
        taken.append(upload_id)
    return taken


@contextmanager
def a_store(url: str | None, uploads: int, shape: str,
            per_upload: int) -> Iterator[tuple[str, list[str]]]:
    if url is None:
        with tempfile.TemporaryDirectory() as tmp:
            from hhu_sync.store import SqliteStore
            path = Path(tmp) / "store.db"
            store = SqliteStore(path)
            taken = fill(store, uploads, shape, per_upload)
            store.close()
            yield str(path), taken
        return
    from pg_database import bench_database

    from hhu_sync.store.postgres import PostgresStore
    with bench_database(url) as made:
        store = PostgresStore(made)
        taken = fill(store, uploads, shape, per_upload)
        store.close()
        yield made, taken


def backend_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--per-upload", type=int, default=3400)
    ap.add_argument("--shape", choices=("ingest", "docks"), default="ingest")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--store", metavar="URL", help="a PostgreSQL database to make and drop")
    args = ap.parse_args()
    with a_store(args.store, args.uploads, args.shape, args.per_upload) as (database, uploads), \
            tempfile.TemporaryDirectory() as out_dir:
        out = Path(out_dir)
        n = len(uploads) * args.per_upload
        pid = None
        if args.store:
            from hhu_sync.store.postgres import PgConnection, _kept_connection
            export_stored(database=database, upload_id=uploads[0], folder=out_dir,
                          sender="BENCH")
            kept = _kept_connection(database)
            pid = kept.info.backend_pid
            db = PgConnection(kept)
        else:
            db = sqlite_backend.read_only_connection(database)
        gc.freeze()
        rows = {u: sqlite_backend.upload_export_rows(db, u) for u in uploads}

        def each(step: Callable[[str], object]) -> Callable[[], None]:
            return lambda: [step(u) for u in uploads] and None

        def empty_files(_u: str) -> None:
            for name in ("a.csv", "a.cmep"):
                with atomic_open(out / name) as fh:
                    fh.write("x\n")

        def reads(step: Callable[..., object]) -> Callable[[str], object]:
            def run(u: str) -> object:
                with opening.upload_reads(database) as r:
                    return step(r, u)
            return run

        steps: dict[str, Callable[[], None]] = {
            "export_stored, all of it": each(lambda u: export_stored(
                database=database, upload_id=u, folder=out_dir, sender="BENCH")),
            "  readings fetched": each(lambda u: db.execute(
                sqlite_backend._UPLOAD_READINGS_SQL, (u,)).fetchall()),
            "  rows read and enriched": each(reads(lambda r, u: r.export_rows(u))),
            "  CSV written": each(lambda u: write_csv(rows[u], out / "x.csv")),
            "  CMEP written": each(lambda u: write_cmep(rows[u], out / "x.cmep",
                                                       sender="BENCH")),
            "  two empty atomic files": each(empty_files),
            "  intervals read": each(reads(lambda r, u: r.interval_series(u))),
        }
        load = os.getloadavg()[0]
        print(f"{n} readings in {len(uploads)} uploads ({args.shape}), "
              f"{'PostgreSQL' if args.store else 'SQLite'}, load {load:.1f}")
        print(f"| step | worker us/reading |{' server us/reading |' if pid else ''}")
        print(f"|---|---:|{'---:|' if pid else ''}")
        whole = 0.0
        gc.disable()
        for name, step in steps.items():
            best, server = float("inf"), float("inf")
            for _ in range(args.repeat):
                s0, t0 = backend_cpu(pid), time.process_time()
                step()
                best = min(best, time.process_time() - t0)
                server = min(server, backend_cpu(pid) - s0)
            whole = whole or best
            print(f"| {name} | {best / n * 1e6:.2f} |"
                  + (f" {server / n * 1e6:.2f} |" if pid else ""))
        gc.enable()
        if not args.store:
            db.close()
    print(f"export stages: {n} readings, export_stored {whole / n * 1e6:.2f} us/reading")
    return 0


if __name__ == "__main__":
    sys.exit(main())
