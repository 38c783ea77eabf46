"""Validation of an upload's interval data at ingest, above every backend.

A backend gives, per visit, what it held *before* this upload (the shape of the meter's
profile, the last interval end, the previous register reads); :func:`visit_findings`
runs :func:`hhu_sync.profile.vee.validate` and :func:`finding_rows` and
:func:`exception_rows` turn its findings into rows: one ``vee_findings`` row per finding
(the range of interval ends it covers: the per-interval record) and one exception each,
for a clerk. Nothing is dropped or changed: the intervals are stored as the meter sent
them whatever is found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from hhu_sync.ingest.status import ExceptionKind
from hhu_sync.ingest.upload import Upload
from hhu_sync.profile.events import MeterEvent
from hhu_sync.profile.series import ChannelSeries
from hhu_sync.profile.times import iso_z as _iso
from hhu_sync.profile.times import utc_seconds as _utc
from hhu_sync.profile.vee import DEFAULT_LIMITS, Finding, RegisterSpan, Shape, VeeLimits, validate

FINDING_COLUMNS = ("upload_id", "visit_seq", "meter", "channel", "code", "first_end",
                   "last_end", "count", "detail", "created_at")
#: Energy registers whose advance is compared with the sum of intervals of that channel.
COMPARED_REGISTERS = ("1.8.0", "2.8.0", "3.8.0", "4.8.0")


@dataclass(frozen=True, slots=True)
class Before:
    """What the store held for a meter before this upload."""

    shape: Shape | None = None
    last_end: int | None = None
    #: OBIS -> (UTC seconds, value text) of the last register read before the visit.
    registers: Mapping[str, tuple[int, str]] | None = None




def _short(code: str) -> str:
    """``1-0:1.8.0`` and ``1.8.0*255`` -> ``1.8.0``, ``1.8`` -> ``1.8.0``."""
    code = code.rpartition(":")[2].partition("*")[0]
    return code + ".0" if code.count(".") == 1 else code


def register_spans(upload: Upload, seq: int, series: Sequence[ChannelSeries],
                   before: Before) -> list[RegisterSpan]:
    """Each compared register's advance since the last read the store held, where both
    reads are plain numbers and the profile has the channel."""
    if not before.registers:
        return []
    visit = upload.visits[seq]
    now = _utc(visit.time)
    codes = {_short(s.channel.code): s.channel.code for s in series}
    out = []
    for index in visit.rows:
        row = upload.readings[index]
        obis, value = row[1], row[3]
        if row[5] == "rejected":
            continue
        if obis not in COMPARED_REGISTERS or obis not in codes or obis not in before.registers:
            continue
        then, old = before.registers[obis]
        try:
            advance = Decimal(value) - Decimal(old)
        except (InvalidOperation, ValueError):
            continue
        if now is not None and then < now:
            out.append(RegisterSpan(codes[obis], then, now, advance))
    return out


def visit_findings(upload: Upload, seq: int, series: Sequence[ChannelSeries],
                   events: Sequence[MeterEvent] | None, before: Before,
                   limits: VeeLimits = DEFAULT_LIMITS) -> list[Finding]:
    """The findings of one visit's profile against what was held before it."""
    if not series:
        return []
    visit = upload.visits[seq]
    # a time that failed its check (in the future, no zone) times nothing, as it gives
    # no clock offset: not the span expected of the profile, nor when the meter was read
    visit_at = _utc(visit.time) if visit.time_ok else None
    step = series[0].interval_s
    firsts = [run.first_end for s in series for run in s.runs if run.values]
    expected = None
    if firsts and visit_at is not None:
        start = min(firsts) - step
        if before.last_end is not None and before.last_end < start:
            start = before.last_end         # the gap since the last read counts too
        expected = (start, visit_at - visit_at % step)
    return validate(series, events, expected=expected,
                    registers=register_spans(upload, seq, series, before),
                    previous=before.shape, clock_offset_s=visit.clock_offset_s,
                    read_at=visit_at, limits=limits)




def finding_rows(upload: Upload, seq: int, findings: Sequence[Finding],
                 now: str) -> list[tuple]:
    meter = upload.visits[seq].meter
    return [(upload.upload_id, seq, meter, f.channel, f.code.value, f.first_end, f.last_end,
             f.count, f.detail, now) for f in findings]


def exception_rows(upload: Upload, seq: int, findings: Sequence[Finding],
                   now: str) -> list[tuple]:
    """``exceptions`` rows (upload_id, kind, meter, obis, time, value, detail, created)."""
    meter = upload.visits[seq].meter
    out = []
    for f in findings:
        span = ""
        if f.first_end is not None:
            span = (f" ({f.count} interval{'s' if f.count != 1 else ''} ending "
                    f"{_iso(f.first_end)}" + (f" to {_iso(f.last_end)})"
                                               if f.last_end != f.first_end else ")"))
        out.append((upload.upload_id, ExceptionKind.INTERVAL_VALIDATION.value, meter,
                    f.channel, _iso(f.first_end), f.code.value,
                    f"visits[{seq}]: {f.code.value}: {f.detail}{span}", now))
    return out
