"""MeterClient reads of an Elster meter's profile (551 + 550) and event log (560)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from hhu_firmware_sim.field_trip import InProcessProbe
from hhu_firmware_sim.meter import MeterSession, Quirks, SimMeter
from hhu_firmware_sim.meter.meter import LoadProfile
from hhu_firmware_sim.meter.profile import ProfileConfig
from hhu_sync.iec62056.elster_profile import interpret
from hhu_sync.iec62056.elster_records import decode_records
from hhu_sync.meterio import DriverSettings, MeterClient, MeterIOError
from hhu_sync.meterio.elster import (
    days_since,
    read_elster_events,
    read_elster_profile,
    standard_offset_s,
)
from hhu_sync.profile.events import EventKind

from .test_client import Echoing

FAST = DriverSettings(reaction_s=0.0)


def elster_meter() -> SimMeter:
    m = SimMeter("35000001", model="A1140", start=datetime(2026, 7, 1),
                 load=LoadProfile.constant(Decimal("4.0")),
                 profile=ProfileConfig(30, ("1.8.0", "5.8.0"), zone="Europe/Berlin",
                                       dialect="elster"))
    m.schedule_outage(datetime(2026, 7, 2, 3, 0), datetime(2026, 7, 2, 4, 0))
    m.at(datetime(2026, 7, 3))
    return m


def session_for(m: SimMeter, probe=InProcessProbe, quirks: Quirks | None = None):
    client = MeterClient(probe(MeterSession(lambda a: m, quirks)), FAST)
    return client.programming("", "00000000", "P1")


def test_the_standard_offset_is_the_zones_without_dst():
    assert standard_offset_s("Europe/Berlin", datetime(2026, 7, 1, tzinfo=UTC)) == 3600
    assert standard_offset_s("Europe/Berlin", datetime(2026, 1, 1, tzinfo=UTC)) == 3600
    assert standard_offset_s("Europe/London", datetime(2026, 7, 1, tzinfo=UTC)) == 0
    assert standard_offset_s("UTC") == standard_offset_s(None) == 0


def test_the_profile_comes_back_as_recorded_through_echo_and_junk():
    m = elster_meter()
    assert m.elster is not None
    with session_for(m, Echoing, Quirks(garbage=b"\x00\x7fJUNK\r\n")) as session:
        answer = read_elster_profile(session, std_offset_s=3600)
        events, blocks = read_elster_events(session, std_offset_s=3600)
    want = interpret(decode_records(m.elster.stream(m.utc_now)), std_offset_s=3600)
    assert answer.profile == want and not answer.empty
    assert answer.blocks == -(-len(m.elster.stream(m.utc_now)) // 64)
    assert [s.channel.code for s in answer.profile.series] == ["1.8.0", "5.8.0"]
    assert [e.kind for e in events] == [EventKind.POWER_DOWN, EventKind.POWER_UP]
    assert events[0].at == int(datetime(2026, 7, 2, 1, 0, tzinfo=UTC).timestamp())
    assert blocks == 1


def test_days_since_counts_by_the_meters_clock():
    m = elster_meter()                         # 3 July 00:00 CEST: 2 July 23:00 standard
    with session_for(m) as session:
        since = int(datetime(2026, 7, 2, 12, tzinfo=UTC).timestamp())
        assert days_since(session, since, 3600) == 1
        assert days_since(session, since - 86400, 3600) == 2
        assert days_since(session, None, 3600) is None
        answer = read_elster_profile(session, std_offset_s=3600, days=1)
    first = answer.profile.series[0].intervals()[0][0]
    assert first == int(datetime(2026, 7, 1, 23, 30, tzinfo=UTC).timestamp())


def test_a_bad_block_is_an_error_naming_its_offset(monkeypatch):
    m = elster_meter()
    assert m.elster is not None
    stream = bytearray(m.elster.stream(m.utc_now))
    stream[70] = 0xC3                          # in block 1: neither marker nor flag byte
    monkeypatch.setattr(m.elster, "stream", lambda now, fresh=False: bytes(stream))
    with session_for(m) as session, pytest.raises(MeterIOError, match="2 blocks read.*at byte 70"):
        read_elster_profile(session, std_offset_s=3600)
