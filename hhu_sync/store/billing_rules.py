"""Billing determinants against the meter's own registers, above every backend.

A bill computed from intervals and the meter's own tariff registers must agree: where
they do not, either intervals are wrong or missing, or the calendar applied is not the
one the meter counts by, and a clerk must know before the bill goes out. A backend gives
the register reads around a period (:class:`RegisterRead`); :func:`compare_registers`
picks the reads nearest the period's start and end, computes the determinants over the
span between them (the registers counted that span, not the calendar month) and compares;
:func:`exception_rows` turns each mismatch into a ``billing_mismatch`` exception keyed by
(meter, register, the read at the span's end), so a second run records nothing new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from hhu_sync.ingest.status import ExceptionKind, ReadingStatus
from hhu_sync.model.tou import TouTable
from hhu_sync.profile.billing import (
    Determinants,
    Mismatch,
    Period,
    compare,
    compared_pairs,
    determinants,
)
from hhu_sync.profile.series import ChannelSeries
from hhu_sync.profile.times import iso_z as _iso
from hhu_sync.profile.times import utc_seconds as _utc
from hhu_sync.store.interval_rules import HeldInterval

#: A register read this far from the period's start or end still brackets it (a route
#: is read over a few days, not on the 1st at midnight).
READ_WINDOW_S = 3 * 86400
#: Registers of one visit are read within this of each other.
SAME_VISIT_S = 900
TOTAL, DEMAND = "1.8.0", "1.6.0"
_ENERGY_PREFIX = "1.8."
#: The register codes billing asks a backend for (:meth:`Store.register_reads`): energy
#: import per rate and maximum demand.
REGISTER_PREFIXES = (_ENERGY_PREFIX, "1.6.")
_SCALE = {"kWh": Decimal(1), "Wh": Decimal("0.001"), "kW": Decimal(1), "W": Decimal("0.001")}
_NOT_COMPARED = frozenset({ReadingStatus.CONFLICT.value, ReadingStatus.DISMISSED.value})

MATCHED, MISMATCH, NOT_COMPARABLE = "matched", "mismatch", "not_comparable"


@dataclass(frozen=True, slots=True)
class RegisterRead:
    """One stored register reading (``readings`` row), as billing needs it."""

    obis: str
    time: str           # UTC ISO 8601
    value: str
    unit: str
    value_time: str     # the value's own time (a maximum demand's), '' if none
    status: str
    upload_id: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """The outcome for one meter and period: ``matched``, ``mismatch`` (``mismatches``)
    or ``not_comparable`` (``reason``); ``compared`` the register codes compared and
    ``start``/``end`` the 1.8.0 reads that bracket the span."""

    outcome: str
    mismatches: tuple[Mismatch, ...] = ()
    reason: str = ""
    compared: tuple[str, ...] = ()
    start: RegisterRead | None = None
    end: RegisterRead | None = None
    #: The reads used at the span's end, by code (the exceptions' evidence).
    end_reads: tuple[RegisterRead, ...] = ()
    start_reads: tuple[RegisterRead, ...] = ()
    notes: tuple[str, ...] = ()
    #: The determinants over the span the registers bracket (what was compared).
    spanned: Determinants | None = None






def _quantity(read: RegisterRead) -> Decimal | None:
    scale = _SCALE.get(read.unit)
    if scale is None:
        return None
    try:
        return Decimal(read.value) * scale
    except (InvalidOperation, ValueError):
        return None


def _nearest(reads: Iterable[RegisterRead], at: int, within: int) -> RegisterRead | None:
    timed = [(abs(t - at), t, r) for r in reads if (t := _utc(r.time)) is not None
             and abs(t - at) <= within]
    return min(timed, key=lambda x: (x[0], x[1]))[2] if timed else None


def read_window(period: Period) -> tuple[str, str]:
    """The UTC ISO times between which a backend gives register reads for ``period``."""
    def iso(utc: int) -> str:
        return datetime.fromtimestamp(utc, UTC).isoformat()
    return iso(period.start - READ_WINDOW_S), iso(period.end + READ_WINDOW_S)


def span_of(reads: Sequence[RegisterRead], period: Period) -> tuple[int, int] | str:
    """The UTC span the meter's total register counted over the period: from the 1.8.0
    read nearest the period's start to the one nearest its end; else why there is none."""
    totals = [r for r in reads if r.obis == TOTAL and r.status not in _NOT_COMPARED
              and _quantity(r) is not None]
    start = _nearest(totals, period.start, READ_WINDOW_S)
    end = _nearest(totals, period.end, READ_WINDOW_S)
    days = READ_WINDOW_S // 86400
    if start is None or end is None:
        which = "start" if start is None else "end"
        return f"no {TOTAL} read within {days} days of the period's {which}"
    t0, t1 = _utc(start.time), _utc(end.time)
    if t0 is None or t1 is None or t1 <= t0:
        return f"one {TOTAL} read brackets the period (at {start.time})"
    return t0, t1


def without_future(held: Sequence[HeldInterval],
                   spans: Iterable[tuple[str, str, int, int]]) -> tuple[list[HeldInterval], int]:
    """The held intervals billing may use, and how many it leaves out: those a
    ``future_interval`` finding names (an upload's intervals, on its channel or all of
    them, ending after its meter was read: a clock weeks ahead would bill them a period
    early). Kept in the store as sent, as every finding's intervals are."""
    by_upload: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for upload_id, channel, first, last in spans:
        by_upload.setdefault((upload_id, channel), []).append((first, last))
    if not by_upload:
        return list(held), 0
    kept = []
    for h in held:
        ranges = by_upload.get((h.upload_id, h.channel), []) + by_upload.get(
            (h.upload_id, ""), [])
        if not any(first <= h.interval_end <= last for first, last in ranges):
            kept.append(h)
    return kept, len(held) - len(kept)


def compare_registers(meter: str, series: Sequence[ChannelSeries],
                      reads: Sequence[RegisterRead], period: Period, tou: TouTable,
                      zone: ZoneInfo, demand_minutes: int) -> Comparison:
    """Compare the determinants of the span the registers bracket with their advance
    (``1.8.0`` and each rate's ``1.8.N``) and the maximum demand ``1.6.0`` read at the
    span's end, if its time stamp lies in the span (else it may be from before)."""
    usable = [r for r in reads if r.status not in _NOT_COMPARED and _quantity(r) is not None]
    found = span_of(usable, period)
    if isinstance(found, str):
        return Comparison(NOT_COMPARABLE, reason=found)
    t0, t1 = found
    step = series[0].interval_s if series else 0
    if not step:
        return Comparison(NOT_COMPARABLE, reason="no intervals")
    span = Period(period.label, t0 - t0 % step, t1 - t1 % step)
    if span.end <= span.start:
        return Comparison(NOT_COMPARABLE, reason="the reads are less than an interval apart")
    spanned = determinants(meter, series, span, tou, zone, demand_minutes)
    held = spanned.intervals + spanned.estimated     # a short gap estimated still counts
    if held < spanned.expected:
        return Comparison(NOT_COMPARABLE, reason=(
            f"{spanned.expected - held} of {spanned.expected} intervals "
            f"between the reads ({_iso(span.start)} to {_iso(span.end)}) not held"))
    registers: dict[str, Decimal] = {}
    starts: list[RegisterRead] = []
    ends: list[RegisterRead] = []
    notes: list[str] = []
    for code in sorted({r.obis for r in usable if r.obis.startswith(_ENERGY_PREFIX)}):
        mine = [r for r in usable if r.obis == code]
        first = _nearest(mine, t0, SAME_VISIT_S)
        last = _nearest(mine, t1, SAME_VISIT_S)
        if first is None or last is None:
            continue
        registers[code] = (_quantity(last) or Decimal(0)) - (_quantity(first) or Decimal(0))
        starts.append(first)
        ends.append(last)
    demand = _nearest([r for r in usable if r.obis == DEMAND], t1, SAME_VISIT_S)
    if demand is not None:
        stamped = _utc(demand.value_time) if demand.value_time else None
        if stamped is None:
            notes.append(f"{DEMAND} has no time stamp: not compared")
        elif not span.start < stamped <= t1:
            notes.append(f"{DEMAND} stamped {demand.value_time}, outside the span: "
                         "not compared")
        else:
            registers[DEMAND] = _quantity(demand) or Decimal(0)
            ends.append(demand)
    mismatches = tuple(compare(spanned, registers, tou))
    compared = [code for code in dict.fromkeys(c for _, _, c in compared_pairs(spanned, tou))
                if code in registers]
    start = next(r for r in starts if r.obis == TOTAL)
    end = next(r for r in ends if r.obis == TOTAL)
    return Comparison(MISMATCH if mismatches else MATCHED, mismatches,
                      compared=tuple(compared), start=start, end=end,
                      end_reads=tuple(ends), start_reads=tuple(starts), notes=tuple(notes),
                      spanned=spanned)


def summary(c: Comparison) -> str:
    """One line: ``matched (1.8.0, 1.8.1)``, ``mismatch: ...``, ``not comparable: why``."""
    if c.outcome == NOT_COMPARABLE:
        return f"not comparable: {c.reason}"
    if c.outcome == MATCHED:
        return f"matched ({', '.join(c.compared)})"
    return "mismatch: " + "; ".join(
        f"{m.what} {m.computed} from intervals, register {m.code} {m.register} "
        f"(allowed {m.allowed})" for m in c.mismatches)


def exception_rows(meter: str, c: Comparison, now: str) -> list[tuple]:
    """``exceptions`` rows (upload_id, kind, meter, obis, time, value, detail, created):
    one per mismatch, under the register read at the span's end (its upload and key are
    the evidence), both values in the detail."""
    out: list[tuple] = []
    d = c.spanned
    if d is None:
        return out
    start = {r.obis: r for r in c.start_reads}
    end = {r.obis: r for r in c.end_reads}
    for m in c.mismatches:
        last = end[m.code]
        if m.code in start:
            first = start[m.code]
            held = (f"register {m.code} advanced {m.register} ({first.value} at "
                    f"{first.time} to {last.value} at {last.time})")
        else:
            held = f"register {m.code} reads {m.register} (stamped {last.value_time})"
        when = (f", maximum in the block ending {_iso(d.max_demand.end)}"
                if m.code == DEMAND and d.max_demand is not None else "")
        out.append((last.upload_id, ExceptionKind.BILLING_MISMATCH.value, meter, m.code,
                    last.time, None,
                    f"billing {d.period.label}: {m.what} {m.computed} from intervals{when}; "
                    f"{held}; allowed {m.allowed}", now))
    return out
