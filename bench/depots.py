"""Depots bench: several daemon-like processes ingesting into one PostgreSQL database at once.

    python bench/depots.py [--depots 8] [--uploads 10] [--visits 100] [--registers 4]
                           [--profile-days 1] [--overlap 0.2]
                           [--store postgresql://postgres@127.0.0.1:5432/hhu_bench_depots]

Each depot is a process of its own with its own :class:`PostgresStore` (its own pool of
connections), as each depot's daemon is. Before the start (not timed) each seals its
HHU's uploads (``--visits`` meters each, ``--registers`` registers a visit and
``--profile-days`` days of a 4-channel 30-minute load profile a visit, as an HHU of
upload version 2 brings them) and checks them as the depot's check worker does
(``check_upload``); the meter lists they name are in the store. At one start signal every
depot commits its uploads one after another (``Store.ingest``, then ``mark_cleared``, as
a docking does). Neighbouring depots share meters: the last ``--overlap`` of each upload's
meters are the next depot's upload's first ones, read at the same time with the same
values (crews of two depots on one boundary), so every shared reading and interval
arrives twice, from two depots at once.

Printed: a row a depot and the aggregate (readings and intervals committed a second,
p50 and p99 of the commit latency, the ``Store.ingest`` call), then the check that every
reading and interval is stored once (the count of distinct keys the uploads bring; each
shared one a ``duplicate`` or already held), then bytes a row as the server holds them
(``pg_total_relation_size``: heap, indexes, TOAST). A one-depot run of depot 0's uploads
(no overlap) on a fresh database comes first: the aggregate beside it says what sharing
one server costs. Each run's database is the bench's own, made and dropped.
Last line: ``depots: N depots R readings/s I intervals/s, p50 X ms, p99 Y ms, one depot
R1 readings/s``.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pg_database import bench_database  # noqa: E402
from profile_ingest import series_for  # noqa: E402

from hhu_sync.dock.readings import check_upload  # noqa: E402
from hhu_sync.model.meterlist import MeterEntry, MeterList  # noqa: E402
from hhu_sync.profile.wire import encode_profile  # noqa: E402
from hhu_sync.store.postgres import PostgresStore, shown_url  # noqa: E402
from hhu_sync.transfer import encode_transfer  # noqa: E402

OBIS = ("1.8.0", "2.8.0", "5.8.0", "8.8.0", "1.8.1", "1.8.2", "1.6.0", "0.1.0")
VISIT_TIME = "2026-11-25T09:00:00+00:00"
LISTED_AT = "2026-11-24T08:00:00+00:00"
NOW = "2026-11-25T12:00:00+00:00"
RECEIVED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STEP = 1800
CHANNELS = 4


@dataclass(frozen=True)
class Plan:
    """What every depot's uploads hold: ``depots`` depots, ``uploads`` uploads each of
    ``visits`` meters, the last ``shared`` of them the next depot's first ones."""

    depots: int
    uploads: int
    visits: int
    shared: int
    registers: int
    profile_days: int

    @property
    def ring(self) -> int:
        """Distinct meters of one upload round (all depots' n-th uploads)."""
        return self.depots * (self.visits - self.shared)

    def meter_index(self, depot: int, upload: int, visit: int) -> int:
        return upload * self.ring + (depot * (self.visits - self.shared) + visit) % self.ring

    def hhu(self, depot: int) -> str:
        return f"HHU-D{depot:03d}"

    def list_id(self, depot: int, upload: int) -> str:
        return f"L-D{depot:03d}-{upload:04d}"


def serial(index: int) -> str:
    return f"{40_000_000 + index}"


def key(depot: int) -> bytes:
    return hashlib.sha256(f"depot-{depot}".encode()).digest()


def meter_list(plan: Plan, depot: int, upload: int) -> MeterList:
    return MeterList(id=plan.list_id(depot, upload), name=plan.list_id(depot, upload),
                     hhu=plan.hhu(depot), crew=None, due="2026-12-01", notes="",
                     meters=tuple(MeterEntry(serial(plan.meter_index(depot, upload, v)), "",
                                             "", "read", None, None, "")
                                  for v in range(plan.visits)))


def sealed_upload(plan: Plan, depot: int, upload: int) -> tuple[str, bytes]:
    """An HHU's upload as it docks with it: its visits' registers and profiles (a
    meter's values are its own, whichever depot's crew reads it)."""
    visits = []
    for v in range(plan.visits):
        m = plan.meter_index(depot, upload, v)
        visits.append({
            "meter": serial(m), "list": plan.list_id(depot, upload), "time": VISIT_TIME,
            "outcome": "done", "operator": f"crew-{depot}", "notes": "",
            "error_flags": "00000000", "scheme": None, "verify": None,
            "registers": [[o, f"{(m * 7 + i) % 999_999:06d}.{i}", "kWh", VISIT_TIME]
                          for i, o in enumerate(OBIS[:plan.registers])],
            "profiles": [encode_profile(series_for(m, c, plan.profile_days, STEP))
                         for c in range(CHANNELS)] if plan.profile_days else []})
    upload_id = f"D{depot:03d}-U{upload:04d}"
    return upload_id, encode_transfer(
        "readings", {"version": 2, "upload_id": upload_id, "hhu_id": plan.hhu(depot),
                     "visits": visits},
        source=plan.hhu(depot), target="depot", key=key(depot), bundle_id=upload_id)


@dataclass(frozen=True)
class DepotResult:
    depot: int
    started: float
    ended: float
    latencies: tuple[float, ...]
    readings: int
    stored: int
    already_held: int
    intervals: int
    intervals_stored: int
    intervals_held: int
    meter_intervals: dict[str, int]


def depot(url: str, number: int, plan: Plan, start: Barrier, results) -> None:
    """One depot's daemon: its uploads checked (not timed), then at the start signal
    committed one after another, each ingest's wall time its commit latency."""
    checked = []
    meter_intervals: dict[str, int] = {}
    for n in range(plan.uploads):
        upload_id, data = sealed_upload(plan, number, n)
        upload = check_upload(data, hhu_id=plan.hhu(number), hhu_key=key(number),
                              upload_id=upload_id, received_at=RECEIVED)
        for seq, series in upload.profiles:
            meter = upload.visits[seq].meter
            meter_intervals[meter] = meter_intervals.get(meter, 0) + series.count()
        checked.append(upload)
    store = PostgresStore(url, max_connections=2)
    latencies: list[float] = []
    totals = dict.fromkeys(("readings", "stored", "held", "intervals", "istored", "iheld"), 0)
    start.wait()
    started = time.monotonic()       # CLOCK_MONOTONIC: one clock for every process
    for upload in checked:
        t0 = time.monotonic()
        report = store.ingest(upload, NOW)
        latencies.append(time.monotonic() - t0)
        store.mark_cleared(upload.upload_id, NOW)
        assert not report.already_held, report
        totals["readings"] += len(upload.readings)
        totals["stored"] += report.readings_stored
        totals["held"] += report.readings_already_held
        totals["intervals"] += upload.interval_count()
        totals["istored"] += report.intervals_stored
        totals["iheld"] += report.intervals_already_held
    ended = time.monotonic()
    store.close()
    results.put(DepotResult(number, started, ended, tuple(latencies), totals["readings"],
                            totals["stored"], totals["held"], totals["intervals"],
                            totals["istored"], totals["iheld"], meter_intervals))


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass(frozen=True)
class Run:
    results: list[DepotResult]
    readings_held: int
    intervals_held: int
    duplicates: int
    readings_bytes: float
    intervals_bytes: float

    @property
    def seconds(self) -> float:
        return (max(r.ended for r in self.results) - min(r.started for r in self.results))

    def rate(self, what: str) -> float:
        return sum(getattr(r, what) for r in self.results) / self.seconds

    def latencies(self) -> list[float]:
        return [x for r in self.results for x in r.latencies]


def run(url: str, plan: Plan) -> Run:
    """Every depot of ``plan`` at once into a database of the bench's own; checked."""
    ctx = multiprocessing.get_context("spawn")
    with bench_database(url) as db_url:
        store = PostgresStore(db_url)          # the schema and the lists, before the start
        for d in range(plan.depots):
            for n in range(plan.uploads):
                store.add_meter_list(meter_list(plan, d, n), LISTED_AT)
        start = ctx.Barrier(plan.depots)
        results = ctx.Queue()
        procs = [ctx.Process(target=depot, args=(db_url, d, plan, start, results),
                             name=f"depot-{d}") for d in range(plan.depots)]
        for p in procs:
            p.start()
        got = [results.get(timeout=3600) for _ in procs]
        for p in procs:
            p.join(60)
            assert p.exitcode == 0, (p.name, p.exitcode)
        held = store._one("SELECT COUNT(*) FROM readings")           # noqa: SLF001
        intervals = store._one("SELECT COUNT(*) FROM intervals")     # noqa: SLF001
        duplicates = store._one("SELECT COUNT(*) FROM exceptions "   # noqa: SLF001
                                "WHERE kind = 'duplicate'")
        doubled = store._one("SELECT COUNT(*) FROM (SELECT meter, obis, time FROM "  # noqa: SLF001
                             "readings GROUP BY 1, 2, 3 HAVING COUNT(*) > 1) d")
        assert doubled == 0, doubled
        sizes = dict(store._rows(                                    # noqa: SLF001
            "SELECT relname::text, pg_total_relation_size(oid) FROM pg_class "
            "WHERE relname IN ('readings', 'intervals') AND relkind = 'r'"))
        store.close()
    got.sort(key=lambda r: r.depot)
    return Run(got, int(held), int(intervals), int(duplicates),
               sizes["readings"] / max(1, held), sizes["intervals"] / max(1, intervals))


def check(plan: Plan, done: Run) -> list[str]:
    """Every reading and interval stored once: the stores hold the distinct keys the
    uploads bring, each depot's report adds up, and each shared reading came twice."""
    distinct_readings = plan.uploads * plan.ring * plan.registers
    meter_intervals: dict[str, int] = {}
    for r in done.results:
        meter_intervals.update(r.meter_intervals)
    distinct_intervals = sum(meter_intervals.values())
    shared_readings = plan.uploads * plan.depots * plan.shared * plan.registers \
        if plan.depots > 1 else 0
    stored = sum(r.stored for r in done.results)
    already = sum(r.already_held for r in done.results)
    istored = sum(r.intervals_stored for r in done.results)
    iheld = sum(r.intervals_held for r in done.results)
    problems = []
    if not done.readings_held == stored == distinct_readings:
        problems.append(f"readings: {done.readings_held} held, {stored} stored, "
                        f"{distinct_readings} distinct keys")
    if not already == done.duplicates == shared_readings:
        problems.append(f"readings already held {already}, duplicate exceptions "
                        f"{done.duplicates}, shared {shared_readings}")
    if not done.intervals_held == istored == distinct_intervals:
        problems.append(f"intervals: {done.intervals_held} held, {istored} stored, "
                        f"{distinct_intervals} distinct keys")
    if istored + iheld != sum(r.intervals for r in done.results):
        problems.append(f"intervals: {istored} stored + {iheld} held != brought")
    return problems


def table(title: str, done: Run) -> None:
    print(title)
    print(f"{'depot':<8}{'uploads':>8}{'readings':>10}{'stored':>10}{'held':>8}"
          f"{'intervals':>11}{'stored':>10}{'seconds':>9}{'rdg/s':>9}{'p50 ms':>8}"
          f"{'p99 ms':>8}")
    for r in done.results:
        lat = list(r.latencies)
        seconds = r.ended - r.started
        print(f"{r.depot:<8}{len(lat):>8}{r.readings:>10}{r.stored:>10}{r.already_held:>8}"
              f"{r.intervals:>11}{r.intervals_stored:>10}{seconds:>9.2f}"
              f"{r.readings / seconds:>9,.0f}{percentile(lat, 50) * 1e3:>8.0f}"
              f"{percentile(lat, 99) * 1e3:>8.0f}")
    lat = done.latencies()
    print(f"{'all':<8}{len(lat):>8}{sum(r.readings for r in done.results):>10}"
          f"{sum(r.stored for r in done.results):>10}"
          f"{sum(r.already_held for r in done.results):>8}"
          f"{sum(r.intervals for r in done.results):>11}"
          f"{sum(r.intervals_stored for r in done.results):>10}{done.seconds:>9.2f}"
          f"{done.rate('readings'):>9,.0f}{percentile(lat, 50) * 1e3:>8.0f}"
          f"{percentile(lat, 99) * 1e3:>8.0f}")
    print(f"aggregate: {done.rate('readings'):,.0f} readings/s, "
          f"{done.rate('intervals'):,.0f} intervals/s committed")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depots", type=int, default=8)
    ap.add_argument("--uploads", type=int, default=10, help="uploads a depot commits")
    ap.add_argument("--visits", type=int, default=100, help="meters an upload reads")
    ap.add_argument("--registers", type=int, default=4, choices=range(1, len(OBIS) + 1),
                    metavar=f"1..{len(OBIS)}")
    ap.add_argument("--profile-days", type=int, default=1,
                    help="days of 4-channel 30-minute profile a visit brings (0: none)")
    ap.add_argument("--overlap", type=float, default=0.2,
                    help="share of an upload's meters the next depot's upload reads too")
    ap.add_argument("--store", default="postgresql://postgres@127.0.0.1:5432/hhu_bench_depots",
                    metavar="URL", help="a database for the bench to make and drop")
    args = ap.parse_args()
    if args.depots < 1 or not 0 <= args.overlap < 0.5:
        ap.error("--depots at least 1, --overlap from 0 to below 0.5")
    shared = round(args.visits * args.overlap) if args.depots > 1 else 0
    plan = Plan(args.depots, args.uploads, args.visits, shared, args.registers,
                args.profile_days)
    one = Plan(1, args.uploads, args.visits, 0, args.registers, args.profile_days)
    alone = run(args.store, one)
    problems = check(one, alone)
    table("one depot alone (depot 0's uploads, nothing shared):", alone)
    done = run(args.store, plan)
    table(f"{args.depots} depots at once, {shared} of each upload's {args.visits} meters "
          "shared with the next depot:", done)
    problems += check(plan, done)
    print(f"stored once: {done.readings_held} readings of "
          f"{sum(r.readings for r in done.results)} brought "
          f"({done.duplicates} shared ones duplicate), {done.intervals_held} intervals of "
          f"{sum(r.intervals for r in done.results)}"
          + ("" if not problems else " -- NOT: " + "; ".join(problems)))
    print(f"bytes a row held (heap, indexes, TOAST): readings {done.readings_bytes:.0f}, "
          f"intervals {done.intervals_bytes:.0f}")
    print(f"server: {shown_url(args.store)}; uploads: {args.uploads} a depot of "
          f"{args.visits} visits, {args.registers} registers and {args.profile_days} "
          f"day(s) of {CHANNELS} channels a visit")
    lat = done.latencies()
    print(f"depots: {args.depots} depots {done.rate('readings'):,.0f} readings/s "
          f"{done.rate('intervals'):,.0f} intervals/s, p50 {percentile(lat, 50) * 1e3:.0f} ms, "
          f"p99 {percentile(lat, 99) * 1e3:.0f} ms, one depot "
          f"{alone.rate('readings'):,.0f} readings/s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
