"""The simulated Elster meter: registers 551/550/560 and its configuration registers,
computed lazily from the same recorder the VDEW meters use."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from hhu_firmware_sim.meter import programming
from hhu_firmware_sim.meter.elster import bit_order, channel_mask
from hhu_firmware_sim.meter.fleet import meter_from_dict
from hhu_firmware_sim.meter.meter import SimMeter
from hhu_firmware_sim.meter.programming import ProgrammingError
from hhu_sync.iec62056.elster_events import decode_event_log
from hhu_sync.iec62056.elster_profile import interpret, value_pair
from hhu_sync.iec62056.elster_read import BlockRead
from hhu_sync.iec62056.elster_records import (
    DstChange,
    Interval,
    NewDay,
    PowerDown,
    PowerUp,
    TimeChange,
)
from hhu_sync.profile.events import EventKind
from hhu_sync.profile.flags import IntervalStatus as S

CET = 3600          # Europe/Berlin's standard offset: the stream's time all year


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def a1700(**entry) -> SimMeter:
    base = {"serial": "35000001", "model": "A1700", "start": "2026-07-01T00:00:00",
            "load": [["00:00", "1.0"], ["08:00", "6.0"]],
            "profile": {"zone": "Europe/Berlin"}}
    m, _ = meter_from_dict({**base, **entry})
    return m


def read_all(m: SimMeter, register: int = 550) -> BlockRead:
    read = BlockRead(register)
    while (request := read.next_request()) is not None:
        read.accept(programming.read(m, request.address))
    return read


def test_the_catalog_says_what_an_elster_model_records():
    m = a1700()
    assert m.elster is not None and m.recorder is not None
    assert m.recorder.config.interval_min == 30 and m.recorder.config.depth_days == 100
    assert programming.read(m, "777") == "777(003F)"      # import, export, Q1..Q4
    assert programming.read(m, "878") == "878(30)"
    assert programming.read(m, "778") == "778(1)"         # Berlin keeps DST
    m.at(datetime(2026, 7, 2, 12, 0, 5))                  # CEST: 11:00:05 standard time
    assert programming.read(m, "861") == "861(260702110005)"
    as230, _ = meter_from_dict({"serial": "2", "model": "AS230"})
    assert programming.read(as230, "777") == "777(0003)"


def test_channels_go_in_mask_bit_order():
    assert channel_mask(("2.8.0", "1.8.0", "3.8.0")) == 0b100_0000_0011
    assert bit_order(("3.8.0", "2.8.0", "1.8.0")) == ("1.8.0", "2.8.0", "3.8.0")
    with pytest.raises(ValueError, match="1.8 is not an Elster"):
        channel_mask(("1.8",))


def test_nothing_is_built_until_a_profile_block_is_read():
    m = a1700()
    m.at(datetime(2026, 7, 20))
    assert m.elster is not None
    programming.write(m, "551001", "FFFF")
    programming.read(m, "777")
    read_all(m, 560)
    assert m.elster.builds == 0
    first = read_all(m)
    assert m.elster.builds == 1                    # one stream for all its blocks
    assert first.block > 10
    again = read_all(m)                            # block 0 again: same meter, same stream
    assert m.elster.builds == 1 and again.data == first.data
    m.advance(1800)
    assert read_all(m).block >= first.block and m.elster.builds == 2


def test_blocks_are_128_hex_digits_and_past_the_end_all_ff():
    m = a1700(profile={"zone": "Europe/Berlin", "depth_days": 1})   # today only
    m.at(datetime(2026, 7, 1, 3, 0))
    answer = programming.read(m, "5500000")
    assert answer.startswith("5500000(") and len(answer) == len("5500000()") + 128
    read = read_all(m)
    assert read.block == 3 and read.done           # 131 bytes: the end marker in block 2
    assert read.data[-1] == 0xFF                   # ... then padding
    assert programming.read(m, "5500003") == "5500003(" + "FF" * 64 + ")"
    assert programming.read(m, "550FFFF") == "550FFFF(" + "FF" * 64 + ")"
    assert programming.read(m, "5600003") == "5600003(" + "FF" * 64 + ")"


def test_the_stream_is_the_recorders_values_in_standard_time():
    m = a1700(profile={"zone": "Europe/Berlin", "depth_days": 1})   # today only
    m.at(datetime(2026, 7, 1, 3, 0))                # local CEST: 2 hours after UTC
    records = read_all(m).records
    rec = m.recorder
    assert rec is not None
    # the memory holds today from 00:00 CEST = 23:00 standard time of 30 June: the
    # stream opens with a config record
    assert type(records[0]).__name__ == "ConfigChange"
    assert records[0].day.isoformat() == "2026-06-30" and records[0].at.hour == 23
    intervals = [r for r in records if isinstance(r, Interval)]
    ends = list(rec.ends(m.utc_now))
    assert len(intervals) == len(ends) == 6
    want = [tuple(value_pair(v) for v in rec.values(e)) for e in ends]
    assert [i.values for i in intervals] == want
    assert isinstance(records[3], NewDay) and records[3].day.isoformat() == "2026-07-01"
    profile = interpret(records, std_offset_s=CET)
    assert [e for e, _, _ in profile.series[0].intervals()] == ends


def test_selecting_days_starts_at_a_standard_time_midnight():
    m = a1700()
    m.at(datetime(2026, 7, 10, 12, 0))
    programming.write(m, "551001", "0002")          # today and yesterday
    records = read_all(m).records
    assert isinstance(records[0], NewDay) and records[0].day.isoformat() == "2026-07-09"
    profile = interpret(records, std_offset_s=CET)
    first = profile.series[0].intervals()[0][0]
    assert first == utc(2026, 7, 8, 23, 30)         # 00:30 standard time on the 9th
    programming.write(m, "551001", "FFFF")
    assert len(read_all(m).records) > len(records)
    for bad in ("0000", "12", "GGGG"):
        with pytest.raises(ProgrammingError) as refused:
            programming.write(m, "551001", bad)
        assert refused.value.code == programming.ER_MALFORMED


def test_an_outage_is_power_down_and_up_records_and_events():
    m = a1700(outages=[["2026-07-02T10:05:00", "2026-07-02T11:10:00"]],
              profile={"zone": "Europe/Berlin", "depth_days": 3})   # 1 to 3 July
    m.at(datetime(2026, 7, 3))
    records = read_all(m).records
    down = records.index(next(r for r in records if isinstance(r, PowerDown)))
    assert records[down].at.isoformat() == "09:05:00"            # standard time
    assert isinstance(records[down - 1], Interval)               # the interval in progress
    assert isinstance(records[down + 1], PowerUp) and records[down + 1].at.hour == 10
    assert isinstance(records[down + 2], Interval)
    profile = interpret(records, std_offset_s=CET)
    flagged = [(e, v, st) for e, v, st in profile.series[0].intervals() if st]
    assert flagged[1:] == [(utc(2026, 7, 2, 8, 30), 500, S.POWER_FAIL),     # 5 min at 6 kW
                           (utc(2026, 7, 2, 9, 30), 2000, S.POWER_RECOVERY)]  # 20 at 6 kW
    kinds = [(e.kind, e.at) for e in profile.events if e.kind != EventKind.CONFIG_CHANGE]
    assert kinds == [(EventKind.POWER_DOWN, utc(2026, 7, 2, 8, 5)),
                     (EventKind.POWER_UP, utc(2026, 7, 2, 9, 10))]
    log = decode_event_log(bytes(read_all(m, 560).data), std_offset_s=CET)
    assert [(e.kind, e.at) for e in log] == kinds


def test_a_clock_set_is_a_time_change_record_and_a_flagged_interval():
    m = a1700()
    m.at(datetime(2026, 7, 1, 10, 10))
    m.set_clock(datetime(2026, 7, 1, 11, 20))      # forward 70 minutes
    m.at(datetime(2026, 7, 1, 13, 0))
    records = read_all(m).records
    change = next(r for r in records if isinstance(r, TimeChange))
    assert (change.old.isoformat(), change.new.isoformat()) == ("09:10:00", "10:20:00")
    after = records[records.index(change) + 1]
    assert isinstance(after, Interval) and after.flags == 0x02
    profile = interpret(records, std_offset_s=CET)
    ends = [e for e, _, _ in profile.series[0].intervals()]
    assert utc(2026, 7, 1, 8, 0) in ends          # 08:10 UTC jumped to 09:20: the ends
    assert utc(2026, 7, 1, 8, 30) not in ends      # between never came on the meter's clock
    assert utc(2026, 7, 1, 9, 0) not in ends
    assert dict((e, st) for e, _, st in profile.series[0].intervals())[
        utc(2026, 7, 1, 9, 30)] == S.CLOCK_SET | S.SHORT
    log = decode_event_log(bytes(read_all(m, 560).data), std_offset_s=CET)
    assert [e.kind for e in log] == [EventKind.CLOCK_SET]


def test_a_dst_change_is_marked_and_the_times_stay_standard():
    m, _ = meter_from_dict({"serial": "3", "model": "A1140", "start": "2026-10-24T00:00:00",
                            "load_kw": "2.0", "profile": {"zone": "Europe/Berlin"}})
    m.at(datetime(2026, 10, 26))
    records = read_all(m).records
    (dst,) = [r for r in records if isinstance(r, DstChange)]
    assert dst.to_summer is False and dst.at.isoformat() == "02:00:00"   # 01:00 UTC
    profile = interpret(records, std_offset_s=CET)
    ends = [e for e, _, _ in profile.series[0].intervals()]
    assert ends == list(range(ends[0], ends[-1] + 1, 1800))    # no hour lost or doubled
    assert {v for _, v, _ in profile.series[0].intervals()} == {1000}
    assert Decimal(profile.series[0].exponent) == -3
