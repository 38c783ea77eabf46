"""Ingest bench: readings uploads through the daemon's own ingest path vs raw executemany.

    python bench/ingest.py [--readings 1000000] [--per-upload 10000] [--inline] [--no-list]
                           [--registers 10] [--repeat N]
                           [--store postgresql://postgres@127.0.0.1:5432/hhu_bench]

Each upload's visits are those of a meter list the store holds (one list per upload,
every meter on it): the billable path, readings stored ``ok``. ``--no-list`` sends
visits that name no list (stored as ``no_list`` with an exception per visit).
Our path is the daemon's, called through its own code: a docking's ``Session._pull``
takes the uploads one after another from a stand-in link (the bytes are already here,
so the link costs nothing), hands each to ``UploadDecoder.submit`` (``check_upload`` in
the worker processes), whose result the daemon's committer stores (``Session._commit_when``
→ ``Store.ingest``, one transaction per upload; one thread on SQLite, two on PostgreSQL:
``committers_for``) while the next upload is checked; ``Session._acknowledge`` waits for
each commit, announces it (``UploadCommitted``: the daemon's ``Daemon._upload_committed``
starts the exports, ``export_stored`` in the low-priority export worker, once no commit
is in flight or 10 s after the upload's commit), acknowledges it and marks it cleared.
``--inline`` checks and exports in this process instead (the daemon's fallback).
The rows/s are up to the last acknowledgement (what an HHU waits on); the exports are
then waited for and their CPU printed on its own line. CPU time of this process, of the
check workers and of the export worker is printed per reading: on a shared machine it
compares from run to run where the wall time does not.
The raw path on SQLite: executemany of the same rows into the same readings table, one
transaction. ``--store postgresql://.../DB``: the store is :class:`PostgresStore` in a
database DB the bench makes (refusing one that exists) and drops; its raw path is a
plain COPY of the same rows into an empty table made ``LIKE readings INCLUDING ALL``
(the same columns, key and index) in that database, one COPY and commit an upload,
written as the store writes an upload's readings (``write_flat``: blocks of COPY's text
format, made within the timing, from the flat values a check worker hands over).
``--repeat N`` runs N pairs (ours, then raw, each on a fresh store), prints each and
compares the best of each: on a shared machine a ratio taken side by side.
Last line: ``ingest: R rows/s, sqlite R0 rows/s, ratio X`` (``copy`` for ``sqlite`` on
PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import os
import resource
import sqlite3
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pg_database import bench_database  # noqa: E402

import hhu_sync  # noqa: E402
from hhu_sync.config import load_config  # noqa: E402
from hhu_sync.daemon import Daemon  # noqa: E402
from hhu_sync.dock.events import UploadCommitted  # noqa: E402
from hhu_sync.dock.readings import UploadDecoder, check_upload, export_stored  # noqa: E402
from hhu_sync.dock.session import Session  # noqa: E402
from hhu_sync.ingest import parse_upload  # noqa: E402
from hhu_sync.ingest.flatrows import FlatRows  # noqa: E402
from hhu_sync.logsetup import setup_logging  # noqa: E402
from hhu_sync.model.meterlist import MeterEntry, MeterList  # noqa: E402
from hhu_sync.store import SqliteStore, Store  # noqa: E402
from hhu_sync.store.opening import committers_for  # noqa: E402
from hhu_sync.store.postgres import (  # noqa: E402
    PostgresStore,
    is_postgres_url,
    shown_url,
    write_flat,
)
from hhu_sync.transfer import encode_transfer  # noqa: E402

KEY = hashlib.sha256(b"bench").digest()
#: the readings table's columns the store writes (and the raw paths write)
READING_COLUMNS = ("meter, obis, time, value, unit, status, hhu, upload_id, value_time, "
                   "reset_time, visit_seq")
OBIS = ("1.8.0", "1.8.1", "1.8.2", "1.8.3", "2.8.0", "3.8.0", "4.8.0", "1.6.0", "0.1.0", "F.F")


LISTED_AT = "2026-10-01T00:00:00+00:00"   # before every visit: none is read before its list


def list_id_for(upload_no: int) -> str:
    return f"L{upload_no:05d}"


#: --scattered: an upload's meters in no serial order (as a real route's are); else in a
#: block of their own, one after another
SCATTERED = False


def meter_serial(upload_no: int, v: int) -> str:
    """The ``v``-th meter of upload ``upload_no``: unique; scattered over the key space by
    a multiplication that is a permutation of 0 .. 10**10 - 1 (odd, not a multiple of 5)."""
    n = upload_no * 100_000 + v
    return f"{n * 2_654_435_761 % 10**10:010d}" if SCATTERED else f"{n:010d}"


def meters_for(upload_no: int, readings: int) -> list[str]:
    return [meter_serial(upload_no, v) for v in range(readings // len(OBIS))]


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
        meter = meter_serial(upload_no, v)
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


TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc (no psutil)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu(threads) -> float:
    """CPU seconds (user + system) live threads of this process have used, from /proc."""
    return sum(cpu_of_task(t.native_id) for t in threads)


def cpu_of_task(tid: int) -> float:
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def pool_cpu(decoder: UploadDecoder, kind: str) -> float:
    """CPU seconds of a decoder pool's live worker processes (0 when inline)."""
    pool = decoder._pools.get(kind)                      # noqa: SLF001 - a bench looks in
    return sum(cpu_of(pid) for pid in (pool._processes or {}) if pool) if pool else 0.0


class HeldKeys:
    """The key store, as a session asks it: the one HHU's key."""

    def __init__(self, hhu: str, key: bytes) -> None:
        self.hhu, self.key = hhu, key

    def hhu_key(self, hhu_id: str) -> bytes | None:
        return self.key if hhu_id == self.hhu else None


class HeldLink:
    """A docked HHU's link whose uploads are already here: ``get`` and ``ack`` cost
    nothing, so the time is the depot's ingest alone."""

    def __init__(self, sealed: list[tuple[str, bytes]]) -> None:
        self.data = dict(sealed)
        self.hello = SimpleNamespace(uploads=[SimpleNamespace(upload_id=u) for u, _ in sealed])
        self.acked: list[str] = []

    async def get(self, upload_id: str, _budget: float) -> bytes:
        return self.data.pop(upload_id)

    async def ack(self, upload_id: str, _budget: float) -> None:
        self.acked.append(upload_id)


def daemon_path(store_class: type) -> tuple:
    """The daemon's functions this bench runs, in the order an upload meets them (the
    store's ``ingest`` and ``mark_cleared`` those of the backend benched)."""
    return (Session._pull, UploadDecoder.submit, check_upload, Session._commit_when,
            store_class.ingest, Session._acknowledge, Daemon._upload_committed,
            UploadDecoder.export, export_stored, store_class.mark_cleared)


def daemon_session(root: Path, store: Store, decoder: UploadDecoder,
                   committer: ThreadPoolExecutor, hhu: str) -> Session:
    """A docking session as the dock manager builds one (its config, store, decoder,
    committer); ``packer`` is unused on the pull side."""
    named = (f'[store]\nurl = "{store.url}"\n' if is_postgres_url(store.url)
             else f'[paths]\ndatabase = "{store.path}"\n')     # type: ignore[attr-defined]
    (root / "hhu-sync.toml").write_text(
        f'{named}[[docks]]\nname = "cradle-0"\nport = "socket://127.0.0.1:1"\n')
    config = load_config(root / "hhu-sync.toml")
    session = Session(config.docks[0], "", config, store, HeldKeys(hhu, KEY),
                      packer=None, decoder=decoder, committer=committer)  # type: ignore[arg-type]
    session._deadline = time.monotonic() + 24 * 3600    # noqa: SLF001 - the session's own
    return session


def run_daemon_path(session: Session, link: HeldLink, hhu: str) -> None:
    """What ``Session._run`` does with a docked HHU's uploads, step for step."""
    async def run() -> None:
        pending = await session._pull(link, hhu, link.hello)  # type: ignore[arg-type]  # noqa: SLF001
        while pending:
            await session._acknowledge(link, hhu, pending.popleft())  # type: ignore[arg-type]  # noqa: SLF001

    asyncio.run(run())


def sealed_uploads(uploads: int, per_upload: int, hhu: str, *, listed: bool
                   ) -> list[tuple[str, bytes]]:
    """The uploads as the HHU holds them: sealed with its key (made once, not timed)."""
    return [(f"U{n:06d}", encode_transfer(
        "readings", {"upload_id": f"U{n:06d}", "hhu_id": hhu,
                     "visits": visits_for(n, per_upload, listed=listed)},
        source=hhu, target="depot", key=KEY, bundle_id=f"U{n:06d}"))
        for n in range(uploads)]


def fill_untimed(store: Store, uploads: int, per_upload: int, hhu: str, *, listed: bool,
                 held: int) -> None:
    """What the store holds before the timed uploads: their lists (issued before the
    crews go out) and ``held`` uploads of other meters (a store in use)."""
    if listed:
        for n in range(uploads):
            store.add_meter_list(meter_list_for(n, per_upload, hhu), now=LISTED_AT)
    for n in range(uploads, uploads + held):
        visits = visits_for(n, per_upload)
        store.ingest(parse_upload({"upload_id": f"H{n:06d}", "hhu_id": "HHU-H",
                                   "visits": visits}, upload_id=f"H{n:06d}",
                                  hhu_id="HHU-H", sha256="0" * 64,
                                  received_at=datetime.now(UTC)), LISTED_AT)


@dataclass(frozen=True)
class Ours:
    """One timed run of the daemon's path: wall seconds to the last acknowledgement and
    the CPU seconds of each part."""

    seconds: float
    ingest_s: float                 # wall time with a Store.ingest in flight (the committer's)
    own_cpu: float
    check_cpu: float
    commit_cpu: float
    export_cpu: float
    exported: int


def run_ours(store: Store, root: Path, sealed: list[tuple[str, bytes]], hhu: str, *,
             inline: bool, listed: bool, per_upload: int, held: int) -> Ours:
    """The uploads through the daemon's path into ``store``; every reading checked stored."""
    uploads = len(sealed)
    decoder = UploadDecoder(inline=inline)
    decoder.start()                 # the daemon starts its workers before any docking
    # the daemon's committer: one thread on SQLite, two on PostgreSQL (DockManager's)
    committer = ThreadPoolExecutor(max_workers=committers_for(store.url),
                                   thread_name_prefix="commit")
    exports: list[Future] = []
    session = daemon_session(root, store, decoder, committer, hhu)
    # the daemon's own export on each upload committed: Daemon._upload_committed and
    # Daemon._export, run on a stand-in holding just what they use of a Daemon
    exporter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blocking")
    daemon = SimpleNamespace(config=session.config, store=store, docks=SimpleNamespace(
        track_export=exports.append, blocking=exporter, decoder=decoder))
    daemon._export = functools.partial(Daemon._export, daemon)
    export = functools.partial(Daemon._upload_committed, daemon)
    session.events.subscribe(
        lambda event: export(event) if isinstance(event, UploadCommitted) else None)
    link = HeldLink(sealed)
    in_ingest = [0.0]
    ingest = store.ingest
    busy = [0, 0.0]                           # calls in flight, since when
    busy_lock = threading.Lock()

    def timed_ingest(*args, **kwargs):        # the committer's calls, timed where it calls
        with busy_lock:                       # the time some commit is in flight (two
            if not busy[0]:                   # committers overlap: not their sum)
                busy[1] = time.perf_counter()
            busy[0] += 1
        try:
            return ingest(*args, **kwargs)
        finally:
            with busy_lock:
                busy[0] -= 1
                if not busy[0]:
                    in_ingest[0] += time.perf_counter() - busy[1]

    store.ingest = timed_ingest               # type: ignore[method-assign]
    check0, export0 = pool_cpu(decoder, "check"), pool_cpu(decoder, "export")
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    run_daemon_path(session, link, hhu)
    seconds = time.perf_counter() - t0
    own_cpu = time.process_time() - cpu0
    check_cpu = pool_cpu(decoder, "check") - check0
    commit_cpu = thread_cpu(committer._threads)    # noqa: SLF001 - its threads
    for future in exports:          # billing's exports, after the acknowledgements
        future.result()
    export_cpu = pool_cpu(decoder, "export") - export0
    result = session.result
    assert not result.errors, result.errors
    assert link.acked == result.pulled and len(link.acked) == uploads
    for report in result.reports:
        assert report["readings_stored"] == per_upload, report
        if listed:
            assert report["not_on_list"] == 0, report
    committer.shutdown(wait=True)
    exporter.shutdown(wait=True)
    decoder.close()
    stored = store.status()["readings"] - held * per_upload
    assert stored == uploads * per_upload, (stored, uploads * per_upload)
    exported = sum(1 for f in exports for p in f.result() if p.endswith(".csv"))
    del store.ingest                          # the class's own again
    return Ours(seconds, in_ingest[0], own_cpu, check_cpu, commit_cpu, export_cpu, exported)


def raw_rows(upload_no: int, per_upload: int) -> list[tuple]:
    """An upload's readings as the raw paths write them: the store's columns
    (meter, obis, time, value, unit, status, hhu, upload_id, value_time, reset_time,
    visit_seq), nothing checked."""
    return [(v["meter"], r[0], r[3], r[1], r[2], "ok", "HHU-B", f"U{upload_no:06d}", r[3],
             "", seq)
            for seq, v in enumerate(visits_for(upload_no, per_upload))
            for r in v["registers"]]


def raw_sqlite(path: Path, uploads: int, per_upload: int) -> float:
    """Seconds of executemany of the rows into a readings table, one transaction (the
    rows are made outside the timing)."""
    raw_db = sqlite3.connect(path, isolation_level=None)
    raw_db.execute("PRAGMA journal_mode=WAL")
    raw_db.execute("PRAGMA synchronous=NORMAL")
    raw_db.execute("CREATE TABLE readings (meter TEXT NOT NULL, obis TEXT NOT NULL, "
                   "time TEXT NOT NULL, value TEXT NOT NULL, unit TEXT NOT NULL, status TEXT "
                   "NOT NULL, hhu TEXT NOT NULL, upload TEXT NOT NULL, value_time TEXT NOT "
                   "NULL, reset_time TEXT NOT NULL, visit_seq INTEGER, "
                   "PRIMARY KEY (meter, obis, time)) WITHOUT ROWID")
    raw = 0.0
    raw_db.execute("BEGIN")
    for n in range(uploads):
        rows = raw_rows(n, per_upload)
        t0 = time.perf_counter()
        raw_db.executemany("INSERT INTO readings VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        raw += time.perf_counter() - t0
    t0 = time.perf_counter()
    raw_db.execute("COMMIT")
    raw += time.perf_counter() - t0
    raw_db.close()
    return raw


def raw_flat(upload_no: int, per_upload: int) -> FlatRows:
    """:func:`raw_rows` as the check worker hands readings to the store: one flat list
    of text values (the visit's number too, as the store sends it)."""
    return FlatRows([v if type(v) is str else str(v)
                     for row in raw_rows(upload_no, per_upload) for v in row],
                    len(READING_COLUMNS.split(",")))


#: the raw COPY's table: the store's readings table as the schema makes it (its columns,
#: defaults, primary key and index), empty
RAW_TABLE = "readings_raw"


def raw_copy(url: str, uploads: int, per_upload: int) -> float:
    """Seconds of a plain ``COPY`` of the rows into an empty table like the store's
    readings table (``LIKE readings INCLUDING ALL``: its key and index), one COPY and
    one commit an upload, as the store commits an upload (rows made outside the timing,
    written by the store's own ``write_flat`` within it)."""
    columns = READING_COLUMNS
    raw = 0.0
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        db.execute(f"CREATE TABLE {RAW_TABLE} (LIKE readings INCLUDING ALL)")
        for n in range(uploads):
            rows = raw_flat(n, per_upload)
            t0 = time.perf_counter()
            with db.transaction(), db.cursor().copy(
                    f"COPY {RAW_TABLE} ({columns}) FROM STDIN") as copy:
                write_flat(copy, rows)         # the store's own technique, timed
            raw += time.perf_counter() - t0
        copied = db.execute(f"SELECT COUNT(*) FROM {RAW_TABLE}").fetchone()[0]
        db.execute(f"DROP TABLE {RAW_TABLE}")
    assert copied == uploads * per_upload, (copied, uploads * per_upload)
    return raw


def main() -> int:
    global OBIS, SCATTERED              # --registers, --scattered: visits_for and meters_for
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--per-upload", type=int, default=10_000)
    ap.add_argument("--inline", action="store_true",
                    help="check uploads in this process (no worker processes)")
    ap.add_argument("--no-list", action="store_true",
                    help="visits name no meter list (the not-on-list path; not billable)")
    ap.add_argument("--registers", type=int, default=len(OBIS), choices=range(1, len(OBIS) + 1),
                    metavar=f"1..{len(OBIS)}",
                    help=f"registers a visit reads (default {len(OBIS)}; a docking of "
                         "bench/docks.py reads 4)")
    ap.add_argument("--scattered", action="store_true",
                    help="each upload's meters in no serial order, as a real route's are "
                         "(default: a block of serials an upload)")
    ap.add_argument("--held", type=int, default=0, metavar="UPLOADS",
                    help="uploads stored before the timed ones (not timed): a store in use")
    ap.add_argument("--store", metavar="URL",
                    help="postgresql://user@host:port/DB: bench the PostgreSQL store in a "
                         "database DB the bench makes and drops (default: SQLite files "
                         "in a temporary folder)")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="pairs of runs (ours, then raw; a fresh store each): the best of "
                         "each is printed")
    args = ap.parse_args()
    if args.store is not None and not is_postgres_url(args.store):
        ap.error("--store takes a postgresql:// URL (SQLite is the default)")
    OBIS = OBIS[:args.registers]
    SCATTERED = args.scattered
    setup_logging("text", "warning")
    uploads = max(1, args.readings // args.per_upload)
    per_upload = args.per_upload // len(OBIS) * len(OBIS)
    total = uploads * per_upload
    hhu = "HHU-B"
    listed = not args.no_list
    postgres = args.store is not None
    sealed = sealed_uploads(uploads, args.per_upload, hhu, listed=listed)
    runs: list[tuple[Ours, float]] = []
    for _ in range(max(1, args.repeat)):
        with tempfile.TemporaryDirectory() as tmp:
            if postgres:
                with bench_database(args.store) as url:
                    store: Store = PostgresStore(url)
                    try:
                        fill_untimed(store, uploads, args.per_upload, hhu, listed=listed,
                                     held=args.held)
                        ours = run_ours(store, Path(tmp), list(sealed), hhu,
                                        inline=args.inline, listed=listed,
                                        per_upload=per_upload, held=args.held)
                    finally:
                        store.close()
                    raw = raw_copy(url, uploads, args.per_upload)
            else:
                store = SqliteStore(Path(tmp) / "ours.db")
                try:
                    fill_untimed(store, uploads, args.per_upload, hhu, listed=listed,
                                 held=args.held)
                    ours = run_ours(store, Path(tmp), list(sealed), hhu, inline=args.inline,
                                    listed=listed, per_upload=per_upload, held=args.held)
                finally:
                    store.close()
                raw = raw_sqlite(Path(tmp) / "raw.db", uploads, args.per_upload)
        runs.append((ours, raw))
    best = min((o for o, _ in runs), key=lambda o: o.seconds)
    raw = min(r for _, r in runs)
    r_ours, r_raw = total / best.seconds, total / raw
    raw_name = "postgresql COPY (raw)" if postgres else "sqlite executemany (raw)"
    print(f"{'path':<28}{'rows':>10}{'seconds':>10}{'rows/s':>12}")
    if len(runs) > 1:
        for n, (o, r) in enumerate(runs, 1):
            print(f"{f'  run {n}: hhu-sync':<28}{total:>10}{o.seconds:>10.2f}"
                  f"{total / o.seconds:>12,.0f}")
            print(f"{f'  run {n}: raw':<28}{total:>10}{r:>10.2f}{total / r:>12,.0f}"
                  f"  ratio {r / o.seconds:.2f} (Store.ingest alone {r / o.ingest_s:.2f})")
    best_of = f" (best of {len(runs)})" if len(runs) > 1 else ""
    print(f"{'hhu-sync (daemon path)':<28}{total:>10}{best.seconds:>10.2f}{r_ours:>12,.0f}"
          f"{best_of}")
    print(f"{raw_name:<28}{total:>10}{raw:>10.2f}{r_raw:>12,.0f}{best_of}")
    print(f"cpu per reading: depot {best.own_cpu / total * 1e6:.2f} us + workers "
          f"{best.check_cpu / total * 1e6:.2f} us (to the last acknowledgement)")
    print(f"committer threads (Store.ingest): {best.commit_cpu / total * 1e6:.2f} us per reading")
    alone = min(o.ingest_s for o, _ in runs)
    print(f"Store.ingest alone (wall with a committer's call in flight): {total / alone:,.0f} "
          f"rows/s, ratio {raw / alone:.2f} of raw{best_of}")
    if args.inline:
        print(f"exports ({best.exported} of {uploads} uploads): in the depot, within the timing")
    else:
        print(f"exports after the acknowledgements ({best.exported} of {uploads} uploads): "
              f"export worker {best.export_cpu / total * 1e6:.2f} us per reading")
    store_class = PostgresStore if postgres else SqliteStore
    print("daemon path: " + " -> ".join(f.__qualname__ for f in daemon_path(store_class)))
    print(f"code: {Path(hhu_sync.__file__).parent}; visits "
          f"{'name no list' if args.no_list else 'of a list held (billable)'}")
    engine = (f"postgresql {shown_url(args.store)}" if postgres
              else f"sqlite {sqlite3.sqlite_version}")
    print(f"uploads: {uploads} of {per_upload} readings, {len(OBIS)} a visit; "
          f"peak RSS {peak_mb():.0f} MB "
          f"(largest worker {peak_child_mb():.0f} MB); "
          f"python {sys.version.split()[0]}, {engine}, pid {os.getpid()}")
    raw_label = "copy" if postgres else "sqlite"
    print(f"ingest: {r_ours:,.0f} rows/s, {raw_label} {r_raw:,.0f} rows/s, "
          f"ratio {r_ours / r_raw:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
