"""The Elster FLAG dialect's load profile (issue 15, point 2): register 550's record
stream, our documented layout (docs/iec62056.md, "Elster load profile records"), decoded
whole, one byte at a time and block by block, and interpreted into intervals and events."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hhu_sync.iec62056.elster_profile import ProfileError, interpret
from hhu_sync.iec62056.elster_records import (
    ConfigChange,
    DstChange,
    End,
    ForcedEnd,
    Interval,
    NewDay,
    PowerDown,
    PowerUp,
    ProfileCleared,
    RecordDecoder,
    RecordError,
    TimeChange,
    blocks,
    decode_records,
    encode_records,
    encode_value,
)
from hhu_sync.profile.events import EventKind
from hhu_sync.profile.flags import IntervalStatus as S

#: The vector of docs/iec62056.md: 1 Dec 2026, import and export (mask 0x0003), 30
#: minutes (code 9); two intervals, the one in progress at a power down at 01:10, the
#: power up at 02:40, one interval, the clock set from 03:20:00 to 03:50:00, one interval,
#: the end.
RECORDS = [NewDay(date(2026, 12, 1), 0x0003, 9),
           Interval(0, ((500, 0), (0, 0))),
           Interval(0, ((12345, 1), (7, 0))),
           Interval(0, ((100, 0), (0, 0))),
           PowerDown(time(1, 10)),
           PowerUp(time(2, 40)),
           Interval(0, ((250, 0), (0, 0))),
           TimeChange(time(3, 20), time(3, 50)),
           Interval(0x02, ((480, 0), (0, 0))),
           End()]
VECTOR = bytes.fromhex(
    "e4261201000309"
    "00005000000000"
    "00123451000070"
    "00001000000000"
    "e60110"
    "e50240"
    "00002500000000"
    "ea032000035000"
    "02004800000000"
    "ff")


def test_the_documented_vector_encodes_and_decodes():
    assert encode_records(RECORDS) == VECTOR
    assert decode_records(VECTOR) == RECORDS


def test_one_byte_at_a_time_and_block_by_block_with_padding():
    decoder = RecordDecoder()
    got = [r for b in VECTOR for r in decoder.feed(bytes([b]))]
    decoder.close()
    assert got == RECORDS
    padded = blocks(VECTOR)
    assert [len(b) for b in padded] == [64]
    decoder = RecordDecoder()
    assert [r for b in padded + [b"\xff" * 64] for r in decoder.feed(b)] == RECORDS


@pytest.mark.parametrize("stream, offset, words", [
    (VECTOR[:7] + b"\x80", 7, "neither a record marker"),
    (b"\x00\x00\x00\x00", 0, "before any new-day"),
    (b"\xe4\x26\x13\x01\x00\x03\x09", 1, "not a date"),
    (b"\xe4\x26\x12\x01\x00\x00\x09", 4, "selects no channel"),
    (b"\xe4\x26\x12\x01\x00\x03\x0b", 6, "period code"),
    (VECTOR[:7] + b"\x00\x00\x5a\x00\x00\x00\x00", 9, "not two BCD digits"),
    (VECTOR[:7] + b"\xe6\x25\x00", 8, "not a time"),
])
def test_a_broken_stream_names_the_byte(stream, offset, words):
    with pytest.raises(RecordError) as err:
        decode_records(stream)
    assert err.value.offset == offset and words in str(err.value)


def test_a_stream_cut_short_or_without_its_end_is_refused():
    with pytest.raises(RecordError, match="cut short"):
        decode_records(VECTOR[:10])
    with pytest.raises(RecordError, match="end marker"):
        decode_records(VECTOR[:-1])
    with pytest.raises(RecordError, match="longer than"):
        RecordDecoder(max_bytes=100).feed(b"\xe4" * 101)


def test_values_keep_five_significant_digits():
    assert encode_value(500) == bytes.fromhex("005000")
    assert encode_value(1234567) == bytes.fromhex("123462")       # 12346 x 10^2
    assert decode_records(b"\xe4\x26\x12\x01\x00\x01\x09\x00" + encode_value(1234567)
                          + b"\xff")[1] == Interval(0, ((12346, 2),))


def utc(*args):
    return int(datetime(*args, tzinfo=UTC).timestamp())


def test_interpreted_an_outage_and_a_clock_set_show_in_the_intervals_and_events():
    profile = interpret(RECORDS, std_offset_s=3600)        # CET: 00:00 local is 23:00 UTC
    imp, exp = profile.series
    assert (imp.channel.code, exp.channel.code, imp.interval_s) == ("1.8.0", "2.8.0", 1800)
    assert imp.exponent == -3
    rows = imp.intervals()
    assert [(end - utc(2026, 11, 30, 23)) // 60 for end, _, _ in rows] == [
        30, 60, 90, 180, 240]
    assert [value for _, value, _ in rows] == [500, 123450, 100, 250, 480]
    assert [status for _, _, status in rows] == [
        0, 0, S.POWER_FAIL, S.POWER_RECOVERY, S.CLOCK_SET | S.SHORT]
    # The outage leaves 01:30-02:30 missing; the clock set forward skips the 03:30 end.
    assert [run.first_end for run in imp.runs] == [
        utc(2026, 11, 30, 23, 30), utc(2026, 12, 1, 2), utc(2026, 12, 1, 3)]
    assert [(e.kind, (e.at - utc(2026, 11, 30, 23)) // 60) for e in profile.events] == [
        (EventKind.POWER_DOWN, 70), (EventKind.POWER_UP, 160), (EventKind.CLOCK_SET, 230)]
    assert dict(profile.events[2].data) == {"old": "03:20:00", "new": "03:50:00"}


def test_a_configuration_change_starts_a_new_segment_and_dst_is_flagged():
    records = [NewDay(date(2026, 3, 29), 0x0001, 9), Interval(0, ((1, 0),)),
               DstChange(time(1, 0), True), Interval(0, ((2, 0),)),
               ConfigChange(date(2026, 3, 29), time(1, 10), 0x0005, 7),
               Interval(0, ((3, 0), (4, 0))), ForcedEnd(time(1, 30)),
               ProfileCleared(date(2026, 3, 29), time(1, 31)), End()]
    profile = interpret(records, std_offset_s=0)
    first, second_import, second_q1 = profile.series
    assert (first.interval_s, second_import.interval_s, second_q1.channel.code) == (
        1800, 900, "5.8.0")
    assert first.intervals()[1][2] == S.DST_CHANGE
    assert second_import.intervals() == [(utc(2026, 3, 29, 1, 15), 3, S.CONFIG_CHANGE)]
    assert [e.kind for e in profile.events] == [
        EventKind.DST_CHANGE, EventKind.CONFIG_CHANGE, EventKind.BILLING_RESET,
        EventKind.PROFILE_CLEARED]


def test_a_day_skipped_leaves_a_gap_and_a_day_going_back_is_refused():
    records = [NewDay(date(2026, 12, 1), 1, 10), Interval(0, ((1, 0),)),
               NewDay(date(2026, 12, 3), 1, 10), Interval(0, ((2, 0),)), End()]
    (one,) = interpret(records, std_offset_s=0).series
    assert [run.first_end for run in one.runs] == [utc(2026, 12, 1, 1), utc(2026, 12, 3, 1)]
    with pytest.raises(ProfileError, match="record 2"):
        interpret(records[:2] + [NewDay(date(2026, 11, 30), 1, 10)], std_offset_s=0)
    with pytest.raises(ProfileError, match="before any day"):
        interpret([PowerUp(time(1, 0))], std_offset_s=0)
    with pytest.raises(ProfileError, match="names no channel"):
        interpret([NewDay(date(2026, 12, 1), 0x8000, 9)], std_offset_s=0)


_times = st.builds(time, st.integers(0, 23), st.integers(0, 59))
_values = st.tuples(st.integers(0, 99_999), st.integers(0, 9))


@given(st.lists(st.one_of(
    st.builds(Interval, st.integers(0, 0x7F), st.tuples(_values, _values)),
    st.builds(PowerUp, _times), st.builds(PowerDown, _times), st.builds(ForcedEnd, _times),
    st.builds(DstChange, _times, st.booleans()),
    st.builds(TimeChange, st.builds(time, st.integers(0, 23), st.integers(0, 59),
                                    st.integers(0, 59)),
              st.builds(time, st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)))),
    max_size=30))
def test_any_record_stream_round_trips(body):
    records = [NewDay(date(2026, 12, 1), 0x0003, 9), *body, End()]
    assert decode_records(encode_records(records)) == records


def test_the_meter_role_writes_days_by_itself_and_reads_back():
    from datetime import timedelta

    from hhu_sync.iec62056.elster_profile import ProfileWriter

    writer = ProfileWriter(0x0001, 9)
    start = datetime(2026, 12, 1, 23, 0)
    for k in range(1, 4):                          # ends 23:30, 00:00, 00:30
        writer.interval(start + timedelta(minutes=30 * k), [100 * k])
    writer.power_down(datetime(2026, 12, 2, 0, 40))
    writer.power_up(datetime(2026, 12, 2, 2, 5))
    writer.interval(datetime(2026, 12, 2, 2, 30), [1_234_567])
    records = decode_records(writer.stream())
    assert [type(r).__name__ for r in records] == [
        "ConfigChange", "Interval", "Interval", "NewDay", "Interval", "PowerDown", "PowerUp",
        "Interval", "End"]
    (one,) = interpret(records, std_offset_s=0).series
    assert [(end - utc(2026, 12, 1, 23)) // 60 for end, _, _ in one.intervals()] == [
        30, 60, 90, 210]
    assert [value for _, value, _ in one.intervals()] == [100, 200, 300, 1_234_600]
