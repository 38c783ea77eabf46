"""Framing: COBS, CRC, the bounded frame decoder, and parse robustness (incl. hypothesis)."""

from __future__ import annotations

import os
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from link_pump import KEY, HhuApp, seeded

from hhu_sync.link import (
    NEED_DATA,
    Connection,
    FrameDecoder,
    ReasonCode,
    RemoteProtocolError,
    Role,
    cobs_decode,
    cobs_encode,
    encode_frame,
)
from hhu_sync.link import messages as m
from hhu_sync.link.framing import MAX_FRAME_BODY, max_encoded_size

SAMPLES = [
    b"",
    b"\x00",
    b"\x00\x00",
    b"a",
    b"a\x00b",
    b"\x01" * 253,
    b"\x01" * 254,
    b"\x01" * 255,
    b"\x01" * 254 + b"\x00",
    b"\x00" + b"\x01" * 508 + b"\x00",
    bytes(range(256)) * 3,
    os.urandom(5000),
]


@pytest.mark.parametrize("data", SAMPLES)
def test_cobs_roundtrip(data: bytes) -> None:
    enc = cobs_encode(data)
    assert b"\x00" not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(enc) == data


def test_cobs_known_vectors() -> None:
    # from the COBS paper / Wikipedia
    assert cobs_encode(b"\x00") == bytes.fromhex("0101")
    assert cobs_encode(b"\x00\x00") == bytes.fromhex("010101")
    assert cobs_encode(b"\x11\x22\x00\x33") == bytes.fromhex("03112202 33".replace(" ", ""))
    assert cobs_encode(b"\x11\x00\x00\x00") == bytes.fromhex("0211010101")
    assert cobs_encode(bytes(range(1, 255))) == b"\xff" + bytes(range(1, 255)) + b"\x01"


def test_cobs_decode_rejects_malformed() -> None:
    assert cobs_decode(b"\x05ab") is None  # code points past the end
    assert cobs_decode(b"\x02a\x00") is None  # zero inside


def frames_of(n: int = 5) -> tuple[list[bytes], bytes]:
    bodies = [bytes([m.T_DATA, 0, i]) + os.urandom(37 * i) + b"\x00" * i for i in range(n)]
    return bodies, b"".join(encode_frame(b) for b in bodies)


def test_decoder_whole() -> None:
    bodies, wire = frames_of()
    d = FrameDecoder()
    assert d.feed(wire) == bodies
    assert d.buffered == 0 and d.crc_errors == 0 and d.framing_errors == 0


def test_decoder_byte_at_a_time() -> None:
    bodies, wire = frames_of()
    d = FrameDecoder()
    got: list[bytes] = []
    for i in range(len(wire)):
        got += d.feed(wire[i : i + 1])
    assert got == bodies


def test_decoder_with_junk_around() -> None:
    bodies, wire = frames_of()
    junk = b"\x13\x37garbage\xff\xfe"
    d = FrameDecoder()
    got = d.feed(junk + b"\x00" + wire[: len(wire) // 2])
    got += d.feed(wire[len(wire) // 2 :] + junk)
    assert got == bodies
    assert d.crc_errors + d.framing_errors == 1  # the leading junk frame
    assert d.buffered == len(junk)
    assert d.feed(b"\x00") == [] and d.buffered == 0


def test_decoder_crc_error_dropped_and_resyncs() -> None:
    bodies, wire = frames_of(3)
    first = encode_frame(bodies[0])
    bad = bytearray(first)
    bad[3] ^= 0x40
    if bad[3] == 0:  # keep the corruption inside the frame
        bad[3] = 0x7E
    d = FrameDecoder()
    assert d.feed(bytes(bad) + wire) == bodies
    assert d.crc_errors + d.framing_errors == 1


def test_decoder_drops_oversize_frame_and_stays_bounded() -> None:
    d = FrameDecoder(max_body=100)
    limit = max_encoded_size(100)
    good = encode_frame(b"\x40\x07")
    for _ in range(20):
        assert d.feed(b"\x01" * 97) == []
        assert d.buffered <= limit
    # the rest of the too-long frame is skipped up to the next delimiter
    assert d.feed(b"\x01" * 10 + b"\x00" + good) == [b"\x40\x07"]
    assert d.framing_errors == 1
    # a too-long frame completed in one chunk is dropped too
    assert d.feed(b"\x02" * (limit + 5) + b"\x00" + good) == [b"\x40\x07"]
    assert d.framing_errors == 2


def test_encode_frame_layout() -> None:
    body = b"\x40\x07"
    raw = body + zlib.crc32(body).to_bytes(4, "big")
    assert encode_frame(body) == cobs_encode(raw) + b"\x00"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.binary(max_size=600), max_size=8))
def test_property_decoder_never_raises_and_is_bounded(chunks: list[bytes]) -> None:
    d = FrameDecoder(max_body=256)
    for c in chunks:
        for body in d.feed(c):
            assert isinstance(body, bytes) and len(body) >= 1
        assert d.buffered <= max_encoded_size(256)


def _hhu() -> Connection:
    return Connection(Role.HHU, key=KEY, hello=HhuApp().hello(), random=seeded(3))


def _dock() -> Connection:
    return Connection(Role.DOCK, keys=lambda h: KEY, random=seeded(4))


def _drain(conn: Connection) -> list:
    events = []
    try:
        while (ev := conn.next_event()) is not NEED_DATA:
            events.append(ev)
    except RemoteProtocolError:
        events.append("RemoteProtocolError")
    return events


frame_types = st.sampled_from(sorted(m.BY_TYPE) + [0x00, 0x05, 0x99, 0xFF])


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=200),  # line noise
            st.tuples(frame_types, st.binary(max_size=120)).map(
                lambda t: encode_frame(bytes([t[0]]) + t[1])  # CRC-valid, arbitrary fields
            ),
        ),
        max_size=10,
    ),
    st.booleans(),
)
def test_property_connection_events_or_remote_error(pieces: list[bytes], hhu: bool) -> None:
    """Any bytes yield events or a RemoteProtocolError, never another exception."""
    conn = _hhu() if hhu else _dock()
    if not hhu:
        from hhu_sync.link import StartHandshake

        conn.send(StartHandshake())
    for p in pieces:
        conn.receive_data(p)
        assert conn._decoder.buffered <= conn._decoder.max_encoded
        _drain(conn)
        conn.data_to_send()
    assert conn._decoder.max_encoded == max_encoded_size(MAX_FRAME_BODY)


@pytest.mark.parametrize("body", [b"", b"\x99", b"\x10\x01", b"\x13", b"\x02\x01\x01" + b"\0" * 16])
def test_parse_body_rejects_malformed(body: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        m.parse_body(body)


def test_parse_body_roundtrip_every_type() -> None:
    samples = [
        m.Hello(1, 1, b"n" * 16, 32, 1024, ("zlib",)),
        m.Challenge(1, 1, b"h" * 16, "HHU-1"),
        m.Auth(2, b"m" * 32),
        m.Welcome(2, 32, 1024, ("zlib",), b"\x90", b"w" * 32),
        m.Offer(3, 7, 1000, b"s" * 32, "b-1"),
        m.Accept(3, 10),
        m.Held(3),
        m.Refuse(3, ReasonCode.FLASH_FULL, "flash full"),
        m.Done(4),
        m.Committed(4),
        m.Busy(4),
        m.Get(5, 0, "u-1"),
        m.UpStart(5, 9, 77, b"s" * 32),
        m.AckUp(6, "u-1"),
        m.Cleared(6),
        m.Data(65535, b"\x00\x01"),
        m.Sack(3, b"\x05"),
        m.Ping(7),
        m.Pong(7),
        m.CloseReq(8),
        m.CloseOk(8),
        m.AbortMsg(ReasonCode.CANCELLED, "bye"),
    ]
    assert {type(s) for s in samples} == set(m.BY_TYPE.values())
    for s in samples:
        assert m.parse_body(s.encode()) == s
