"""VDEW/EMH load profile P.01 and logbook P.98: the published examples as golden vectors.

Each vector is decoded whole, one byte at a time and with junk around it (over the
connection), and the result compared field by field with what the meter meant.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hhu_sync.iec62056.loadprofile import (
    LOGBOOK,
    LocalStamp,
    LogEntry,
    MeterClock,
    ProfileDecodeError,
    ProfileHeader,
    ProfileParser,
    ProfileSection,
    decode,
    encode_entries,
    encode_sections,
    format_value,
    interval_status,
    parse_range,
    parse_stamp,
    range_param,
    to_events,
    to_series,
)
from hhu_sync.profile.events import EventKind, MeterEvent
from hhu_sync.profile.flags import IntervalStatus as S
from hhu_sync.profile.series import Channel

BERLIN = MeterClock.of("Europe/Berlin")
EMH_CH = "(1.8)(kWh)(3.8)(kvarh)(2.8)(kWh)(4.8)(kvarh)"


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def lines(*rows: str) -> str:
    return "".join(r + "\r\n" for r in rows)


# The EMH LZQJ example (12-digit stamps, no season digit) carried on over the end of
# summer time on 2009-10-25: 03:00 CEST is 02:00 CET, and the meter starts a new header
# with the season-change bit at the first interval of the repeated hour.
EMH_DST = lines(
    f"P.01(091025000500)(00000004)(5)(4){EMH_CH}",
    "(00018.841)(00000.000)(00000.000)(00000.875)",
    f"P.01(091025025000)(00000000)(5)(4){EMH_CH}",
    "(00018.901)(00000.000)(00000.000)(00000.880)",
    "(00018.950)(00000.000)(00000.000)(00000.881)",
    "(00019.000)(00000.000)(00000.000)(00000.882)",
    f"P.01(091025020500)(00000008)(5)(4){EMH_CH}",
    "(00019.050)(00000.000)(00000.000)(00000.883)",
    "(00019.100)(00000.000)(00000.000)(00000.884)",
)

# MetCom MCS301 (13-digit stamps: season 1, summer), the published header and values,
# then a status change mid-profile: the DST byte clears and a new header follows on.
METCOM_CH = ("(1-0:1.5.0)(kW)(1-0:2.5.0)(kW)(1-0:5.5.0)(kvar)(1-0:6.5.0)(kvar)"
             "(1-0:7.5.0)(kvar)(1-0:8.5.0)(kvar)")
METCOM = lines(
    f"P.01(1220401010000)(08)(15)(6){METCOM_CH}",
    "(0.30499)(0.00000)(0.00000)(0.00000)(0.00000)(0.00728)",
    "(0.31000)(0.00000)(0.00000)(0.00000)(0.00000)(0.00700)",
    f"P.01(1220401013000)(00)(15)(6){METCOM_CH}",
    "(0.29000)(0.00000)(0.00000)(0.00000)(0.00000)(0.00650)",
)

# An EMH profile across a power failure: status changes mid-profile, the time jumps.
OUTAGE = lines(
    "P.01(0261101001500)(0000)(15)(2)(1.8.0)(kWh)(2.8.0)(kWh)",
    "(0.25)(0.00)",
    "(0.25)(0.00)",
    "P.01(0261101004500)(0080)(15)(2)(1.8.0)(kWh)(2.8.0)(kWh)",
    "(0.10)(0.00)",
    "P.01(0261101011500)(00C0)(15)(2)(1.8.0)(kWh)(2.8.0)(kWh)",
    "(0.05)()",
    "P.01(0261101013000)(0000)(15)(2)(1.8.0)(kWh)(2.8.0)(kWh)",
    "(0.25)(0.00)",
)

LOG = lines(
    "P.98(1220906115553)(00000080)()(0)",
    "P.98(1220826235646)(00008020)()(2)(0.9.1)()(0.9.2)()(1235703)(1220826)",
)


def decode_bytewise(text: str, address: str = "P.01"):
    parser = ProfileParser(address)
    for ch in text:
        parser.feed(ch)
    return parser.close()


@pytest.mark.parametrize("feed", [decode, decode_bytewise], ids=["whole", "bytewise"])
def test_emh_over_the_end_of_summer_time(feed):
    decoded = feed(EMH_DST)
    assert [s.header.status for s in decoded.sections] == [0x04, 0x00, 0x08]
    assert decoded.sections[0].header == ProfileHeader(
        LocalStamp(datetime(2009, 10, 25, 0, 5), None, True), 4, 5,
        (Channel("1.8", "kWh"), Channel("3.8", "kvarh"), Channel("2.8", "kWh"),
         Channel("4.8", "kvarh")), 8)
    read = to_series(decoded.sections, BERLIN)
    imp = read.series[0]
    assert imp.channel == Channel("1.8", "kWh") and imp.interval_s == 300
    assert imp.exponent == -3
    # 00:05 CEST is 22:05 UTC the day before; 02:50 is the first 02:50 (CEST); the
    # header at 02:05 is the second one (CET), 01:05 UTC: it follows on, one run.
    assert [(r.first_end, r.values, r.status) for r in imp.runs] == [
        (utc(2009, 10, 24, 22, 5), (18841,), (S.DISTURBED,)),
        (utc(2009, 10, 25, 0, 50), (18901, 18950, 19000, 19050, 19100),
         (0, 0, 0, S.DST_CHANGE, S.DST_CHANGE)),
    ]
    assert read.series[3].runs[1].values == (880, 881, 882, 883, 884)
    assert read.raw_status == ((4, 0, 0, 0, 8, 8),)
    ends = [end for end, _, _ in imp.intervals()]
    assert ends == sorted(ends) and ends[-1] == utc(2009, 10, 25, 1, 10)


@pytest.mark.parametrize("feed", [decode, decode_bytewise], ids=["whole", "bytewise"])
def test_metcom_status_byte_and_13_digit_stamps(feed):
    decoded = feed(METCOM)
    assert [s.header.status_digits for s in decoded.sections] == [2, 2]
    read = to_series(decoded.sections, BERLIN)
    assert len(read.series) == 6
    kw = read.series[0]
    assert kw.channel == Channel("1-0:1.5.0", "kW") and kw.exponent == -5
    # season 1: summer time, UTC+2 in Berlin; the status change continues the run.
    assert [(r.first_end, r.values, r.status) for r in kw.runs] == [
        (utc(2022, 3, 31, 23, 0), (30499, 31000, 29000),
         (S.DST_CHANGE, S.DST_CHANGE, 0)),
    ]
    assert read.series[5].runs[0].values == (728, 700, 650)


def test_a_power_failure_breaks_the_run_and_flags_the_intervals():
    read = to_series(decode(OUTAGE).sections, MeterClock(standard_offset_s=3600))
    imp, exp = read.series
    assert imp.exponent == -2
    assert [(r.first_end, r.values, r.status) for r in imp.runs] == [
        (utc(2026, 10, 31, 23, 15), (25, 25, 10), (0, 0, S.POWER_FAIL)),
        (utc(2026, 11, 1, 0, 15), (5, 25),
         (S.POWER_FAIL | S.POWER_RECOVERY, 0)),
    ]
    assert exp.runs[1].values == (None, 0)
    assert read.raw_status == ((0, 0, 0x80, 0xC0, 0),)


def test_logbook_entries_become_events_with_the_clock_set_data():
    decoded = decode(LOG, LOGBOOK)
    assert decoded.entries == [
        LogEntry(LocalStamp(datetime(2022, 9, 6, 11, 55, 53), 1), 0x80),
        LogEntry(LocalStamp(datetime(2022, 8, 26, 23, 56, 46), 1), 0x8020,
                 (("0.9.1", "1235703"), ("0.9.2", "1220826"))),
    ]
    assert decode_bytewise(LOG, LOGBOOK).entries == decoded.entries
    assert to_events(decoded.entries, BERLIN) == [
        MeterEvent(utc(2022, 9, 6, 9, 55, 53), EventKind.POWER_DOWN, 0x80),
        MeterEvent(utc(2022, 8, 26, 21, 56, 46), EventKind.CLOCK_SET, 0x8020,
                   (("0.9.1", "1235703"), ("0.9.2", "1220826"))),
    ]
    assert "".join(encode_entries(decoded.entries)) == LOG


def test_an_entry_of_several_bits_is_several_events_and_unknown_bits_other():
    entries = decode(lines("P.98(2261101000000)(000000C0)()(0)",
                           "P.98(2261101000100)(00000004)()(0)"), LOGBOOK).entries
    kinds = [e.kind for e in to_events(entries)]
    assert kinds == [EventKind.POWER_DOWN, EventKind.POWER_UP, EventKind.OTHER]


def test_error_means_an_empty_range():
    assert decode("P.01(ERROR)\r\n").empty
    assert decode("(ERROR)").empty
    assert decode("P.98(ERROR)", LOGBOOK).empty


def test_the_status_codes_map_onto_our_flags():
    assert interval_status(0x00FF, "vdew") == (
        S.POWER_FAIL | S.POWER_RECOVERY | S.CLOCK_SET | S.DEVICE_RESET | S.DST_CHANGE
        | S.DISTURBED | S.CLOCK_INVALID | S.FATAL_ERROR)
    assert interval_status(0x40, "metcom") == 0       # bit 6 means nothing there
    assert interval_status(0xA0, "metcom") == S.POWER_FAIL | S.CLOCK_SET


def test_stamps_and_ranges():
    assert parse_stamp("091025000500") == LocalStamp(datetime(2009, 10, 25, 0, 5), None)
    assert parse_stamp("12604010100") == LocalStamp(datetime(2026, 4, 1, 1, 0), 1, False)
    assert parse_stamp("2260401010000").season == 2
    assert range_param() == ";"
    start = LocalStamp(datetime(2026, 11, 1, 0, 0), 0, False)
    assert range_param(start) == "02611010000;"
    assert parse_range("02611010000;") == (start, None)
    assert parse_range(range_param(start, start)) == (start, start)


def test_utc_stamps_and_the_fold_without_a_season_digit():
    fold = LocalStamp(datetime(2026, 10, 25, 2, 30), None)
    assert BERLIN.to_utc(fold) == utc(2026, 10, 25, 0, 30)       # the first 02:30
    assert BERLIN.to_utc(fold, utc(2026, 10, 25, 0, 50)) == utc(2026, 10, 25, 1, 30)
    assert BERLIN.to_utc(LocalStamp(datetime(2026, 10, 25, 2, 30), 2)) == \
        utc(2026, 10, 25, 2, 30)
    assert BERLIN.local(utc(2026, 7, 1, 10, 0)).encode() == "1260701120000"


@pytest.mark.parametrize(("text", "offset", "what"), [
    ("P.01(0910250005)(0000)(15)(1)(1.8)(kWh)\r\n(1.0)(2.0)\r\n", 41, "1 channels"),
    ("P.01(0910250005)(0000)(15)(1)(1.8)(kWh)\r\n(1.x)\r\n", 42, "not a number"),
    ("P.01(0913250005)(0000)(15)(1)(1.8)(kWh)\r\n", 5, "month must be"),
    ("P.01(0910250005)(0000)(7)(1)(1.8)(kWh)\r\n", 23, "interval"),
    ("P.01(0910250005)(0000)(15)(2)(1.8)(kWh)\r\n", 0, "announces 2 channels"),
    ("(1.0)\r\n", 0, "before any profile header"),
    ("P.01(0910250005)(00Z0)(15)(1)(1.8)(kWh)\r\n", 17, "hex"),
    ("P.01(0910250005)(0000)(15)(1)(1.8)(kWh)\r\nX(1.0)\r\n", 41, "neither"),
])
def test_errors_name_the_byte_offset(text, offset, what):
    for feed in (decode, decode_bytewise):
        with pytest.raises(ProfileDecodeError, match=what) as info:
            feed(text)
        assert info.value.offset == offset


def test_offsets_count_from_the_stream_position_given():
    parser = ProfileParser()
    parser.feed("P.01(0910250005)(0000)(15)(1)(1.8)(kWh)\r\n", 1000)
    with pytest.raises(ProfileDecodeError) as info:
        parser.feed("(1.x)\r\n")
    assert info.value.offset == 1042


def test_lines_are_bounded():
    parser = ProfileParser(max_line=64)
    with pytest.raises(ProfileDecodeError, match="longer than 64"):
        parser.feed("(" + "1" * 100)


def test_format_value():
    assert format_value(18841, -3, 5) == "00018.841"
    assert format_value(-5, -2) == "-0.05"
    assert format_value(7, 0, 3) == "007"


# -- round trip ----------------------------------------------------------------------------

_codes = st.sampled_from(["1.8.0", "2.8.0", "3.8", "4.8", "1-0:1.5.0"])
_units = st.sampled_from(["kWh", "kvarh", "kW", ""])
_stamps = st.builds(
    LocalStamp,
    st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(
        lambda d: d.replace(microsecond=0)),
    st.sampled_from([None, 0, 1, 2]), st.booleans(),
).map(lambda s: s if s.seconds else LocalStamp(s.when.replace(second=0), s.season, False))


@st.composite
def sections(draw):
    width = draw(st.integers(1, 4))
    channels = tuple(Channel(draw(_codes), draw(_units)) for _ in range(width))
    digits = draw(st.sampled_from([2, 4, 8]))
    header = ProfileHeader(draw(_stamps), draw(st.integers(0, 16 ** digits - 1)),
                           draw(st.sampled_from([1, 5, 15, 30, 60])), channels, digits)
    value = st.one_of(st.just(""), st.builds(format_value, st.integers(-10**6, 10**9),
                                             st.integers(-5, 0), st.integers(0, 6)))
    rows = draw(st.lists(st.tuples(*[value] * width), max_size=5))
    return ProfileSection(header, tuple(rows))


@settings(max_examples=150, deadline=None)
@given(st.lists(sections(), max_size=4))
def test_encode_then_decode_gives_the_sections_back(secs):
    text = "".join(encode_sections(secs))
    assert decode(text).sections == secs
    assert decode_bytewise(text).sections == secs


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(
    LogEntry, _stamps.map(lambda s: LocalStamp(s.when, s.season, True)),
    st.integers(0, 0xFFFFFFFF),
    st.lists(st.tuples(_codes, st.from_regex(r"[0-9]{0,7}", fullmatch=True)),
             max_size=3).map(tuple)), max_size=4))
def test_logbook_round_trip(entries):
    text = "".join(encode_entries(entries))
    assert decode(text, LOGBOOK).entries == entries
