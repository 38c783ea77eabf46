"""The simulated meter's load profile and logbook: lazy, deterministic, bounded."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from hhu_firmware_sim.meter.fleet import FleetError, meter_from_dict
from hhu_firmware_sim.meter.meter import LoadProfile, SimMeter
from hhu_firmware_sim.meter.profile import ProfileConfig, Recorder
from hhu_firmware_sim.meter.session import MeterSession
from hhu_sync.iec62056 import (
    NEED_DATA,
    Ack,
    ClientConnection,
    OptionSelect,
    Password,
    ProfileData,
    ProfileEmpty,
    ProfileRequest,
    SignOnRequest,
)
from hhu_sync.iec62056.loadprofile import MeterClock, ProfileParser, to_events, to_series
from hhu_sync.profile.events import EventKind
from hhu_sync.profile.flags import IntervalStatus as S

BERLIN = MeterClock.of("Europe/Berlin")


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def meter(serial: str = "71000001", **kw) -> SimMeter:
    cfg = kw.pop("profile", ProfileConfig(15, zone="Europe/Berlin"))
    return SimMeter(serial, model="LZQJ", start=datetime(2026, 10, 1),
                    load=LoadProfile(((0, Decimal("1.0")), (480, Decimal("5.5")))),
                    profile=cfg, **kw)


def test_nothing_is_computed_until_a_read_asks():
    calls = []

    def kw_at(when):
        calls.append(when)
        return Decimal(1)

    rec = Recorder(ProfileConfig(15, depth_days=35), "1", utc(2026, 1, 1), kw_at)
    now = utc(2026, 3, 1)
    assert len(rec.ends(now)) == 34 * 96 and calls == []   # 34 whole days + today (00:00)
    one_day = list(rec.sections(now, utc(2026, 2, 28), utc(2026, 2, 28, 23, 59)))
    assert sum(len(s.rows) for s in one_day) == 96        # ends 00:00 .. 23:45
    assert len(calls) == 96 * 15                           # minute by minute, nothing more


def test_the_same_serial_records_the_same_profile():
    a, b, c = meter(), meter(), meter("71000002")
    for m in (a, b, c):
        m.at(datetime(2026, 10, 3))
    now = a.utc_now
    assert list(a.recorder.sections(now)) == list(b.recorder.sections(now))
    assert list(a.recorder.sections(now)) != list(c.recorder.sections(now))  # reactive


def test_the_memory_holds_its_depth_and_overwrites_the_oldest_day():
    m = meter(profile=ProfileConfig(30, ("1.8",), depth_days=7, zone=None))
    m.at(datetime(2026, 11, 20, 12, 0))
    ends = m.recorder.ends(m.utc_now)
    assert ends[0] == utc(2026, 11, 14, 0, 30)       # day 14 is the oldest of 7 days
    assert ends[-1] == utc(2026, 11, 20, 12, 0)


def test_a_meter_just_started_holds_its_whole_depth_as_one_in_service_would():
    fresh = meter(profile=ProfileConfig(30, ("1.8",), depth_days=7, zone=None))
    fresh.at(datetime(2026, 10, 1, 2, 0))                 # two hours after its start
    ends = fresh.recorder.ends(fresh.utc_now)
    assert ends[0] == utc(2026, 9, 25, 0, 30)             # 6 days before + today
    assert ends[-1] == utc(2026, 10, 1, 2, 0)
    assert len(ends) == 6 * 48 + 4
    before = [v for end in ends[:3] for v in fresh.recorder.values(end)]
    assert before == [500, 500, 500]         # 1 kW for 30 minutes: the load model, 00:00-08:00


def test_an_outage_flags_its_intervals_stops_the_energy_and_is_logged():
    m = meter()
    m.schedule_outage(datetime(2026, 10, 2, 10, 5), datetime(2026, 10, 2, 10, 50))
    m.at(datetime(2026, 10, 3))
    rec = m.recorder
    read = to_series(list(rec.sections(m.utc_now)), BERLIN)
    imp = read.series[0]
    flagged = {end: (v, st) for end, v, st in imp.intervals() if st}
    # 10:05 to 10:50 CEST is 08:05 to 08:50 UTC
    assert flagged == {utc(2026, 10, 2, 8, 15): (458, S.POWER_FAIL),
                       utc(2026, 10, 2, 8, 30): (0, S.POWER_FAIL),
                       utc(2026, 10, 2, 8, 45): (0, S.POWER_FAIL),
                       utc(2026, 10, 2, 9, 0): (917, S.POWER_FAIL | S.POWER_RECOVERY)}
    since_start = [v for end, v, _ in imp.intervals() if end > utc(2026, 9, 30, 22, 0)]
    assert len(since_start) < imp.count()                  # the memory goes back further
    total_wh = sum(since_start)                            # what the registers counted
    assert abs(Decimal(total_wh) / 1000 - m.total) < Decimal("0.001") * len(since_start)
    events = to_events(rec.logbook(m.utc_now), BERLIN)
    assert [(e.at, e.kind) for e in events] == [
        (utc(2026, 10, 2, 8, 5), EventKind.POWER_DOWN),
        (utc(2026, 10, 2, 8, 50), EventKind.POWER_UP)]


def test_a_clock_set_is_flagged_and_logged_with_the_old_time():
    m = meter()
    m.at(datetime(2026, 10, 2, 12, 0))
    m.set_clock(datetime(2026, 10, 2, 12, 20))
    m.at(datetime(2026, 10, 2, 13, 0))
    rec = m.recorder
    statuses = {end: st for end, _, st in
                to_series(list(rec.sections(m.utc_now)), BERLIN).series[0].intervals() if st}
    assert statuses == {utc(2026, 10, 2, 10, 30): S.CLOCK_SET}
    (entry,) = rec.logbook(m.utc_now)
    assert entry.status & 0x20 and entry.data == (("0.9.1", "1120000"), ("0.9.2", "1261002"))


def test_the_end_of_summer_time_is_flagged_and_the_season_digit_changes():
    m = meter()
    m.at(datetime(2026, 10, 25, 4, 0))
    sections = list(m.recorder.sections(m.utc_now, utc(2026, 10, 24, 23, 0)))
    assert [(s.header.start.encode(), s.header.status) for s in sections] == [
        ("1261025010000", 0), ("0261025020000", 0x08), ("0261025021500", 0)]
    ends = [e for e, _, _ in to_series(sections, BERLIN).series[0].intervals()]
    assert ends == list(range(utc(2026, 10, 24, 23, 0), m.utc_now + 1, 900))


# -- over the session --------------------------------------------------------------------

def programming_session(m: SimMeter):
    session = MeterSession(lambda a: m)
    client = ClientConnection()

    def say(event):
        client.send(event)
        client.receive_data(session.receive(client.data_to_send()))
        out = []
        while (ev := client.next_event()) is not NEED_DATA:
            out.append(ev)
        return out

    say(SignOnRequest(""))
    say(OptionSelect("1", "0"))
    say(Password("00000000", "P1"))
    return session, client, say


def test_r6_answers_in_blocks_of_whole_lines_until_the_last():
    m = meter()
    m.at(datetime(2026, 10, 4))
    session, _, say = programming_session(m)
    (first,) = say(ProfileRequest("P.01", ";", partial=True))
    parser = ProfileParser()
    blocks = [first]
    while not blocks[-1].final:
        parser.feed(blocks[-1].data, blocks[-1].offset)
        (nxt,) = say(Ack())
        blocks.append(nxt)
    parser.feed(blocks[-1].data, blocks[-1].offset)
    assert len(blocks) == session.log.profile_blocks > 3
    # each ACK for the next block counts as progress (the meter's idle limit)
    assert session.progress >= 4 + len(blocks) - 1
    assert all(b.data.endswith("\r\n") for b in blocks)
    assert parser.close().sections == list(m.recorder.sections(m.utc_now))


def test_r5_of_an_empty_range_answers_error_and_p98_is_served():
    m = meter()
    m.schedule_outage(datetime(2026, 10, 2, 10, 5), datetime(2026, 10, 2, 10, 50))
    m.at(datetime(2026, 10, 4))
    _, _, say = programming_session(m)
    assert say(ProfileRequest("P.01", "02701010000;02701020000")) == [ProfileEmpty("P.01")]
    (answer,) = say(ProfileRequest("P.98", ";"))
    assert isinstance(answer, ProfileData) and answer.data.count("P.98(") == 2


def test_fleet_entries_say_the_profile_and_the_outages():
    m, _ = meter_from_dict({"serial": "1", "model": "LZQJ",
                            "profile": {"interval_minutes": 30, "zone": "Europe/Berlin"},
                            "outages": [["2026-01-02T10:00:00", "2026-01-02T11:00:00"]]})
    assert m.recorder is not None and m.recorder.config.interval_min == 30
    assert m.recorder.config.channels == ("1.8", "2.8", "3.8", "4.8")
    assert m.outages == [(datetime(2026, 1, 2, 10), datetime(2026, 1, 2, 11))]
    a1700, _ = meter_from_dict({"serial": "2", "model": "A1700"})
    assert a1700.recorder is not None and a1700.elster is not None   # the catalog's Elster
    assert a1700.recorder.config.dialect == "elster"                 # dialect, 30 min
    assert a1700.recorder.config.interval_min == 30
    with pytest.raises(FleetError, match="profile: profile interval 7"):
        meter_from_dict({"serial": "3", "model": "LZQJ", "profile": {"interval_minutes": 7}})
    with pytest.raises(FleetError, match=r"outages\[0\]"):
        meter_from_dict({"serial": "4", "outages": [["soon", "later"]]})


@pytest.mark.parametrize("zone", [None, "Europe/Berlin"])
def test_a_daily_load_looked_up_by_minute_gives_what_the_minute_by_minute_sum_does(zone):
    shape = LoadProfile(((0, Decimal("1.25")), (487, Decimal("5.5")), (1001, Decimal("0.3"))))
    cfg = ProfileConfig(30, ("1.8", "2.8", "3.8", "4.8"), 35, zone=zone)
    looked_up = Recorder(cfg, "71000009", utc(2026, 10, 1), shape.kw_at)
    summed = Recorder(cfg, "71000009", utc(2026, 10, 1), lambda at: shape.kw_at(at))
    assert looked_up._kw_by_minute is not None and summed._kw_by_minute is None
    for rec in (looked_up, summed):
        rec.outages.append((utc(2026, 10, 24, 7, 13), utc(2026, 10, 24, 9, 2)))
    # a day with a load step mid-interval, an outage, and (in Berlin) the season's change
    ends = range(utc(2026, 10, 24), utc(2026, 10, 26), 1800)
    assert [looked_up.values(e) for e in ends] == [summed.values(e) for e in ends]
    assert len({looked_up.import_wh(e) for e in ends}) > 3


def test_a_load_given_to_the_recorder_later_is_the_one_it_records():
    shape = LoadProfile(((0, Decimal("1.25")), (487, Decimal("5.5"))))
    cfg = ProfileConfig(30, ("1.8",), 35)
    rec = Recorder(cfg, "71000010", utc(2026, 10, 1), shape.kw_at)
    end = utc(2026, 10, 24, 12)
    assert rec.import_wh(end) == 2750                  # 5.5 kW for half an hour
    rec.kw_at = lambda at: Decimal("2")                # a wrapper: not a daily shape
    assert rec._kw_by_minute is None
    assert rec.import_wh(end) == 1000
