"""Ingest bench: readings uploads through the daemon's own ingest path vs raw executemany.

    python bench/ingest.py [--readings 1000000] [--per-upload 10000] [--inline] [--no-list]
                           [--registers 10]

Each upload's visits are those of a meter list the store holds (one list per upload,
every meter on it): the billable path, readings stored ``ok``. ``--no-list`` sends
visits that name no list (stored as ``no_list`` with an exception per visit).
Our path is the daemon's, called through its own code: a docking's ``Session._pull``
takes the uploads one after another from a stand-in link (the bytes are already here,
so the link costs nothing), hands each to ``UploadDecoder.submit`` (``check_upload`` in
the worker processes), whose result the daemon's one committer thread stores
(``Session._commit_when`` → ``Store.ingest``, one transaction per upload) while the next
upload is checked; ``Session._acknowledge`` waits for each commit, announces it
(``UploadCommitted``: the daemon's ``Daemon._upload_committed`` starts the exports,
``export_stored`` in the low-priority export worker), acknowledges it and marks it
cleared. ``--inline`` checks and exports in this process instead (the daemon's fallback).
The rows/s are up to the last acknowledgement (what an HHU waits on); the exports are
then waited for and their CPU printed on its own line. CPU time of this process, of the
check workers and of the export worker is printed per reading: on a shared machine it
compares from run to run where the wall time does not.
The raw path: executemany of the same rows into the same readings table, one transaction.
Last line: ``ingest: R rows/s, sqlite R0 rows/s, ratio X``.
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
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hhu_sync  # noqa: E402
from hhu_sync.config import load_config  # noqa: E402
from hhu_sync.daemon import Daemon  # noqa: E402
from hhu_sync.dock.events import UploadCommitted  # noqa: E402
from hhu_sync.dock.readings import UploadDecoder, check_upload, export_stored  # noqa: E402
from hhu_sync.dock.session import Session  # noqa: E402
from hhu_sync.ingest import parse_upload  # noqa: E402
from hhu_sync.logsetup import setup_logging  # noqa: E402
from hhu_sync.model.meterlist import MeterEntry, MeterList  # noqa: E402
from hhu_sync.store import SqliteStore  # noqa: E402
from hhu_sync.transfer import encode_transfer  # noqa: E402

KEY = hashlib.sha256(b"bench").digest()
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


#: the daemon's functions this bench runs, in the order an upload meets them
DAEMON_PATH = (Session._pull, UploadDecoder.submit, check_upload, Session._commit_when,
               SqliteStore.ingest, Session._acknowledge, Daemon._upload_committed,
               UploadDecoder.export, export_stored, SqliteStore.mark_cleared)


def daemon_session(root: Path, store: SqliteStore, decoder: UploadDecoder,
                   committer: ThreadPoolExecutor, hhu: str) -> Session:
    """A docking session as the dock manager builds one (its config, store, decoder,
    committer); ``packer`` is unused on the pull side."""
    (root / "hhu-sync.toml").write_text(
        f'[paths]\ndatabase = "{store.path}"\n[[docks]]\nname = "cradle-0"\n'
        'port = "socket://127.0.0.1:1"\n')
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
    args = ap.parse_args()
    OBIS = OBIS[:args.registers]
    SCATTERED = args.scattered
    setup_logging("text", "warning")
    uploads = max(1, args.readings // args.per_upload)
    total = uploads * (args.per_upload // len(OBIS)) * len(OBIS)
    per_upload = args.per_upload // len(OBIS) * len(OBIS)
    hhu = "HHU-B"
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "ours.db")
        listed = not args.no_list
        if listed:                      # issued before the crews go out: not timed
            for n in range(uploads):
                store.add_meter_list(meter_list_for(n, args.per_upload, hhu),
                                     now=LISTED_AT)
        for n in range(uploads, uploads + args.held):    # a store in use: not timed
            visits = visits_for(n, args.per_upload)
            store.ingest(parse_upload({"upload_id": f"H{n:06d}", "hhu_id": "HHU-H",
                                       "visits": visits}, upload_id=f"H{n:06d}",
                                      hhu_id="HHU-H", sha256="0" * 64,
                                      received_at=datetime.now(UTC)), LISTED_AT)
        sealed = [(f"U{n:06d}", encode_transfer(
            "readings", {"upload_id": f"U{n:06d}", "hhu_id": hhu,
                         "visits": visits_for(n, args.per_upload, listed=listed)},
            source=hhu, target="depot", key=KEY, bundle_id=f"U{n:06d}"))
            for n in range(uploads)]
        decoder = UploadDecoder(inline=args.inline)
        decoder.start()                 # the daemon starts its workers before any docking
        committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit")
        exports: list[Future] = []
        session = daemon_session(Path(tmp), store, decoder, committer, hhu)
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
        del sealed
        check0, export0 = pool_cpu(decoder, "check"), pool_cpu(decoder, "export")
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        run_daemon_path(session, link, hhu)
        ours = time.perf_counter() - t0
        own_cpu = time.process_time() - cpu0
        check_cpu = pool_cpu(decoder, "check") - check0
        commit_cpu = thread_cpu(committer._threads)    # noqa: SLF001 - its one thread
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
        stored = store.status()["readings"] - args.held * per_upload
        exported = sum(1 for f in exports for p in f.result() if p.endswith(".csv"))
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
    print(f"{'hhu-sync (daemon path)':<28}{total:>10}{ours:>10.2f}{r_ours:>12,.0f}")
    print(f"{'sqlite executemany (raw)':<28}{total:>10}{raw:>10.2f}{r_raw:>12,.0f}")
    print(f"cpu per reading: depot {own_cpu / total * 1e6:.2f} us + workers "
          f"{check_cpu / total * 1e6:.2f} us (to the last acknowledgement)")
    print(f"committer thread (Store.ingest): {commit_cpu / total * 1e6:.2f} us per reading")
    if args.inline:
        print(f"exports ({exported} of {uploads} uploads): in the depot, within the timing")
    else:
        print(f"exports after the acknowledgements ({exported} of {uploads} uploads): "
              f"export worker {export_cpu / total * 1e6:.2f} us per reading")
    print("daemon path: " + " -> ".join(f.__qualname__ for f in DAEMON_PATH))
    print(f"code: {Path(hhu_sync.__file__).parent}; visits "
          f"{'name no list' if args.no_list else 'of a list held (billable)'}")
    print(f"uploads: {uploads} of {args.per_upload} readings, {len(OBIS)} a visit; "
          f"peak RSS {peak_mb():.0f} MB "
          f"(largest worker {peak_child_mb():.0f} MB); "
          f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, pid {os.getpid()}")
    print(f"ingest: {r_ours:,.0f} rows/s, sqlite {r_raw:,.0f} rows/s, ratio {r_ours / r_raw:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
