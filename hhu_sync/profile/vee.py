"""Validation (the first V of VEE) of one meter's interval data from one read.

Pure: the series, events and register spans come in, findings go out; the ingest records
each finding against the intervals it names and raises it as an exception. Nothing is
dropped or changed here: a suspicious value stays as the meter sent it, with its finding.
Every finding names a *range* of interval ends (first, last, count) so that a month-long
gap is one finding, not 1,440, and yet says exactly which intervals it covers.

The checks are the ones utilities apply (``../shared/domain.md``, "Validation (VEE)"):
missing intervals, register advance against the sum of intervals over the same span,
spikes, runs of zeros, negative values, clock sets, DST changes, short or long intervals,
outages against the event log, channels or interval length changed since the last read,
the meter's clock off at the visit, and intervals that end after the meter was read
(a meter cannot have recorded them: a corrupt or forged profile).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from statistics import median

from hhu_sync.profile.events import EventKind, MeterEvent
from hhu_sync.profile.flags import IntervalStatus
from hhu_sync.profile.series import ChannelSeries, Run
from hhu_sync.profile.times import iso_z


class VeeCode(enum.StrEnum):
    """What a finding is. A storage and export contract: add, never rename."""

    MISSING = "missing"                    #: expected intervals with no value
    REGISTER_MISMATCH = "register_mismatch"  #: sum of intervals != register advance
    SPIKE = "spike"                        #: far above the channel's typical value
    ZERO_RUN = "zero_run"                  #: too many consecutive zero intervals
    NEGATIVE = "negative"                  #: a negative energy value
    CLOCK_SET = "clock_set"                #: the meter's clock was set in the interval
    DST_CHANGE = "dst_change"              #: the season changed in the interval
    SHORT_INTERVAL = "short_interval"
    LONG_INTERVAL = "long_interval"
    OUTAGE_MISMATCH = "outage_mismatch"    #: flagged outages != power-down events
    CONFIG_CHANGED = "config_changed"      #: channel set or interval length changed
    CLOCK_OFF = "clock_off"                #: the meter's clock was off at the visit
    METER_FLAGGED = "meter_flagged"        #: the meter itself marked the interval bad
    FUTURE = "future_interval"             #: ends after the meter was read


@dataclass(frozen=True, slots=True)
class Finding:
    """One validation failure over the intervals ending ``first_end``..``last_end``
    (``count`` of them) on ``channel`` (``""`` when it concerns the whole meter)."""

    code: VeeCode
    channel: str
    first_end: int | None
    last_end: int | None
    count: int
    detail: str


@dataclass(frozen=True, slots=True)
class RegisterSpan:
    """A register's advance between two reads, for the sum-of-intervals check: the
    energy the register counted in (``start_at``, ``end_at``], in the channel's unit."""

    channel: str
    start_at: int
    end_at: int
    advance: Decimal


@dataclass(frozen=True, slots=True)
class Shape:
    """What a meter's profile looked like at a read: compared with the next one."""

    channels: tuple[str, ...]
    interval_s: int


@dataclass(frozen=True, slots=True)
class VeeLimits:
    """Thresholds; a depot may set its own. Defaults are conservative (few false alarms)."""

    #: A value above this many times the channel's median positive value in the read...
    spike_factor: Decimal = Decimal(10)
    #: ...and above this many units (a near-idle channel's blips are not spikes).
    spike_floor: Decimal = Decimal(1)
    #: This many consecutive zeros on a channel that is otherwise not idle.
    zero_run: int = 8
    #: Sum of intervals may differ from the register advance by this fraction...
    register_relative: Decimal = Decimal("0.005")
    #: ...or by this many units, whichever is larger (register and interval rounding).
    register_absolute: Decimal = Decimal("0.2")
    #: The meter's clock may be off by this many seconds at the visit.
    clock_tolerance_s: int = 60


DEFAULT_LIMITS = VeeLimits()
#: Units whose intervals are energy (summed); others (kW, kvar) are averages.
ENERGY_UNITS = frozenset({"kWh", "kvarh", "kVAh", "Wh", "varh", "VAh"})
_FLAG_CODES = (
    (IntervalStatus.CLOCK_SET, VeeCode.CLOCK_SET, "the meter's clock was set"),
    (IntervalStatus.DST_CHANGE, VeeCode.DST_CHANGE, "summer/winter time changed"),
    (IntervalStatus.SHORT, VeeCode.SHORT_INTERVAL, "the meter flagged a short interval"),
    (IntervalStatus.LONG, VeeCode.LONG_INTERVAL, "the meter flagged a long interval"),
    (IntervalStatus.DISTURBED | IntervalStatus.FATAL_ERROR | IntervalStatus.CLOCK_INVALID,
     VeeCode.METER_FLAGGED, "the meter flagged the interval as not valid"))


def validate(series: Sequence[ChannelSeries], events: Sequence[MeterEvent] | None = None, *,
             expected: tuple[int, int] | None = None,
             registers: Sequence[RegisterSpan] = (), previous: Shape | None = None,
             clock_offset_s: int | None = None, read_at: int | None = None,
             limits: VeeLimits = DEFAULT_LIMITS) -> list[Finding]:
    """Every finding for one meter's read.

    ``expected``: the span (start, end] of interval ends the read should cover (from the
    read's ``since`` to the visit), for the missing-interval check; ``previous``: the shape
    at the last read; ``clock_offset_s``: meter clock minus HHU clock at the visit;
    ``events``: the event log read at the same visit, None when it was not read (then
    outages are not compared with it); ``read_at``: the visit's time (UTC seconds), for
    intervals that end after it, by the meter's clock (``clock_offset_s``, when read)
    give or take ``limits.clock_tolerance_s``.
    """
    findings: list[Finding] = []
    for one in series:
        findings += _channel_findings(one, expected, limits)
    if read_at is not None:
        latest = read_at + max(clock_offset_s or 0, 0) + limits.clock_tolerance_s
        for one in series:
            findings += _future_check(one, latest, read_at)
    by_code = {s.channel.code: s for s in series}
    for span in registers:
        if span.channel in by_code:
            findings += _register_check(by_code[span.channel], span, limits)
    if series and events is not None:
        findings += _outage_check(series[0], events)
    if series:
        shape = Shape(tuple(sorted(s.channel.code for s in series)), series[0].interval_s)
        if previous is not None and shape != Shape(tuple(sorted(previous.channels)),
                                                   previous.interval_s):
            findings.append(Finding(VeeCode.CONFIG_CHANGED, "", None, None, 0,
                                    f"was {_shape_text(previous)}, now {_shape_text(shape)}"))
    if clock_offset_s is not None and abs(clock_offset_s) > limits.clock_tolerance_s:
        findings.append(Finding(VeeCode.CLOCK_OFF, "", None, None, 0,
                                f"meter clock {clock_offset_s:+d} s off at the visit "
                                f"(tolerance {limits.clock_tolerance_s} s)"))
    return findings


def shape_of(series: Sequence[ChannelSeries]) -> Shape | None:
    """The channel set (sorted: the order a meter lists them in is not a change) and
    interval length."""
    return (Shape(tuple(sorted(s.channel.code for s in series)), series[0].interval_s)
            if series else None)


def _shape_text(shape: Shape) -> str:
    n = len(shape.channels)
    return f"{n} channel{'' if n == 1 else 's'} ({', '.join(shape.channels)}) at " \
           f"{shape.interval_s // 60} min"


def _ranges(ends: Iterable[int], step: int) -> list[tuple[int, int, int]]:
    """Consecutive interval ends grouped: (first, last, count)."""
    out: list[tuple[int, int, int]] = []
    for end in ends:
        if out and end - out[-1][1] == step:
            first, _, count = out[-1]
            out[-1] = (first, end, count + 1)
        else:
            out.append((end, end, 1))
    return out


def _channel_findings(one: ChannelSeries, expected: tuple[int, int] | None,
                      limits: VeeLimits) -> list[Finding]:
    """One channel's findings. Written for the common case, a clean profile: each check
    first asks cheaply whether it can find anything (a run's statuses all zero, no value
    below zero, as many values as the span holds), so a clean month of four channels
    costs a few C-speed passes, not a Python loop a check."""
    code, step = one.channel.code, one.interval_s
    runs = one.runs
    found: list[Finding] = []

    def grouped(vcode: VeeCode, ends: list[int], detail: str) -> None:
        for first, last, count in _ranges(ends, step):
            found.append(Finding(vcode, code, first, last, count, detail))

    flagged = [run for run in runs if any(run.status)]
    if flagged:
        marked = [(run.first_end + k * step, status) for run in flagged
                  for k, status in enumerate(run.status) if status]
        for flag, vcode, detail in _FLAG_CODES:
            bits = int(flag)        # an int: IntFlag's own & is slow by the million
            grouped(vcode, [end for end, status in marked if status & bits], detail)
    # Irregular spacing between runs: a clock set that the meter did not flag.
    for before, after in zip(runs, runs[1:], strict=False):
        if not before.values:
            continue
        last = before.first_end + step * (len(before.values) - 1)
        gap = after.first_end - last
        if gap <= 0 or gap % step:
            vcode = VeeCode.SHORT_INTERVAL if gap % step < step // 2 or gap <= 0 \
                else VeeCode.LONG_INTERVAL
            found.append(Finding(vcode, code, after.first_end, after.first_end, 1,
                                 f"{gap} s after the previous interval, not a multiple "
                                 f"of {step} s"))
    values = [v for run in runs for v in run.values if v is not None]
    holes = sum(len(run.values) for run in runs) - len(values)
    if expected is not None:
        start, stop = expected
        first = start - start % step + step
        found += [Finding(VeeCode.MISSING, code, a, b, count,
                          "no value for an expected interval")
                  for a, b, count in _missing_ranges(runs, step, first, stop)]
    elif holes:
        grouped(VeeCode.MISSING, [run.first_end + k * step for run in runs
                                  for k, v in enumerate(run.values) if v is None],
                "the meter recorded no value")
    if not values:
        return found

    def ends_where(test: Callable[[int], bool]) -> list[int]:
        return [run.first_end + k * step for run in runs for k, v in enumerate(run.values)
                if v is not None and test(v)]

    if one.channel.unit in ENERGY_UNITS and min(values) < 0:
        grouped(VeeCode.NEGATIVE, ends_where(lambda v: v < 0), "a negative energy value")
    positive = [v for v in values if v > 0]
    if positive:
        typical = one.value(int(median(positive)))
        high = max(typical * limits.spike_factor, limits.spike_floor)
        # the threshold as a mantissa: values compared as integers, not decimals
        ceiling = int((high.scaleb(-one.exponent)).to_integral_value(ROUND_FLOOR))
        if max(positive) > ceiling:
            for end in ends_where(lambda v: v > ceiling):
                value = next(v for run in runs for k, v in enumerate(run.values)
                             if run.first_end + k * step == end)
                assert value is not None
                found.append(Finding(VeeCode.SPIKE, code, end, end, 1,
                                     f"{one.value(value)} {one.channel.unit} is over "
                                     f"{limits.spike_factor} x the typical {typical}"))
        # Zeros are news only on a channel that mostly counts (an export channel at a
        # consumer is zero all day).
        if 0 in values and len(positive) * 2 > len(values):
            zeros = [run.first_end + k * step for run in runs
                     for k in _positions(run.values, 0)]
            for first_end, last, count in _ranges(zeros, step):
                if count >= limits.zero_run:
                    found.append(Finding(VeeCode.ZERO_RUN, code, first_end, last, count,
                                         f"{count} consecutive zero intervals"))
    return found


def _positions(values: tuple[int | None, ...], target: int) -> list[int]:
    """Where ``target`` is in ``values``, found by ``tuple.index`` (C speed)."""
    out: list[int] = []
    at = -1
    try:
        while True:
            at = values.index(target, at + 1)
            out.append(at)
    except ValueError:
        return out


def _missing_ranges(runs: Sequence[Run], step: int, first: int,
                    stop: int) -> list[tuple[int, int, int]]:
    """The grid ends in [first, stop] with no measured value, as ranges of consecutive
    ends (first, last, count). Runs on the grid (the usual case) are walked by
    arithmetic: the gaps between them are counted, never listed (a visit's time decades
    on spans millions of ends), and only the meter's own empty values are looked at one
    by one; runs off the grid fall back to the sorted ends they hold."""
    out: list[tuple[int, int, int]] = []
    if stop < first:
        return out
    last_grid = first + (stop - first) // step * step

    def gap(a: int, b: int) -> None:           # the grid ends a..b, none measured
        if out and a - out[-1][1] == step:
            out[-1] = (out[-1][0], b, out[-1][2] + (b - a) // step + 1)
        else:
            out.append((a, b, (b - a) // step + 1))

    ordered = sorted((r for r in runs if r.values), key=lambda r: r.first_end)
    overlap = any(b.first_end <= a.first_end + (len(a.values) - 1) * step
                  for a, b in zip(ordered, ordered[1:], strict=False))
    cursor = first                         # the next grid end not yet accounted for
    if overlap or any((run.first_end - first) % step for run in runs):
        have = sorted({end for run in runs for k, v in enumerate(run.values)
                       if v is not None and first <= (end := run.first_end + k * step) <= stop
                       and not (end - first) % step})
        for end in have:
            if end > cursor:
                gap(cursor, end - step)
            cursor = end + step
    else:
        for run in ordered:
            n = len(run.values)
            last = run.first_end + (n - 1) * step
            if last < cursor:
                continue
            before = min(run.first_end - step, last_grid)
            if before >= cursor:
                gap(cursor, before)
            lo = max(0, (cursor - run.first_end) // step)
            hi = min(n, (stop - run.first_end) // step + 1)
            if hi > lo and None in run.values[lo:hi]:
                for k in range(lo, hi):
                    if run.values[k] is None:
                        gap(run.first_end + k * step, run.first_end + k * step)
            cursor = max(cursor, last + step)
            if cursor > stop:
                break
    if cursor <= last_grid:
        gap(cursor, last_grid)
    return out


def _register_check(one: ChannelSeries, span: RegisterSpan,
                    limits: VeeLimits) -> list[Finding]:
    inside = [(end, value) for end, value, _ in one.intervals()
              if span.start_at < end <= span.end_at and value is not None]
    if not inside or one.channel.unit not in ENERGY_UNITS:
        return []
    total = one.value(sum(value for _, value in inside))
    allowed = max(abs(span.advance) * limits.register_relative, limits.register_absolute)
    if abs(total - span.advance) <= allowed:
        return []
    return [Finding(VeeCode.REGISTER_MISMATCH, one.channel.code, inside[0][0], inside[-1][0],
                    len(inside), f"intervals sum to {total} {one.channel.unit}, the register "
                    f"advanced {span.advance} (allowed {allowed})")]


def _future_check(one: ChannelSeries, latest: int, read_at: int) -> list[Finding]:
    """Intervals ending after ``latest``: one finding a run, found by arithmetic (a
    forged run of a million intervals costs no loop)."""
    step, found = one.interval_s, []
    for run in one.runs:
        n = len(run.values)
        last = run.first_end + (n - 1) * step
        if n == 0 or last <= latest:
            continue
        skip = max(0, (latest - run.first_end) // step + 1)    # ends <= latest
        first = run.first_end + skip * step
        found.append(Finding(VeeCode.FUTURE, one.channel.code, first, last, n - skip,
                             f"{n - skip} intervals end after the meter was read "
                             f"({iso_z(read_at)})"))
    return found


def _outage_check(one: ChannelSeries, events: Sequence[MeterEvent]) -> list[Finding]:
    """Outages the profile flags (runs of power-fail intervals) against power-down
    events in the same span: a mismatch means lost events or unflagged intervals."""
    rows = one.intervals()
    if not rows:
        return []
    failed = [end for end, _, status in rows if status & IntervalStatus.POWER_FAIL]
    flagged = len(_ranges(failed, one.interval_s))
    first = rows[0][0] - one.interval_s
    last = rows[-1][0]
    downs = sum(1 for e in events
                if e.kind is EventKind.POWER_DOWN and first < e.at <= last)
    if flagged == downs:
        return []
    return [Finding(VeeCode.OUTAGE_MISMATCH, "", rows[0][0], last, len(rows),
                    f"{flagged} outages flagged in the profile, {downs} power-down events "
                    "in the log")]
