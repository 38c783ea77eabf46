"""Billing determinants from intervals (issue 15, point 8): energy per TOU rate in the
meter's local time with DST, block maximum demand with its time, power factor, and the
comparison with the meter's own registers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hhu_sync.model.scheme import DayProfile, Rate, Switch, WeekProfile
from hhu_sync.model.tou import TouTable
from hhu_sync.profile.billing import compare, determinants, month_period, quantity_of
from hhu_sync.profile.series import Channel, ChannelSeries, Run

LONDON = ZoneInfo("Europe/London")
STEP = 1800
#: Day (rate 1) 07:00-23:00 local, night (rate 2) otherwise.
TOU = TouTable((Rate(1, "Day", ("1.8.1",)), Rate(2, "Night", ("1.8.2",))),
               (DayProfile("d", (Switch("00:00", 2), Switch("07:00", 1), Switch("23:00", 2))),),
               (WeekProfile("w", ("d",) * 7),))


def flat(code, unit, start, count, value, exponent=-3):
    return ChannelSeries(Channel(code, unit), STEP, exponent,
                         (Run(start + STEP, (value,) * count, (0,) * count),))


def utc(*args):
    return int(datetime(*args, tzinfo=UTC).timestamp())


def test_month_in_local_time_across_the_autumn_change():
    october = month_period("2026-10", LONDON)
    assert october.start == utc(2026, 9, 30, 23)          # BST: 00:00 local is 23:00 UTC
    assert october.end == utc(2026, 11, 1, 0)             # GMT again
    count = (october.end - october.start) // STEP
    assert count == 31 * 48 + 2                           # the 25th has 25 hours
    found = determinants("M1", [flat("1.8.0", "kWh", october.start, count, 500)], october,
                         TOU, LONDON, 30)
    assert (found.intervals, found.expected, found.notes) == (count, count, ())
    # Night is 8 local hours a day, 9 on the 25th (01:00-02:00 happens twice).
    night = (31 * 16 + 2) * Decimal("0.5")
    assert found.energy_by_rate == {1: count * Decimal("0.5") - night, 2: night}
    assert found.import_kwh == count * Decimal("0.5")


def test_max_demand_is_the_highest_full_block_with_its_end_time():
    nov = month_period("2026-11", LONDON)
    values = [400] * 48
    values[20], values[21] = 900, 1000                     # 10:00-11:00 UTC
    one = ChannelSeries(Channel("1-0:1.8.0", "kWh"), STEP, -3,
                        (Run(nov.start + STEP, tuple(values), (0,) * 48),))
    half_hour = determinants("M1", [one], nov, TOU, LONDON, 30).max_demand
    assert half_hour is not None
    assert (half_hour.kw, half_hour.end) == (Decimal(2), nov.start + 22 * STEP)
    hour = determinants("M1", [one], nov, TOU, LONDON, 60).max_demand
    assert hour is not None
    assert (hour.kw, hour.end) == (Decimal("1.9"), nov.start + 22 * STEP)


def test_power_channels_count_as_energy_and_power_factor():
    nov = month_period("2026-11", LONDON)
    active = flat("1-0:1.5.0", "kW", nov.start, 48, 4000)             # 4 kW = 2 kWh each
    reactive = flat("3.8.0", "kvarh", nov.start, 48, 1500)           # 1.5 kvarh each
    found = determinants("M1", [active, reactive], nov, TOU, LONDON, 30)
    assert found.import_kwh == 96
    assert found.power_factor == Decimal("0.800")
    assert "import intervals missing" in found.notes[0]


def test_registers_that_disagree_are_mismatches():
    nov = month_period("2026-11", LONDON)
    count = (nov.end - nov.start) // STEP
    found = determinants("M1", [flat("1.8.0", "kWh", nov.start, count, 500)], nov, TOU,
                         LONDON, 30)
    day, night = found.energy_by_rate[1], found.energy_by_rate[2]
    assert compare(found, {"1.8.0": found.import_kwh, "1.8.1": day, "1.8.2": night,
                           "1.6.0": Decimal(1)}, TOU) == []
    (mismatch,) = compare(found, {"1.8.0": found.import_kwh, "1.8.1": day * 10,
                                  "1.8.2": night}, TOU)
    assert (mismatch.what, mismatch.computed) == ("rate 1 kWh", day)


def test_quantity_from_the_channel_code():
    assert [quantity_of(Channel(c, "kWh")) for c in ("1.8.0", "2.8", "1-0:3.8.0", "P.01")] \
        == [1, 2, 3, None]


def test_a_rate_the_intervals_never_fell_in_is_compared_as_zero():
    nov = month_period("2026-11", LONDON)
    count = (nov.end - nov.start) // STEP
    found = determinants("M1", [flat("1.8.0", "kWh", nov.start, count, 500)], nov, TOU,
                         LONDON, 30)
    only_day = replace(found, energy_by_rate={1: found.import_kwh})
    (mismatch,) = compare(only_day, {"1.8.1": found.import_kwh, "1.8.2": Decimal(40)}, TOU)
    assert (mismatch.what, mismatch.computed, mismatch.register, mismatch.code) == (
        "rate 2 kWh", Decimal(0), Decimal(40), "1.8.2")


def with_gap(start, count, value, gap_at, gap_len, *, around=None):
    """A flat channel with ``gap_len`` intervals missing from index ``gap_at`` (the
    intervals either side of the gap at ``around`` when given)."""
    values = [None if gap_at <= i < gap_at + gap_len else value for i in range(count)]
    if around is not None:
        values[gap_at - 1] = values[gap_at + gap_len] = around
    return ChannelSeries(Channel("1.8.0", "kWh"), STEP, -3,
                         (Run(start + STEP, tuple(values), (0,) * count),))


def test_a_short_gap_is_estimated_for_the_energy_but_never_for_demand():
    nov = month_period("2026-11", LONDON)
    count = (nov.end - nov.start) // STEP
    # 0.5 kWh a half hour, 0.9 either side of a two-interval gap (one whole hour block)
    one = with_gap(nov.start, count, 500, 100, 2, around=900)
    found = determinants("M1", [one], nov, TOU, LONDON, 60)
    assert (found.intervals, found.estimated, found.expected) == (count - 2, 2, count)
    assert found.import_kwh == Decimal("0.5") * (count - 4) + Decimal("0.9") * 4
    assert any("2 import intervals estimated" in n for n in found.notes)
    assert not any("missing" in n for n in found.notes)
    # the estimated hour (0.9 + 0.9: 1.8 kW) is not a demand block; measured ones are 1.4
    assert found.max_demand is not None and found.max_demand.kw == Decimal("1.4")


def test_a_long_gap_is_left_missing_not_invented():
    nov = month_period("2026-11", LONDON)
    count = (nov.end - nov.start) // STEP
    found = determinants("M1", [with_gap(nov.start, count, 500, 100, 10)], nov, TOU, LONDON, 30)
    assert (found.intervals, found.estimated) == (count - 10, 0)
    assert found.import_kwh == Decimal("0.5") * (count - 10)
    assert f"10 of {count} import intervals missing" in found.notes
