"""Upload version 2's profile and event arrays: what an HHU writes decodes to the same
series and events, and anything of the wrong shape or beyond a bound is refused, named."""

from __future__ import annotations

import msgpack
import pytest

from hhu_sync.profile.events import EventKind, MeterEvent
from hhu_sync.profile.flags import IntervalStatus
from hhu_sync.profile.series import MAX_CHANNELS, Channel, ChannelSeries, Run
from hhu_sync.profile.wire import (
    MAX_EVENT_DATA,
    MAX_EVENTS,
    MAX_RUNS,
    WireError,
    decode_events,
    decode_profiles,
    encode_event,
    encode_profile,
)

T0 = 1_764_547_200     # 2025-12-01T00:00:00Z
SERIES = ChannelSeries(
    Channel("1.8.0", "kWh"), 1800, -3,
    (Run(T0 + 1800, (18841, 18900, None, 18000), (0, 0, int(IntervalStatus.POWER_FAIL), 0)),
     Run(T0 + 7 * 1800, (5, -3), (int(IntervalStatus.CLOCK_SET), 0))))
EVENT = MeterEvent(T0 + 3000, EventKind.CLOCK_SET, 0x8020, (("0.9.1", "1235703"),))


def round_trip(value):
    return msgpack.unpackb(msgpack.packb(value), use_list=False)


def test_a_series_comes_back_as_it_went():
    (back,) = decode_profiles(round_trip([encode_profile(SERIES)]), "p")
    assert back == SERIES


def test_values_travel_as_deltas_and_status_as_sparse_pairs():
    code, unit, step, exponent, runs = encode_profile(SERIES)
    assert (code, unit, step, exponent) == ("1.8.0", "kWh", 1800, -3)
    assert runs[0] == [T0 + 1800, [18841, 59, None, -900], [2, 1]]


def test_an_event_comes_back_as_it_went():
    assert decode_events(round_trip([encode_event(EVENT)]), "e") == [EVENT]


def test_an_event_kind_this_depot_does_not_know_is_kept_as_other_with_its_name():
    (back,) = decode_events([[T0, "meter_on_fire", 7, []]], "e")
    assert back.kind is EventKind.OTHER and back.data == (("kind", "meter_on_fire"),)


def profile(**change):
    raw = encode_profile(SERIES)
    fields = dict(zip(("code", "unit", "step", "exponent", "runs"), raw, strict=True))
    fields.update(change)
    return list(fields.values())


@pytest.mark.parametrize(("raw", "field"), [
    ({"not": "a list"}, "p: expected an array"),
    ([profile()] * 2, "p[1].code: channel '1.8.0' given twice"),
    ([profile(step=1000)], "p[0].interval_s"),
    ([profile(exponent=12)], "p[0].exponent"),
    ([profile(code="x" * 33)], "p[0].code"),
    ([profile(runs=[[T0, [1], []], [T0, [1], []]])], "p[0].runs[1].first_end"),
    ([profile(runs=[[T0, [], []]])], "p[0].runs[0].deltas"),
    ([profile(runs=[[T0, [1, "2"], []]])], "p[0].runs[0].deltas[1]"),
    ([profile(runs=[[T0, [1, None, 1.5], []]])], "p[0].runs[0].deltas[2]"),
    ([profile(runs=[[T0, [10**15], []]])], "p[0].runs[0].deltas[0]"),
    ([profile(runs=[[T0, [1, 2], [1, 4, 0, 4]]])], "p[0].runs[0].status[2]"),
    ([profile(runs=[[T0, [1, 2], [2, 4]]])], "p[0].runs[0].status[0]"),
    ([profile(runs=[[T0, [1, 2], [0, int(IntervalStatus.ESTIMATED)]]])],
     "p[0].runs[0].status[1]"),
    ([profile(runs=[[T0, [1, 2], [0]]])], "p[0].runs[0].status"),
    ([profile(runs=[[100, [1], []]])], "p[0].runs[0].first_end"),
    ([profile()] * (MAX_CHANNELS + 1), f"more than {MAX_CHANNELS}"),
    ([profile(runs=[[T0 + 2 * i, [1], []] for i in range(MAX_RUNS + 1)])],
     f"more than {MAX_RUNS}"),
])
def test_a_profile_of_the_wrong_shape_is_refused_naming_the_field(raw, field):
    with pytest.raises(WireError, match=field.replace("[", r"\[").replace("]", r"\]")):
        decode_profiles(raw, "p")


@pytest.mark.parametrize(("raw", "field"), [
    ([[T0, "clock_set", 0]], r"e\[0\]: expected \[at, kind, code, data\]"),
    ([[T0, "clock_set", -1, []]], r"e\[0\].code"),
    ([[T0, "clock_set", 0, [["k"]]]], r"e\[0\].data\[0\]"),
    ([[T0, "clock_set", 0, [["k", 5]]]], r"e\[0\].data\[0\].value"),
    ([[T0, "clock_set", 0, [["k", "v"]] * (MAX_EVENT_DATA + 1)]], r"e\[0\].data"),
    ([[T0, "x", 0, [["k", "v"]] * MAX_EVENT_DATA]], r"e\[0\].kind"),
    ([[T0, "clock_set", 0, []]] * (MAX_EVENTS + 1), f"more than {MAX_EVENTS}"),
])
def test_an_event_of_the_wrong_shape_is_refused_naming_the_field(raw, field):
    with pytest.raises(WireError, match=field):
        decode_events(raw, "e")
