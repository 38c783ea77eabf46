"""Gap estimation: flagged, only in gaps, never over a measured value, short gaps only."""

from __future__ import annotations

from hhu_sync.profile.estimate import estimates
from hhu_sync.profile.flags import IntervalStatus as S
from hhu_sync.profile.series import Channel, ChannelSeries, Run

T0, STEP = 1_800_000_000 - 1_800_000_000 % 1800, 1800


def test_a_short_gap_is_interpolated_and_flagged_estimated():
    runs = (Run(T0, (100, 200), (0, 0)), Run(T0 + 4 * STEP, (500,), (0,)))
    one = ChannelSeries(Channel("1.8.0", "kWh"), STEP, -3, runs)
    assert estimates(one) == [(T0 + 2 * STEP, 300, int(S.ESTIMATED | S.MISSING)),
                              (T0 + 3 * STEP, 400, int(S.ESTIMATED | S.MISSING))]


def test_a_long_gap_and_a_value_the_meter_left_empty_beyond_reach_stay_empty():
    runs = (Run(T0, (100,), (0,)), Run(T0 + 10 * STEP, (100,), (0,)))
    one = ChannelSeries(Channel("1.8.0", "kWh"), STEP, -3, runs)
    assert estimates(one) == []
    inside = ChannelSeries(Channel("1.8.0", "kWh"), STEP, -3,
                           (Run(T0, (100, None, 300), (0, 0, 0)),))
    assert estimates(inside) == [(T0 + STEP, 200, int(S.ESTIMATED | S.MISSING))]
    assert all(end != T0 and end != T0 + 2 * STEP for end, _, _ in estimates(inside))


def test_a_gap_the_meter_flagged_as_a_power_failure_is_an_outage_not_estimated():
    # power failed in the interval ending at T0 + STEP, came back in T0 + 4 * STEP: the
    # meter recorded nothing while it was off, and interpolating would invent use
    fail = ChannelSeries(Channel("1.8.0", "kWh"), STEP, -3,
                         (Run(T0, (100, 50), (0, int(S.POWER_FAIL))),
                          Run(T0 + 4 * STEP, (60, 100), (int(S.POWER_RECOVERY), 0))))
    assert estimates(fail) == []
    back = ChannelSeries(Channel("1.8.0", "kWh"), STEP, -3,
                         (Run(T0, (100,), (0,)),
                          Run(T0 + 2 * STEP, (60,), (int(S.POWER_RECOVERY),))))
    assert estimates(back) == []
