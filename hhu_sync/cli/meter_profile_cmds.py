"""`hhu-sync meter profile|events`: a meter's load profile and logbook (event log).

Two dialects, chosen by the meter's identification (manufacturer ``GEC`` or ``ELS``:
Elster) or by the catalog's ``profile_dialect`` of ``--model``; ``--dialect`` forces one.
VDEW (EMH, Landis+Gyr, Iskra, MetCom): P.01 and P.98 in programming mode with R6
(partial blocks; ``--r5`` asks for one block). Elster (A1140, A1700, AS230): W1 551 to
select, then registers 550 (profile) and 560 (event log) block by block; ``--from``
selects the days back to it and the range is cut on our side. Times in the output are
UTC (``...Z``); ``--from`` / ``--to`` are the meter's local time in ``--zone`` unless
they carry an offset. Exit codes as for the other meter commands.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from serial import SerialException

from hhu_sync.cli.common import catalog_of, config_of
from hhu_sync.cli.humanize import counted
from hhu_sync.cli.meter_cmds import (
    LineDropped,
    _client,
    _common,
    _fail,
    _line_lost,
    _secret,
    heard_from,
)
from hhu_sync.config import Config
from hhu_sync.errors import CliError
from hhu_sync.iec62056 import Identification
from hhu_sync.iec62056.loadprofile import (
    LOGBOOK,
    PROFILE,
    LocalStamp,
    MeterClock,
    ProfileRead,
    to_events,
    to_series,
)
from hhu_sync.meterio import MeterIOError
from hhu_sync.meterio.client import PasswordRefused
from hhu_sync.meterio.elster import (
    ELSTER_MAKERS,
    days_since,
    read_elster_events,
    read_elster_profile,
    standard_offset_s,
)
from hhu_sync.meterio.interval_read import DEFAULT_READ_PASSWORD
from hhu_sync.meterio.profile import read_profile, request_stamp
from hhu_sync.profile.events import MeterEvent
from hhu_sync.profile.flags import IntervalStatus
from hhu_sync.profile.series import ChannelSeries, runs_of
from hhu_sync.profile.times import iso_z as _iso


def register(msub: argparse._SubParsersAction) -> None:
    p = msub.add_parser("profile", help="the load profile P.01 (interval values)",
                        description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    _options(p)
    p.set_defaults(func=run_profile)
    e = msub.add_parser("events", help="the logbook P.98 (power failures, clock sets...)",
                        description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    _options(e)
    e.set_defaults(func=run_events)


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="start", metavar="T",
                   help="first interval end wanted (ISO time; default: all the meter holds)")
    p.add_argument("--to", dest="end", metavar="T", help="last interval end wanted")
    p.add_argument("--zone", default="UTC",
                   help="the meter's time zone (IANA, e.g. Europe/Berlin; default UTC)")
    p.add_argument("--password-ref", metavar="REF",
                   help=f"key-store secret to log in with (default: {DEFAULT_READ_PASSWORD})")
    p.add_argument("--r5", action="store_true", help="ask for one block (R5), not R6")
    p.add_argument("--dialect", choices=("auto", "vdew", "elster"), default="auto",
                   help="how to read (auto: the catalog model's, else by the meter's "
                        "manufacturer code)")
    p.add_argument("--model", metavar="NAME",
                   help="the meter's catalog model (its profile_dialect decides)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="machine-readable output")
    out.add_argument("--csv", action="store_true", help="one row per interval (or event)")
    _common(p)


def _clock(zone: str) -> MeterClock:
    try:
        return MeterClock.of(None if zone.upper() == "UTC" else zone)
    except (ValueError, KeyError, OSError) as exc:
        raise CliError(f"--zone {zone!r}: not a known time zone ({exc})") from None


def _when(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"{flag}: {value!r} is not a time such as 2026-11-01T00:00") from None


@dataclass
class _Read:
    """One read, whatever the dialect: what the output functions print."""

    meter: str
    dialect: str
    empty: bool
    blocks: int
    profile: ProfileRead | None = None
    events: list[MeterEvent] = field(default_factory=list)


def _utc(when: datetime | None, clock: MeterClock) -> int | None:
    if when is None:
        return None
    if when.tzinfo is None:
        return clock.to_utc(LocalStamp(when, None))
    return int(when.astimezone(UTC).timestamp())


def dialect_of(choice: str, model: str | None, ident: Identification,
               config: Config | None = None) -> str:
    """``--dialect`` if forced; else the catalog model's profile_dialect; else Elster
    for the manufacturer codes Elster meters identify with (GEC, ELS), VDEW otherwise."""
    if choice != "auto":
        return choice
    if model:
        catalog = catalog_of(config) if config is not None else {}
        entry = catalog.get(model)
        if entry is None:
            raise CliError(f"--model {model!r}: not in the meter model catalog")
        if not entry.profile_dialect:
            raise CliError(f"--model {model}: the catalog gives it no load profile")
        return entry.profile_dialect
    return "elster" if ident.manufacturer.upper() in ELSTER_MAKERS else "vdew"


def _clip(series: tuple[ChannelSeries, ...], lo: int | None, hi: int | None
          ) -> ProfileRead:
    """The intervals with ends in [lo, hi] as a ProfileRead (runs rebuilt); the raw
    status of an Elster interval is our status word (the flag byte is mapped)."""
    out: list[ChannelSeries] = []
    raws: list[tuple[int, ...]] = []
    for s in series:
        kept = [iv for iv in s.intervals() if (lo is None or iv[0] >= lo)
                and (hi is None or iv[0] <= hi)]
        runs = runs_of(kept, s.interval_s)
        if runs:
            out.append(ChannelSeries(s.channel, s.interval_s, s.exponent, runs))
            raws.append(tuple(st for _, _, st in kept))
    return ProfileRead(tuple(out), tuple(raws), None, tuple(range(len(out))))


def _read(args: argparse.Namespace, address: str) -> tuple[_Read, MeterClock]:
    config = config_of(args)
    clock = _clock(args.zone)
    when_lo, when_hi = _when(args.start, "--from"), _when(args.end, "--to")
    start, end = request_stamp(when_lo, clock), request_stamp(when_hi, clock)
    lo, hi = _utc(when_lo, clock), _utc(when_hi, clock)
    password = _secret(config, args.password_ref) if args.password_ref else \
        DEFAULT_READ_PASSWORD
    if args.model or args.dialect != "auto":      # a bad --model fails before the line
        dialect_of(args.dialect, args.model, Identification("", "0", ""), config)
    zone = None if args.zone.upper() == "UTC" else args.zone
    client, port = _client(args, config)
    try:
        with client.programming(args.address, password, args.password_kind) as session:
            ident = session.identification
            meter = f"{ident.manufacturer} {ident.ident}"
            dialect = dialect_of(args.dialect, args.model, ident, config)
            if dialect == "vdew":
                answer = read_profile(session, address, start=start, end=end,
                                      partial=not args.r5)
                if address == PROFILE:
                    read = _Read(meter, dialect, answer.empty, answer.blocks,
                                 profile=to_series(answer.decoded.sections, clock))
                else:
                    read = _Read(meter, dialect, answer.empty, answer.blocks,
                                 events=to_events(answer.decoded.entries, clock))
            elif address == PROFILE:
                offset = standard_offset_s(zone)
                got = read_elster_profile(session, std_offset_s=offset,
                                          days=days_since(session, lo, offset))
                clipped = _clip(got.profile.series, lo, hi)
                read = _Read(meter, dialect, not clipped.series, got.blocks,
                             profile=clipped)
            else:
                events, blocks = read_elster_events(session,
                                                    std_offset_s=standard_offset_s(zone))
                kept = [e for e in events if (lo is None or e.at >= lo)
                        and (hi is None or e.at <= hi)]
                read = _Read(meter, dialect, not kept, blocks, events=kept)
    except (SerialException, OSError) as exc:
        raise LineDropped(exc, heard_from(client)) from exc
    finally:
        port.close()
    return read, clock




def _flags(status: int) -> list[str]:
    return [f.name.lower() for f in IntervalStatus if f.name and status & f]


def profile_rows(read: ProfileRead) -> list[dict[str, Any]]:
    """One row per channel and interval: what --json and --csv print."""
    rows: list[dict[str, Any]] = []
    for i, s in enumerate(read.series):
        raws = read.raw_of(i)
        for (end, mantissa, status), raw in zip(s.intervals(), raws, strict=True):
            rows.append({"end": _iso(end), "channel": s.channel.code, "unit": s.channel.unit,
                         "value": None if mantissa is None else str(s.value(mantissa)),
                         "status": status, "flags": _flags(status), "raw_status": raw,
                         "interval_s": s.interval_s})
    return rows


def _fail_read(exc: MeterIOError, args: argparse.Namespace) -> int:
    """As every meter command fails, and a refused password without --password-ref says
    what was tried and what to give: a utility usually changes the factory default."""
    code = _fail(exc)
    if isinstance(exc, PasswordRefused) and not args.password_ref:
        print(f"hhu-sync: no --password-ref was given, so the default reading password "
              f"{DEFAULT_READ_PASSWORD} was tried; give --password-ref REF (a secret in "
              "the key store)", file=sys.stderr)
    return code


def run_profile(args: argparse.Namespace) -> int:
    try:
        got, _clock_used = _read(args, PROFILE)
    except MeterIOError as exc:
        return _fail_read(exc, args)
    except (SerialException, OSError, LineDropped) as exc:
        return _line_lost(args, exc)
    assert got.profile is not None
    read, meter = got.profile, got.meter
    rows = profile_rows(read)
    if args.json:
        print(json.dumps({"meter": meter, "dialect": got.dialect, "empty": got.empty,
                          "blocks": got.blocks,
                          "series": [{"channel": s.channel.code, "unit": s.channel.unit,
                                      "interval_s": s.interval_s, "exponent": s.exponent,
                                      "count": s.count()} for s in read.series],
                          "intervals": rows}, indent=2))
        return 0
    if args.csv:
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(["end_utc", "channel", "unit", "value", "status", "raw_status", "flags"])
        for r in rows:
            out.writerow([r["end"], r["channel"], r["unit"], r["value"] or "", r["status"],
                          f"{r['raw_status']:04X}", " ".join(r["flags"])])
        return 0
    if got.empty:
        print(f"{meter}: no intervals in the range asked for")
        return 0
    _profile_table(meter, read)
    return 0


def _profile_table(meter: str, read: ProfileRead) -> None:
    """Compact: one line per interval end, a column per channel, the flags last."""
    columns: dict[str, int] = {}
    by_end: dict[int, dict[int, str]] = {}
    status_of: dict[int, int] = {}
    for s in read.series:
        col = columns.setdefault(f"{s.channel.code} {s.channel.unit}", len(columns))
        for end, mantissa, status in s.intervals():
            by_end.setdefault(end, {})[col] = "" if mantissa is None else \
                str(s.value(mantissa))
            status_of[end] = status_of.get(end, 0) | status
    count = sum(s.count() for s in read.series[:1])
    table = Table(title=f"{meter}: {counted(count, 'interval')} (UTC interval ends)")
    table.add_column("end (UTC)", no_wrap=True)
    for name in columns:
        table.add_column(name, justify="right")
    table.add_column("status")
    for end in sorted(by_end):
        cells = by_end[end]
        table.add_row(_iso(end)[:-4].replace("T", " "),  # 2026-11-20 08:15
                      *(cells.get(i, "") for i in range(len(columns))),
                      ",".join(_flags(status_of[end])))
    Console().print(table)


def run_events(args: argparse.Namespace) -> int:
    try:
        got, _clock_used = _read(args, LOGBOOK)
    except MeterIOError as exc:
        return _fail_read(exc, args)
    except (SerialException, OSError, LineDropped) as exc:
        return _line_lost(args, exc)
    events, meter = got.events, got.meter
    rows: list[dict[str, Any]] = [{"at": _iso(e.at), "kind": str(e.kind), "code": e.code,
                                   "data": [list(d) for d in e.data]} for e in events]
    if args.json:
        print(json.dumps({"meter": meter, "dialect": got.dialect, "empty": got.empty,
                          "events": rows}, indent=2))
        return 0
    if args.csv:
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(["at_utc", "kind", "code", "data"])
        for r in rows:
            out.writerow([r["at"], r["kind"], f"{r['code']:08X}",
                          " ".join(f"{c}={v}" for c, v in r["data"])])
        return 0
    if not rows:
        print(f"{meter}: no logbook entries in the range asked for")
        return 0
    table = Table(title=f"{meter}: {counted(len(rows), 'event')} (UTC)")
    for col in ("at (UTC)", "kind", "code", "data"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["at"], r["kind"], f"{r['code']:08X}",
                      " ".join(f"{c}={v}" for c, v in r["data"]))
    Console().print(table)
    return 0
