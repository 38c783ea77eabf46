"""Upload version 3's values field (byte planes): what an HHU writes decodes to the same
mantissas, and a field that is truncated, too long, junk or beyond a bound is refused
naming the byte it fails at, before anything is allocated for its counts."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hhu_sync.profile.flags import IntervalStatus
from hhu_sync.profile.planes import MAX_PLANES, CodingError, decode_values, encode_values
from hhu_sync.profile.series import MAX_INTERVALS_PER_READ, Channel, ChannelSeries, Run
from hhu_sync.profile.wire import (
    MAX_MANTISSA,
    WireError,
    decode_profiles,
    encode_profile,
)

T0 = 1_764_547_200     # 2025-12-01T00:00:00Z
M = MAX_MANTISSA
SERIES = ChannelSeries(
    Channel("1.8.0", "kWh"), 1800, -3,
    (Run(T0 + 1800, (18841, 18900, None, 18000), (0, 0, int(IntervalStatus.POWER_FAIL), 0)),
     Run(T0 + 7 * 1800, (5, -3), (int(IntervalStatus.CLOCK_SET), 0))))
#: 18841, 18900, nil, 18000: two planes, four intervals, one nil at 2, the first value
#: 18841 (zigzag 37682), then +59 (zigzag 118 = 76) and -900 (zigzag 1799 = 0707).
FIELD = bytes.fromhex("02 04 01 02 b2a602 7607 0007")


def varint(value: int) -> bytes:
    """Unsigned LEB128, as the field writes its counts (for hand-made fields)."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def decode(data: bytes, limit: int = MAX_INTERVALS_PER_READ):
    return decode_values(data, limit, M)


def test_the_documented_run_codes_as_the_page_says():
    assert encode_values((18841, 18900, None, 18000)) == FIELD
    assert decode(FIELD) == (18841, 18900, None, 18000)


@pytest.mark.parametrize("values", [
    (0,), (None,), (None, None, None), (7, 7, 7, 7), (M, -M, M, -M), (-M,), (M, None, -M),
    (None, 1, None, None, 2, None), tuple(range(-300, 300)), (1, 2**16, -(2**24)),
])
def test_runs_come_back_as_they_went(values):
    assert decode(encode_values(values)) == values


def test_extreme_mantissas_take_the_seven_planes_and_no_more():
    field = encode_values((M, -M))
    assert field[0] == MAX_PLANES and decode(field) == (M, -M)


def test_a_run_of_equal_values_takes_no_plane():
    field = encode_values((5,) * 1000)
    assert field == bytes([0]) + bytes.fromhex("e807") + b"\x00\x0a"
    assert decode(field) == (5,) * 1000


def test_the_encoder_refuses_what_no_depot_reads():
    with pytest.raises(ValueError, match="at least one"):
        encode_values(())
    with pytest.raises(ValueError, match="more than 7 bytes"):
        encode_values((0, 2**62))


@pytest.mark.parametrize("cut", range(len(FIELD)))
def test_every_truncation_is_refused_naming_a_byte(cut):
    with pytest.raises(CodingError, match=r"^byte \d+: ") as caught:
        decode(FIELD[:cut])
    assert 0 <= caught.value.offset <= cut


@pytest.mark.parametrize(("data", "offset", "message"), [
    (b"", 0, "empty"),
    (bytes([8]) + FIELD[1:], 0, "8 byte planes, more than 7"),
    (bytes([2, 0, 0]), 1, "0 intervals"),
    (bytes([2]) + bytes.fromhex("81808001") + b"\x00", 1, "2097153 intervals"),
    (bytes([2, 0x84, 0x00]) + FIELD[2:], 1, "needless last byte 00"),
    (bytes([2, 4, 5, 0, 0, 0, 0, 0]), 2, "5 nil intervals in a run of 4"),
    (bytes([2, 4, 1, 4]) + FIELD[4:], 3, "nil index 4 is not below"),
    (FIELD + b"\x00", 7, "5 bytes of byte planes where 2 planes of 2 deltas take 4"),
    (FIELD[:-1], 7, "3 bytes of byte planes"),
    (bytes([0, 1, 0]) + bytes.fromhex("feffffffffffffffff"), 3, "longer than 9 bytes"),
    (bytes([0, 1, 0]) + bytes.fromhex("80808080808080808001"), 3, "longer than 9 bytes"),
    (bytes([0, 1, 0, 0x80, 0x80]), 3, "ends inside its varint"),
    (bytes([0, 1, 0]) + varint(2 * M + 1), 3, "the first value -1000000000000000 is beyond"),
    (bytes([0, 2, 2, 0, 0, 0]), 5, "1 bytes after a run of nils only"),
])
def test_junk_is_refused_naming_the_byte(data, offset, message):
    with pytest.raises(CodingError, match=message) as caught:
        decode(data)
    assert caught.value.offset == offset
    assert str(caught.value).startswith(f"byte {offset}: ")


def test_a_nil_index_after_the_last_is_refused():
    # gaps 1 then 0: nils at 1 and 2 in a run of 2
    with pytest.raises(CodingError, match="nil index 2 is not below the run's 2"):
        decode(bytes([0, 2, 2, 1, 0]))


def test_a_value_the_deltas_carry_beyond_the_bound_is_refused_naming_its_byte():
    first = encode_values((M,))[3:]                   # M as a zigzag varint
    plus_m = (2 * M).to_bytes(7, "little")            # +M, zigzag, in seven planes of 1
    data = bytes([7, 2, 0]) + first + plus_m          # M, then 2M: beyond
    with pytest.raises(CodingError, match=r"value 1 \(interval 1\) is beyond") as caught:
        decode(data)
    assert caught.value.offset == 3 + len(first)     # the delta's low byte
    nil_first = bytes([7, 3, 1, 0]) + first + plus_m  # the same after a nil
    with pytest.raises(CodingError, match=r"value 1 \(interval 2\)"):
        decode(nil_first)


def test_the_count_is_checked_against_the_channels_room_before_anything_is_made():
    with pytest.raises(CodingError, match="4 intervals, where a run may hold from 1 to 3"):
        decode(FIELD, limit=3)
    # a count of a million in a field of a few bytes is refused by the field's length
    huge = bytes([1]) + bytes.fromhex("808040") + b"\x00\x00"
    with pytest.raises(CodingError, match="bytes of byte planes where 1 planes"):
        decode(huge)


def test_a_field_fed_one_byte_more_at_a_time_decodes_only_when_whole():
    data = encode_values((100, None, 90, 95, None))
    for cut in range(len(data)):
        with pytest.raises(CodingError):
            decode(data[:cut])
    assert decode(data) == (100, None, 90, 95, None)


mantissas = st.one_of(st.integers(-M, M), st.sampled_from([M, -M, 0, 1, -1]))
runs = st.lists(st.one_of(st.none(), mantissas), min_size=1, max_size=300)


@settings(max_examples=200, deadline=None)
@given(runs)
def test_any_run_round_trips(values):
    values = tuple(values)
    assert decode(encode_values(values)) == values


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-50, 50)), min_size=1, max_size=200),
       st.integers(0, 10**14))
def test_any_noisy_run_round_trips_with_few_planes(deltas, base):
    values = []
    level = base
    for d in deltas:
        if d is None:
            values.append(None)
        else:
            level += d
            values.append(level)
    field = encode_values(values)
    assert field[0] <= 1 and decode(field) == tuple(values)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
@example(encode_values([5, None, -7, 12]))       # a field that decodes to values
@example(b"")                                    # an empty field: a named refusal
def test_junk_never_decodes_to_anything_but_values_or_a_named_refusal(data):
    try:
        values, refused = decode(data, limit=1000), None
    except CodingError as exc:
        values, refused = (), exc
    if refused is not None:                  # refused, naming a byte of the field
        assert 0 <= refused.offset <= len(data)
    else:                                    # or values, which encode back to themselves
        assert 1 <= len(values) <= 1000
        assert all(v is None or abs(v) <= M for v in values)
        assert decode(encode_values(values)) == values


# -- the field in its place: upload version 3's profiles ----------------------------------

def round_trip(value):
    return msgpack.unpackb(msgpack.packb(value), use_list=False)


def test_a_series_comes_back_as_it_went_in_version_3():
    raw = encode_profile(SERIES, 3)
    assert raw[4][0] == [T0 + 1800, FIELD, [2, 1]]
    (back,) = decode_profiles(round_trip([raw]), "p", 3)
    assert back == SERIES


def test_version_2_arrays_are_not_version_3_fields_nor_the_reverse():
    with pytest.raises(WireError, match=r"^p\[0\]\.runs\[0\]\.deltas: expected binary"):
        decode_profiles(round_trip([encode_profile(SERIES)]), "p", 3)
    with pytest.raises(WireError, match=r"^p\[0\]\.runs\[0\]\.deltas: expected an array"):
        decode_profiles(round_trip([encode_profile(SERIES, 3)]), "p", 2)


def test_a_bad_field_is_refused_naming_the_run_and_the_byte():
    raw = encode_profile(SERIES, 3)
    raw[4][1][1] = raw[4][1][1][:-1]
    with pytest.raises(WireError, match=r"^p\[0\]\.runs\[1\]\.deltas: byte 4: "):
        decode_profiles([raw], "p", 3)


def test_the_status_still_names_its_run_in_version_3():
    raw = encode_profile(SERIES, 3)
    raw[4][0][2] = [4, 1]
    with pytest.raises(WireError, match=r"^p\[0\]\.runs\[0\]\.status\[0\]"):
        decode_profiles([raw], "p", 3)


def test_a_channel_past_its_bound_of_intervals_is_refused_in_version_3():
    big = encode_values((1,) * MAX_INTERVALS_PER_READ)
    runs = [[T0, big, []], [T0 + 1800 * MAX_INTERVALS_PER_READ, encode_values((1,)), []]]
    raw = ["1.8.0", "kWh", 1800, -3, runs]
    with pytest.raises(WireError, match=r"^p\[0\]\.runs\[1\]\.deltas: no room for another"):
        decode_profiles([raw], "p", 3)
    assert len(big) < 16       # a million equal values: counts, no planes


@settings(max_examples=60, deadline=None)
@given(st.lists(runs, min_size=1, max_size=4))
def test_any_series_round_trips_in_version_3(value_runs):
    series = ChannelSeries(Channel("1.8.0", "kWh"), 900, -3, tuple(
        Run(T0 + 900 * 400 * r, tuple(values), (0,) * len(values))
        for r, values in enumerate(value_runs)))
    (back,) = decode_profiles(round_trip([encode_profile(series, 3)]), "p", 3)
    assert back == series


def test_runs_past_the_upload_s_room_are_refused_before_they_are_made():
    few = encode_values((1,) * 1000)          # six bytes
    raw = [[code, "kWh", 1800, -3, [[T0, few, []]]] for code in ("1.8.0", "2.8.0")]
    decode_profiles(raw, "p", 3, room=2000)
    with pytest.raises(WireError, match=r"^p\[1\]\.runs\[0\]\.deltas: byte 1: 1000 "
                                        r"intervals, where a run may hold from 1 to 999"):
        decode_profiles(raw, "p", 3, room=1999)


def test_a_run_that_would_end_after_the_last_time_is_refused_at_its_count():
    """A field of a few bytes counting a million intervals that would end past MAX_TIME
    is refused at its count's byte, before its million values are made (as a run past
    the channel's or the upload's room), naming the run's time bound."""
    from hhu_sync.profile.wire import MAX_TIME
    step = 1800
    first_end = MAX_TIME - 2 * step                  # room for three intervals
    raw = [["1.8.0", "kWh", step, -3, [[first_end, encode_values((5,) * 3), []]]]]
    (fits,) = decode_profiles(raw, "p", 3)
    assert fits.runs[0].values == (5, 5, 5)
    raw[0][4][0][1] = encode_values((5,) * 4)
    with pytest.raises(WireError, match=r"^p\[0\]\.runs\[0\]\.deltas: byte 1: 4 intervals, "
                                        r"where a run may hold from 1 to 3 here \(it ends "
                                        r"by 4102444800\)"):
        decode_profiles(raw, "p", 3)
    raw[0][4][0][1] = bytes([0]) + varint(MAX_INTERVALS_PER_READ) + b"\x00\x0a"  # 6 bytes
    with pytest.raises(WireError, match="byte 1: 1048576 intervals"):
        decode_profiles(raw, "p", 3)
