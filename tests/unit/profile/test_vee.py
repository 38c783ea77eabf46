"""Validation of interval data (issue 15, point 7): every check finds what it is for,
names the intervals it concerns as a range, and leaves a clean profile alone."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hhu_sync.profile.events import EventKind, MeterEvent
from hhu_sync.profile.flags import IntervalStatus as S
from hhu_sync.profile.series import Channel, ChannelSeries, Run
from hhu_sync.profile.vee import RegisterSpan, Shape, VeeCode, VeeLimits, validate

T0 = 1_764_547_200          # 2025-12-01 00:00 UTC, an interval boundary
STEP = 1800
KWH = Channel("1.8.0", "kWh")


def series(values, status=None, first_end=T0 + STEP, channel=KWH, runs=None):
    """A 30-minute kWh channel with exponent -3 (values in Wh)."""
    if runs is None:
        runs = (Run(first_end, tuple(values), tuple(status or [0] * len(values))),)
    return ChannelSeries(channel, STEP, -3, runs)


def codes(findings):
    return [(f.code, f.first_end, f.last_end, f.count) for f in findings]


def test_a_clean_profile_has_no_findings():
    one = series([500, 520, 480, 510] * 12)
    assert validate([one], [], expected=(T0, T0 + 48 * STEP),
                    registers=[RegisterSpan("1.8.0", T0, T0 + 48 * STEP, Decimal("24.120"))],
                    previous=Shape(("1.8.0",), STEP), clock_offset_s=5) == []


def test_missing_intervals_are_one_finding_per_gap():
    values = [500] * 10
    runs = (Run(T0 + STEP, tuple(values[:4]), (0,) * 4),
            Run(T0 + 8 * STEP, tuple(values[4:]), (0,) * 6))
    found = validate([series(None, runs=runs)], expected=(T0, T0 + 16 * STEP))
    assert codes(found) == [(VeeCode.MISSING, T0 + 5 * STEP, T0 + 7 * STEP, 3),
                            (VeeCode.MISSING, T0 + 14 * STEP, T0 + 16 * STEP, 3)]


def test_a_value_the_meter_did_not_record_is_missing_without_an_expected_span():
    found = validate([series([500, None, None, 500])])
    assert codes(found) == [(VeeCode.MISSING, T0 + 2 * STEP, T0 + 3 * STEP, 2)]


def test_register_advance_against_the_sum_of_intervals():
    one = series([500] * 48)           # 24.000 kWh
    span = RegisterSpan("1.8.0", T0, T0 + 48 * STEP, Decimal("24.1"))
    assert validate([one], registers=[span]) == []          # within rounding
    wrong = RegisterSpan("1.8.0", T0, T0 + 48 * STEP, Decimal("240"))   # a CT ratio x10
    (finding,) = validate([one], registers=[wrong])
    assert (finding.code, finding.count) == (VeeCode.REGISTER_MISMATCH, 48)
    assert "24.000" in finding.detail and "240" in finding.detail


def test_spikes_negatives_and_zero_runs():
    values = [500] * 20 + [9000] + [500] * 5 + [0] * 8 + [-20] + [500] * 5
    found = codes(validate([series(values)]))
    assert (VeeCode.SPIKE, T0 + 21 * STEP, T0 + 21 * STEP, 1) in found
    assert (VeeCode.ZERO_RUN, T0 + 27 * STEP, T0 + 34 * STEP, 8) in found
    assert (VeeCode.NEGATIVE, T0 + 35 * STEP, T0 + 35 * STEP, 1) in found
    assert len(found) == 3


def test_seven_zeros_are_not_a_run_and_an_idle_channel_has_no_spikes():
    assert validate([series([500] * 10 + [0] * 7 + [500] * 10)]) == []
    assert validate([series([0] * 40 + [3] + [0] * 7)]) == []     # 3 Wh blip, floor 1 kWh


def test_meter_flags_become_findings():
    status = [0, S.CLOCK_SET, S.DST_CHANGE, S.SHORT, S.LONG, S.DISTURBED, 0]
    found = codes(validate([series([500] * 7, status)]))
    assert found == [(VeeCode.CLOCK_SET, T0 + 2 * STEP, T0 + 2 * STEP, 1),
                     (VeeCode.DST_CHANGE, T0 + 3 * STEP, T0 + 3 * STEP, 1),
                     (VeeCode.SHORT_INTERVAL, T0 + 4 * STEP, T0 + 4 * STEP, 1),
                     (VeeCode.LONG_INTERVAL, T0 + 5 * STEP, T0 + 5 * STEP, 1),
                     (VeeCode.METER_FLAGGED, T0 + 6 * STEP, T0 + 6 * STEP, 1)]


def test_an_unflagged_clock_set_shows_as_an_irregular_interval():
    runs = (Run(T0 + STEP, (500, 500), (0, 0)), Run(T0 + 3 * STEP + 600, (500,), (0,)))
    (finding,) = validate([series(None, runs=runs)])
    assert finding.code is VeeCode.LONG_INTERVAL or finding.code is VeeCode.SHORT_INTERVAL
    assert finding.first_end == T0 + 3 * STEP + 600


@pytest.mark.parametrize("downs, expect", [(1, []), (0, [VeeCode.OUTAGE_MISMATCH]),
                                           (2, [VeeCode.OUTAGE_MISMATCH])])
def test_outages_flagged_in_the_profile_against_the_event_log(downs, expect):
    status = [0, 0, S.POWER_FAIL, S.POWER_FAIL, S.POWER_RECOVERY, 0]
    events = [MeterEvent(T0 + 2 * STEP + 60 * i, EventKind.POWER_DOWN, 0x80)
              for i in range(downs)]
    events.append(MeterEvent(T0 + 4 * STEP, EventKind.POWER_UP, 0x40))
    found = validate([series([500] * 6, status)], events)
    assert [f.code for f in found] == expect
    assert validate([series([500] * 6, status)], None) == []     # log not read


def test_a_changed_shape_and_a_clock_off_at_the_visit():
    one = series([500] * 4)
    found = validate([one], previous=Shape(("1.8.0", "2.8.0"), 900), clock_offset_s=-95,
                     limits=VeeLimits(clock_tolerance_s=60))
    assert [f.code for f in found] == [VeeCode.CONFIG_CHANGED, VeeCode.CLOCK_OFF]
    assert "2 channels" in found[0].detail and "15 min" in found[0].detail
    assert "now 1 channel (1.8.0) at 30 min" in found[0].detail
    assert "-95 s" in found[1].detail


def _naive_missing(runs, step, first, stop):
    have = {run.first_end + k * step for run in runs for k, v in enumerate(run.values)
            if v is not None}
    return [end for end in range(first, stop + 1, step) if end not in have]


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hhu_sync.profile.vee import _missing_ranges  # noqa: E402


def _missing(runs, step, first, stop):
    """The ends :func:`_missing_ranges` counts, listed one by one."""
    ranges = _missing_ranges(runs, step, first, stop)
    assert all(count == (b - a) // step + 1 for a, b, count in ranges)
    return [end for a, b, _ in ranges for end in range(a, b + 1, step)]


@given(st.lists(st.tuples(st.integers(-5, 40), st.lists(st.one_of(st.none(), st.just(1)),
                                                        max_size=12)), max_size=5),
       st.integers(-3, 10), st.integers(0, 60), st.booleans())
def test_missing_by_arithmetic_equals_missing_by_set(spec, lo, span, off_grid):
    runs = [Run(T0 + at * STEP + (7 if off_grid and i == 0 else 0), tuple(vals),
                (0,) * len(vals)) for i, (at, vals) in enumerate(spec)]
    first, stop = T0 + lo * STEP, T0 + (lo + span) * STEP
    assert _missing(runs, STEP, first, stop) == _naive_missing(runs, STEP, first, stop)


def test_intervals_ending_after_the_meter_was_read_are_a_finding_as_one_range_a_run():
    read_at = T0 + 10 * STEP
    one = series([500] * 20)                 # ends T0 + STEP .. T0 + 20 * STEP
    (finding,) = validate([one], read_at=read_at)
    assert codes([finding]) == [(VeeCode.FUTURE, T0 + 11 * STEP, T0 + 20 * STEP, 10)]
    assert finding.channel == "1.8.0" and "after the meter was read" in finding.detail
    assert validate([series([500] * 10)], read_at=read_at) == []     # up to the read: none


def test_a_meter_clock_ahead_moves_the_latest_end_it_may_have_recorded():
    read_at = T0 + 10 * STEP
    one = series([500] * 11)                 # the last ends one interval after the read
    assert [f.code for f in validate([one], read_at=read_at)] == [VeeCode.FUTURE]
    ahead = validate([one], read_at=read_at, clock_offset_s=STEP)   # the meter's clock
    assert VeeCode.FUTURE not in [f.code for f in ahead]             # ran half an hour on


def test_a_forged_run_of_a_million_intervals_is_one_finding_found_without_a_loop():
    read_at = T0 + STEP
    one = ChannelSeries(KWH, STEP, -3, (Run(T0 + STEP, (0,) * 1_048_576, (0,) * 1_048_576),))
    future = [f for f in validate([one], read_at=read_at) if f.code is VeeCode.FUTURE]
    assert codes(future) == [(VeeCode.FUTURE, T0 + 2 * STEP, T0 + 1_048_576 * STEP,
                              1_048_575)]


def test_a_span_of_decades_is_one_missing_range_found_by_arithmetic():
    """The expected span ends at the visit's time: a forged one (the year 9999, flagged
    as a bad time but stored) spanned 140 million interval ends, each made and grouped
    one by one (four minutes and gigabytes of a committer's time for a 30 kB upload,
    found by a try-out). A gap is counted, never listed."""
    import tracemalloc
    stop = 4_102_444_800                     # 2100-01-01: 1.3 million ends after T0
    tracemalloc.start()
    try:
        found = validate([series([500] * 4)], expected=(T0, stop))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert codes(found) == [(VeeCode.MISSING, T0 + 5 * STEP, stop,
                             (stop - T0) // STEP - 4)]
    assert peak < 1_000_000
