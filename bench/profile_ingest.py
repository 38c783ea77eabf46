"""Interval ingest bench: upload version 2's profiles into the store vs raw executemany.

    python bench/profile_ingest.py [--meters 200] [--channels 4] [--days 35] [--step 1800]

A route of ``meters`` meters, each with ``channels`` channels of ``days`` days of
intervals (defaults: 200 x 4 x 35 x 48 = 1,344,000 values) from a load model (a daily
shape, noise, an outage now and then), encoded as one readings upload of version 2
(sealed transfer file, zlib as the HHU stores it) and checked as the depot checks it.

Each path runs in a child process of its own, so its peak memory (max RSS) is its own:
- ``raw``: SQLite's ``executemany`` of the same rows, prebuilt, into an equivalent
  ``intervals`` table (the store's DDL), one transaction, WAL and synchronous=FULL as the
  store sets them;
- ``ours``: ``Store.ingest`` of the checked upload (the transaction the daemon's committer
  runs: readings, visits, intervals, exceptions, the upload row).
Also printed: the upload's size on the wire, bytes per interval, and the line-rate
figures at 115,200 baud (8N1: 10 bits a byte) against the payload's expanded size.
Last line: ``intervals: R rows/s, sqlite R0 rows/s, ratio X, peak MB M``.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgpack  # noqa: E402

from hhu_sync.dock.readings import check_upload  # noqa: E402
from hhu_sync.profile.flags import IntervalStatus  # noqa: E402
from hhu_sync.profile.series import Channel, ChannelSeries, Run  # noqa: E402
from hhu_sync.profile.wire import encode_profile  # noqa: E402
from hhu_sync.store import SqliteStore  # noqa: E402
from hhu_sync.store.interval_rules import interval_rows  # noqa: E402
from hhu_sync.transfer import encode_transfer  # noqa: E402

KEY = b"b" * 32
CHANNELS = (("1.8.0", "kWh"), ("2.8.0", "kWh"), ("5.8.0", "kvarh"), ("8.8.0", "kvarh"))
END = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
VISIT_TIME = "2026-11-25T09:00:00+00:00"
LINE_BAUD = 115_200


def series_for(meter: int, channel: int, days: int, step: int) -> ChannelSeries:
    """A channel's profile: a daily shape scaled per meter, noise, one outage a fortnight
    (a gap that breaks the run, its intervals flagged)."""
    rnd = random.Random(meter * 31 + channel)
    per_day = 86_400 // step
    n = days * per_day
    first = int(END.timestamp()) - (n - 1) * step
    scale = 200 + rnd.randrange(800) if channel < 2 else 50 + rnd.randrange(200)
    values, status = [], []
    for i in range(n):
        hour = (i % per_day) * 24 / per_day
        shape = 0.55 + 0.45 * math.sin((hour - 7) / 24 * 2 * math.pi)
        values.append(max(0, int(scale * shape + rnd.gauss(0, scale / 25))))
        status.append(0)
    outage = rnd.randrange(n // 2, n - 10)
    status[outage] = int(IntervalStatus.POWER_FAIL)
    status[outage + 2] = int(IntervalStatus.POWER_RECOVERY)
    runs = (Run(first, tuple(values[:outage + 1]), tuple(status[:outage + 1])),
            Run(first + (outage + 2) * step, tuple(values[outage + 2:]),
                tuple(status[outage + 2:])))
    code, unit = CHANNELS[channel % len(CHANNELS)]
    return ChannelSeries(Channel(code if channel < len(CHANNELS) else f"{code}*{channel}",
                                 unit), step, -3, runs)


def build(meters: int, channels: int, days: int, step: int) -> tuple[bytes, int]:
    visits = []
    for m in range(meters):
        visits.append({"meter": f"{35100000 + m}", "list": "", "time": VISIT_TIME,
                       "outcome": "done", "operator": "crew", "notes": "",
                       "registers": [["1.8.0", "001234.5", "kWh", VISIT_TIME]],
                       "profiles": [encode_profile(series_for(m, c, days, step))
                                    for c in range(channels)]})
    payload = {"version": 2, "upload_id": "B-1", "hhu_id": "HHU-B", "visits": visits}
    data = encode_transfer("readings", payload, source="HHU-B", target="depot", key=KEY,
                           bundle_id="B-1")
    return data, len(visits)


def checked(data: bytes):
    return check_upload(data, hhu_id="HHU-B", hhu_key=KEY, upload_id="B-1",
                        received_at=datetime(2026, 11, 25, 12, 0, tzinfo=UTC))


def _ddl() -> str:
    """The store's own ``intervals`` table, from its schema."""
    schema = resources.files("hhu_sync.store").joinpath("schema.sql").read_text()
    start = schema.index("CREATE TABLE IF NOT EXISTS intervals")
    return schema[start:schema.index(";", start) + 1]


def child(mode: str, path: str, args: argparse.Namespace) -> None:
    data, _ = build(args.meters, args.channels, args.days, args.step)
    upload = checked(data)
    del data
    if mode == "raw":
        rows = [row for _, _, it in interval_rows(upload) for row in it]
        del upload
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(_ddl())
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.executemany(f"INSERT INTO intervals VALUES ({','.join('?' * 10)})", rows)
        db.execute("COMMIT")
        seconds = time.perf_counter() - started
        count = len(rows)
        db.close()
    else:
        store = SqliteStore(path)
        count = upload.interval_count()
        started = time.perf_counter()
        report = store.ingest(upload, "2026-11-25T12:00:00+00:00")
        seconds = time.perf_counter() - started
        assert report.intervals_stored == count, report
        store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{mode} {count} {seconds:.6f} {peak:.1f}")


def run_child(mode: str, args: argparse.Namespace) -> tuple[int, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--db", str(Path(tmp) / "db.sqlite"),
             "--meters", str(args.meters), "--channels", str(args.channels),
             "--days", str(args.days), "--step", str(args.step)],
            check=True, capture_output=True, text=True).stdout.split()
    return int(out[1]), float(out[2]), float(out[3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--step", type=int, default=1800)
    parser.add_argument("--child", choices=("raw", "ours"))
    parser.add_argument("--db")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.db, args)
        return
    started = time.perf_counter()
    data, visits = build(args.meters, args.channels, args.days, args.step)
    built = time.perf_counter() - started
    started = time.perf_counter()
    upload = checked(data)
    check_s = time.perf_counter() - started
    intervals = upload.interval_count()
    from hhu_sync.transfer import decode_transfer
    header = decode_transfer(data, KEY).header
    expanded = header.expanded_size
    wire_s = len(data) * 10 / LINE_BAUD
    print(f"upload: {visits} visits, {intervals} intervals, {len(data)} bytes sealed "
          f"({len(data) / intervals:.2f} B/interval), payload {expanded} bytes expanded "
          f"({expanded / intervals:.2f} B/interval), {header.compression}; "
          f"sha256 {hashlib.sha256(data).hexdigest()[:12]}")
    print(f"line: {wire_s:.1f} s at {LINE_BAUD} baud (8N1, no link overhead); goodput "
          f"{expanded / wire_s:.0f} B/s of payload = {expanded / wire_s / (LINE_BAUD / 10):.2f}"
          f" x line rate; {intervals / wire_s:.0f} intervals/s")
    # the same values without delta coding (each mantissa as itself): what goodput counts
    # when the useful bytes are the values as msgpack carries them plainly
    plain = expanded + sum(len(msgpack.packb(list(run.values))) - len(msgpack.packb(
        encode_profile(ChannelSeries(series.channel, series.interval_s, series.exponent,
                                     (run,)))[4][0][1]))
        for _, series in upload.profiles for run in series.runs)
    print(f"plain (not delta-coded) payload {plain} bytes ({plain / intervals:.2f} "
          f"B/interval): goodput {plain / wire_s / (LINE_BAUD / 10):.2f} x line rate")
    print(f"build {built:.2f} s, check (decode + parse) {check_s:.2f} s "
          f"({intervals / check_s:.0f} intervals/s)")
    del upload
    results = {}
    for mode in ("raw", "ours", "raw", "ours"):       # interleaved: the machine is shared
        count, seconds, peak = run_child(mode, args)
        best = results.get(mode)
        if best is None or seconds < best[1]:
            results[mode] = (count, seconds, peak)
        print(f"  {mode:4} {count} rows in {seconds:.3f} s ({count / seconds:,.0f} rows/s), "
              f"peak {peak:.0f} MB")
    raw, ours = results["raw"], results["ours"]
    print(f"intervals: {ours[0] / ours[1]:,.0f} rows/s, sqlite {raw[0] / raw[1]:,.0f} rows/s, "
          f"ratio {raw[1] / ours[1]:.2f}, peak MB {ours[2]:.0f}")


if __name__ == "__main__":
    main()
