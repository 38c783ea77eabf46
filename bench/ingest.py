"""Ingest bench: readings uploads through the real ingest path vs SQLite's raw executemany.

    python bench/ingest.py [--readings 1000000] [--per-upload 10000] [--inline] [--no-list]

Each upload's visits are those of a meter list the store holds (one list per upload,
every meter on it): the billable path, readings stored ``ok``. ``--no-list`` sends
visits that name no list, as this bench did before issue 12 (they are now stored as
``no_list`` with an exception per visit). Our path, as the daemon runs it: each
upload's seal verified and every field checked in worker processes (``UploadDecoder``)
while the previous upload is committed, one transaction per upload (idempotency,
duplicate checks, list states); ``--inline`` checks in this process instead. The CPU
time of this process and of the workers during our path is printed too: on a shared
machine it compares from run to run where the wall time does not.
The raw path: executemany of the same rows into the same readings table, one transaction.
Last line: ``ingest: R rows/s, sqlite R0 rows/s, ratio X``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hhu_sync  # noqa: E402
from hhu_sync.dock.readings import UploadDecoder, ingest_uploads  # noqa: E402
from hhu_sync.model.meterlist import MeterEntry, MeterList  # noqa: E402
from hhu_sync.store import SqliteStore  # noqa: E402
from hhu_sync.transfer import encode_transfer  # noqa: E402

KEY = hashlib.sha256(b"bench").digest()
OBIS = ("1.8.0", "1.8.1", "1.8.2", "1.8.3", "2.8.0", "3.8.0", "4.8.0", "1.6.0", "0.1.0", "F.F")


LISTED_AT = "2026-10-01T00:00:00+00:00"   # before every visit: none is read before its list


def list_id_for(upload_no: int) -> str:
    return f"L{upload_no:05d}"


def meters_for(upload_no: int, readings: int) -> list[str]:
    return [f"{upload_no:05d}{v:05d}" for v in range(readings // len(OBIS))]


def meter_list_for(upload_no: int, readings: int, hhu: str) -> MeterList:
    """The list an upload's visits name: every meter the upload reads is on it."""
    return MeterList(id=list_id_for(upload_no), name=list_id_for(upload_no), hhu=hhu,
                     crew=None, due="2026-12-01", notes="",
                     meters=tuple(MeterEntry(m, "", "", "read", None, None, "")
                                  for m in meters_for(upload_no, readings)))


def visits_for(upload_no: int, readings: int, *, listed: bool = False) -> list[dict]:
    visits = []
    list_id = list_id_for(upload_no) if listed else ""
    per_visit = len(OBIS)
    for v in range(readings // per_visit):
        meter = f"{upload_no:05d}{v:05d}"
        t = f"2026-11-{1 + v % 28:02d}T{v % 24:02d}:{v % 60:02d}:00+00:00"
        visits.append({
            "meter": meter, "list": list_id, "time": t, "outcome": "done",
            "registers": [[o, f"{(v * 7 + i) % 999999:06d}.{i}", "kWh", t]
                          for i, o in enumerate(OBIS)],
            "error_flags": "00000000", "scheme": None, "verify": None, "operator": "bench",
            "notes": ""})
    return visits


def peak_mb() -> float:
    """Peak resident memory of this process and, separately, of the largest worker."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_child_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--per-upload", type=int, default=10_000)
    ap.add_argument("--inline", action="store_true",
                    help="check uploads in this process (no worker processes)")
    ap.add_argument("--no-list", action="store_true",
                    help="visits name no meter list (the not-on-list path; not billable)")
    args = ap.parse_args()
    uploads = max(1, args.readings // args.per_upload)
    total = uploads * (args.per_upload // len(OBIS)) * len(OBIS)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "ours.db")
        listed = not args.no_list
        if listed:                      # issued before the crews go out: not timed
            for n in range(uploads):
                store.add_meter_list(meter_list_for(n, args.per_upload, "HHU-B"),
                                     now=LISTED_AT)
        sealed = [(f"U{n:06d}", encode_transfer(
            "readings", {"upload_id": f"U{n:06d}", "hhu_id": "HHU-B",
                         "visits": visits_for(n, args.per_upload, listed=listed)},
            source="HHU-B", target="depot", key=KEY, bundle_id=f"U{n:06d}"))
            for n in range(uploads)]
        decoder = UploadDecoder(inline=args.inline)
        decoder.submit(sealed[0][1], hhu_id="HHU-B", hhu_key=KEY,
                       upload_id=sealed[0][0]).result()     # start the workers first
        per_upload = args.per_upload // len(OBIS) * len(OBIS)
        t0 = time.perf_counter()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        for _upload_id, report, _ in ingest_uploads(store, decoder, sealed, hhu_id="HHU-B",
                                                    hhu_key=KEY):
            assert report.readings_stored == per_upload, report
            if listed:
                assert report.not_on_list == 0 and not getattr(
                    report, "readings_not_billable", 0), report
        ours = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        decoder.close()                 # the workers' CPU is counted once they have ended
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        own_cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
        workers_cpu = kids1.ru_utime - kids0.ru_utime + kids1.ru_stime - kids0.ru_stime
        del sealed
        stored = store.status()["readings"]
        store.close()
        assert stored == total, (stored, total)

        raw_db = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        raw_db.execute("PRAGMA journal_mode=WAL")
        raw_db.execute("PRAGMA synchronous=NORMAL")
        raw_db.execute("CREATE TABLE readings (meter TEXT NOT NULL, obis TEXT NOT NULL, "
                       "time TEXT NOT NULL, value TEXT NOT NULL, unit TEXT NOT NULL, status TEXT "
                       "NOT NULL, hhu TEXT NOT NULL, upload TEXT NOT NULL, "
                       "PRIMARY KEY (meter, obis, time)) WITHOUT ROWID")
        raw = 0.0
        raw_db.execute("BEGIN")
        for n in range(uploads):
            rows = [(v["meter"], r[0], r[3], r[1], r[2], "ok", "HHU-B", f"U{n:06d}")
                    for v in visits_for(n, args.per_upload) for r in v["registers"]]
            t0 = time.perf_counter()
            raw_db.executemany("INSERT INTO readings VALUES (?,?,?,?,?,?,?,?)", rows)
            raw += time.perf_counter() - t0
        t0 = time.perf_counter()
        raw_db.execute("COMMIT")
        raw += time.perf_counter() - t0
        raw_db.close()
    r_ours, r_raw = total / ours, total / raw
    print(f"{'path':<28}{'rows':>10}{'seconds':>10}{'rows/s':>12}")
    print(f"{'hhu-sync ingest':<28}{total:>10}{ours:>10.2f}{r_ours:>12,.0f}")
    print(f"{'sqlite executemany (raw)':<28}{total:>10}{raw:>10.2f}{r_raw:>12,.0f}")
    print(f"cpu per reading: depot {own_cpu / total * 1e6:.2f} us + workers "
          f"{workers_cpu / total * 1e6:.2f} us")
    print(f"code: {Path(hhu_sync.__file__).parent}; visits "
          f"{'name no list' if args.no_list else 'of a list held (billable)'}")
    print(f"uploads: {uploads} of {args.per_upload} readings; peak RSS {peak_mb():.0f} MB "
          f"(largest worker {peak_child_mb():.0f} MB); "
          f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, pid {os.getpid()}")
    print(f"ingest: {r_ours:,.0f} rows/s, sqlite {r_raw:,.0f} rows/s, ratio {r_ours / r_raw:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
