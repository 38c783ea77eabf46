"""``hhu-sync billing``: billing determinants per meter and period from stored intervals.

Energy per TOU rate (the scheme in force at the period's end, else ``--scheme``, else one
rate), maximum demand over the scheme's demand period with its time, average power
factor, and how complete the intervals are; each compared with the meter's own registers
(:mod:`hhu_sync.store.billing_rules`), a mismatch beyond tolerance recorded once as a
``billing_mismatch`` exception. Times in the output are UTC and say so.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hhu_sync.cli.common import config_of, store_of
from hhu_sync.errors import CliError
from hhu_sync.export.cells import safe_cell
from hhu_sync.model.tou import TouTable
from hhu_sync.profile.billing import Determinants, determinants, month_period, rates_seen
from hhu_sync.profile.held import series_from_held
from hhu_sync.profile.times import iso_z as _iso
from hhu_sync.safetext import escape_controls
from hhu_sync.store.billing_rules import (
    READ_WINDOW_S,
    REGISTER_PREFIXES,
    Comparison,
    compare_registers,
    exception_rows,
    read_window,
    summary,
    without_future,
)

_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])", re.ASCII).fullmatch
DEFAULT_DEMAND_MINUTES = 30
#: Intervals this far around the period are read too: the registers' span may be wider.
READ_SPAN = READ_WINDOW_S + 86400


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("billing", help="billing determinants from stored load profiles",
                       description="Per meter and month: energy per TOU rate (the scheme "
                                   "in force, applied in the meter's local time with DST), "
                                   "maximum demand with its time, average power factor, "
                                   "and the intervals found against those expected; "
                                   "each compared with the meter's own registers, a "
                                   "mismatch recorded once as a billing_mismatch "
                                   "exception.")
    p.add_argument("--period", required=True, metavar="YYYY-MM", help="the billing month")
    p.add_argument("--meter", metavar="SERIAL", help="one meter (default: every meter "
                   "with intervals)")
    p.add_argument("--zone", default="UTC", help="the meters' time zone (IANA name, e.g. "
                   "Europe/London; default UTC)")
    p.add_argument("--scheme", metavar="ID", help="the TOU calendar to apply when a "
                   "meter has no scheme programmed and verified")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="JSON, one object per meter")
    out.add_argument("--csv", action="store_true", help="CSV, one row per meter")
    p.set_defaults(func=run_billing)




def comparison_dict(c: Comparison) -> dict[str, Any]:
    return {"outcome": c.outcome, "reason": c.reason or None, "compared": list(c.compared),
            "span_start_utc": _iso(c.spanned.period.start) if c.spanned else None,
            "span_end_utc": _iso(c.spanned.period.end) if c.spanned else None,
            "mismatches": [{"what": m.what, "register": m.code, "from_intervals":
                            str(m.computed), "register_value": str(m.register),
                            "allowed": str(m.allowed)} for m in c.mismatches],
            "notes": list(c.notes)}


def as_dict(d: Determinants, c: Comparison | None = None) -> dict[str, Any]:
    return {"meter": d.meter, "period": d.period.label,
            "period_start_utc": _iso(d.period.start), "period_end_utc": _iso(d.period.end),
            "energy_by_rate_kwh": {str(k): str(v) for k, v in d.energy_by_rate.items()},
            "import_kwh": str(d.import_kwh), "export_kwh": str(d.export_kwh),
            "reactive_kvarh": str(d.reactive_kvarh),
            "max_demand_kw": str(d.max_demand.kw) if d.max_demand else None,
            "max_demand_end_utc": _iso(d.max_demand.end) if d.max_demand else None,
            "power_factor": str(d.power_factor) if d.power_factor is not None else None,
            "intervals": d.intervals, "estimated": d.estimated, "expected": d.expected,
            "notes": list(d.notes),
            "registers": comparison_dict(c) if c is not None else None}


def run_billing(args: argparse.Namespace) -> int:
    if not _MONTH(args.period):
        raise CliError(f"--period {args.period!r}: expected a month YYYY-MM")
    try:
        zone = ZoneInfo(args.zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CliError(f"--zone {args.zone!r}: not a time zone name (e.g. Europe/London)"
                       ) from None
    try:        # year 1's read window starts in year 0, 9999-12 ends in 10000
        period = month_period(args.period, zone)
        since, until = read_window(period)
    except (ValueError, OverflowError, OSError):
        raise CliError(f"--period {args.period!r}: out of range (its month and the "
                       f"{READ_WINDOW_S // 86400} days either side must be in years "
                       "1 to 9999)") from None
    store = store_of(config_of(args))
    try:
        library = store.library()
        if args.scheme and args.scheme not in library:
            raise CliError(f"--scheme {args.scheme!r}: not in the scheme library")
        meters = [args.meter] if args.meter else store.interval_meters()
        found: list[tuple[Determinants, Comparison]] = []
        exceptions: list[tuple] = []
        now = datetime.now(UTC).isoformat()
        for meter in meters:
            # the registers' span may reach a few days either side of the period
            since_s, until_s = period.start - READ_SPAN, period.end + READ_SPAN
            held, left_out = without_future(
                store.intervals(meter, since=since_s, until=until_s),
                store.future_spans(meter, since=since_s, until=until_s))
            if not any(period.start < h.interval_end <= period.end for h in held):
                if args.meter:
                    raise CliError(f"meter {meter}: no intervals held for {args.period}")
                continue
            scheme_id = store.scheme_in_force(meter, _iso(period.end)) or args.scheme
            scheme = library.get(scheme_id) if scheme_id else None
            tou = TouTable.from_scheme(scheme) if scheme else TouTable.flat()
            demand = scheme.demand_period_minutes if scheme else DEFAULT_DEMAND_MINUTES
            series = series_from_held(held)
            d = determinants(meter, series, period, tou, zone, demand)
            if left_out:
                d = replace(d, notes=(*d.notes, f"{left_out} intervals left out: they end "
                                      "after the meter was read (future_interval)"))
            reads = store.register_reads(meter, since, until, REGISTER_PREFIXES)
            c = compare_registers(meter, series, reads, period, tou, zone, demand)
            found.append((d, c))
            exceptions += exception_rows(meter, c, now)
        recorded = store.add_exceptions_once(exceptions) if exceptions else 0
    finally:
        store.close()
    if args.json:
        json.dump([as_dict(d, c) for d, c in found], sys.stdout, indent=2)
        print()
    elif args.csv:
        rates = rates_seen(d for d, _ in found)
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["meter", "period", *(f"rate_{r}_kwh" for r in rates), "import_kwh",
                         "export_kwh", "reactive_kvarh", "max_demand_kw",
                         "max_demand_end_utc", "power_factor", "intervals", "estimated", "expected",
                         "registers"])
        for d, c in found:
            row = as_dict(d)
            writer.writerow([safe_cell(d.meter), d.period.label,   # as the exports
                             *(str(d.energy_by_rate.get(r, "")) for r in rates),
                             row["import_kwh"], row["export_kwh"], row["reactive_kvarh"],
                             row["max_demand_kw"] or "", row["max_demand_end_utc"] or "",
                             row["power_factor"] or "", d.intervals, d.estimated, d.expected,
                             summary(c)])
    else:
        if not found:
            print(f"no meter has intervals for {args.period}")
        for d, c in found:
            row = as_dict(d)
            per_rate = ", ".join(f"rate {k}: {v} kWh" for k, v in d.energy_by_rate.items())
            md = (f"{row['max_demand_kw']} kW ending {row['max_demand_end_utc']}"
                  if d.max_demand else "none")
            print(f"{escape_controls(d.meter)} {d.period.label}: import {d.import_kwh} kWh "
                  f"({per_rate}); "
                  f"export {d.export_kwh} kWh; max demand {md}; power factor "
                  f"{row['power_factor'] or '-'}; {d.intervals} of {d.expected} intervals"
                  + (f" ({d.estimated} more estimated)" if d.estimated else "")
                  + (f"; {'; '.join(d.notes)}" if d.notes else "")
                  + f"; registers: {summary(c)}")
    if exceptions:           # on stderr for JSON and CSV: their stdout is the data
        print(f"{recorded} billing_mismatch exception{'s' if recorded != 1 else ''} "
              f"recorded ({len(exceptions) - recorded} already held)",
              file=sys.stdout if not (args.json or args.csv) else sys.stderr)
    return 0
