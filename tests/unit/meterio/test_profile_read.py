"""MeterClient profile and logbook reads (R5/R6 of P.01 and P.98) over in-process probes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from hhu_firmware_sim.field_trip import InProcessProbe
from hhu_firmware_sim.meter import MeterSession, Quirks, SimMeter
from hhu_firmware_sim.meter.meter import LoadProfile
from hhu_firmware_sim.meter.profile import ProfileConfig
from hhu_sync.iec62056.loadprofile import MeterClock, to_events, to_series
from hhu_sync.meterio import DriverSettings, MeterClient, MeterIOError, MeterRefused
from hhu_sync.meterio.profile import read_profile, request_stamp
from hhu_sync.profile.events import EventKind

from .test_client import Echoing

FAST = DriverSettings(reaction_s=0.0)
BERLIN = MeterClock.of("Europe/Berlin")


def vdew_meter() -> SimMeter:
    m = SimMeter("71000001", model="LZQJ", start=datetime(2026, 11, 1),
                 load=LoadProfile.constant(Decimal("4.0")),
                 profile=ProfileConfig(30, ("1.8", "3.8"), depth_days=3,
                                       zone="Europe/Berlin"))   # holds 1 and 2 November
    m.schedule_outage(datetime(2026, 11, 2, 3, 0), datetime(2026, 11, 2, 4, 0))
    m.at(datetime(2026, 11, 3))
    return m


def session_for(m: SimMeter, probe=InProcessProbe, quirks: Quirks | None = None):
    client = MeterClient(probe(MeterSession(lambda a: m, quirks)), FAST)
    return client.programming("", "00000000", "P1")


@pytest.mark.parametrize("partial", [True, False], ids=["R6", "R5"])
def test_the_profile_comes_back_as_recorded(partial):
    m = vdew_meter()
    with session_for(m) as session:
        answer = read_profile(session, partial=partial)
    assert answer.blocks == (3 if partial else 1)
    want = to_series(list(m.recorder.sections(m.utc_now)), BERLIN)
    assert to_series(answer.decoded.sections, BERLIN) == want


def test_echo_and_junk_after_each_block_change_nothing():
    m = vdew_meter()
    with session_for(m, Echoing, Quirks(garbage=b"\x00\x7fJUNK\r\n")) as session:
        answer = read_profile(session)
        events = read_profile(session, "P.98")
    assert to_series(answer.decoded.sections, BERLIN).series[0].count() == 2 * 48
    assert [e.kind for e in to_events(events.decoded.entries, BERLIN)] == [
        EventKind.POWER_DOWN, EventKind.POWER_UP]


def test_a_range_the_meter_does_not_hold_is_empty_not_an_error():
    m = vdew_meter()
    start = request_stamp(datetime(2027, 1, 1), BERLIN)
    with session_for(m) as session:
        answer = read_profile(session, start=start)
    assert answer.empty and answer.decoded.empty


def test_a_range_is_sent_in_the_meters_local_time():
    assert request_stamp(datetime(2026, 11, 2, 3, 0), BERLIN).encode() == "02611020300"
    assert request_stamp(datetime(2026, 7, 1, 10, 0, tzinfo=UTC), BERLIN).encode() == \
        "12607011200"
    m = vdew_meter()
    with session_for(m) as session:
        answer = read_profile(session, start=request_stamp(datetime(2026, 11, 2, 3), BERLIN),
                              end=request_stamp(datetime(2026, 11, 2, 5), BERLIN))
    ends = [e for e, _, _ in to_series(answer.decoded.sections, BERLIN).series[0].intervals()]
    assert ends[0] == int(datetime(2026, 11, 2, 2, 0, tzinfo=UTC).timestamp())
    assert len(ends) == 5


def test_a_meter_without_a_profile_refuses():
    m = SimMeter("35012345", start=datetime(2026, 11, 1))
    with session_for(m) as session, pytest.raises(MeterRefused, match="ER01"):
        read_profile(session)
    with session_for(m) as session, pytest.raises(MeterIOError, match="neither"):
        read_profile(session, "P.02")
