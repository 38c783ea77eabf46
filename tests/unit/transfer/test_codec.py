"""Transfer files: round trips, and every way a file can be damaged is refused."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import zlib
from datetime import UTC, datetime

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hhu_sync.errors import TransferError
from hhu_sync.transfer import (
    MAGIC,
    Limits,
    decode_transfer,
    encode_transfer,
    peek_header,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
WHEN = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def scheme_dict(**changes) -> dict:
    """A scheme as packing writes it (Scheme.to_dict), with ``changes``."""
    scheme = {
        "id": "s1", "name": "S1", "model": "A1700", "version": 1, "description": "",
        "ct_ratio": None, "vt_ratio": None,
        "rates": [{"number": 1, "name": "Day", "registers": ["1.8.1"]}],
        "day_profiles": [{"id": "d", "switches": [{"at": "00:00", "rate": 1}]}],
        "week_profiles": [{"id": "w", "days": ["d"] * 7}],
        "seasons": [], "special_days": [], "demand_period_minutes": 30,
        "billing_reset_day": 1, "billing_reset_time": "00:00", "display_items": ["1.8.1"],
        "display_scroll_seconds": 8, "passwords": [],
    }
    scheme.update(changes)
    return scheme


def sample(compress: bool = True) -> bytes:
    payload = {"schemes": [scheme_dict(blob=b"\x00\x01")]}
    return encode_transfer("quick_send", payload, source="depot", target="HHU-001", key=KEY,
                           bundle_id="B-1", created=WHEN, compress=compress)


def build(header: dict, body: bytes, *, major: int = 1, minor: int = 0,
          key: bytes = KEY) -> bytes:
    """A file with arbitrary header and payload, correctly digested and sealed."""
    head = msgpack.packb(header)
    out = struct.pack(">8sHHIQ", MAGIC, major, minor, len(head), len(body)) + head + body
    out += hashlib.sha256(out).digest()
    return out + hmac.new(key, out, hashlib.sha256).digest()


def good_header(**changes) -> dict:
    header = {"kind": "readings", "bundle_id": "U-1", "created": WHEN.isoformat(),
              "source": "HHU-001", "target": "depot", "compression": "none",
              "expanded_size": 1, "manifest": []}
    header.update(changes)
    return header


def test_round_trip_keeps_header_and_payload():
    t = decode_transfer(sample(), KEY)
    assert t.sealed
    assert t.header.kind == "quick_send" and t.header.bundle_id == "B-1"
    assert t.header.source == "depot" and t.header.target == "HHU-001"
    assert t.header.created == WHEN
    assert t.payload["schemes"][0]["blob"] == b"\x00\x01"
    assert t.header.manifest == ({"type": "scheme", "id": "s1"},)


def test_decoding_without_key_checks_the_digest_but_not_the_seal():
    assert decode_transfer(sample()).sealed is False


def test_incompressible_payload_is_stored_raw():
    data = encode_transfer("readings", {"x": os.urandom(4096)}, source="HHU-001",
                           target="depot", key=KEY)
    assert peek_header(data).compression == "none"


def test_compressible_payload_is_compressed():
    data = encode_transfer("readings", {"x": "a" * 4096}, source="HHU-001",
                           target="depot", key=KEY)
    assert peek_header(data).compression == "zlib" and len(data) < 1000


@pytest.mark.parametrize("compress", [True, False])
def test_any_single_flipped_byte_is_refused(compress):
    data = sample(compress)
    for offset in range(len(data)):
        for mask in (0x01, 0x80, 0xFF):
            damaged = bytearray(data)
            damaged[offset] ^= mask
            with pytest.raises(TransferError):
                decode_transfer(bytes(damaged), KEY)


def test_wrong_key_is_refused_by_the_seal():
    with pytest.raises(TransferError, match="seal does not match"):
        decode_transfer(sample(), OTHER_KEY)


def test_every_truncation_is_refused():
    data = sample()
    for length in range(len(data)):
        with pytest.raises(TransferError):
            decode_transfer(data[:length], KEY)


def test_truncation_message_names_the_sizes():
    data = sample()
    with pytest.raises(TransferError, match=rf"truncated: 100 bytes of {len(data)}"):
        decode_transfer(data[:100])


def test_trailing_bytes_are_refused():
    with pytest.raises(TransferError, match="unexpected bytes after the seal"):
        decode_transfer(sample() + b"\x00")


def test_a_version_from_the_future_is_refused_by_name():
    data = build(good_header(), b"\xc0", major=2, minor=3)
    with pytest.raises(TransferError, match=r"format version 2\.3 is newer .* upgrade"):
        decode_transfer(data, KEY)


def test_a_newer_minor_version_is_read():
    data = build(good_header(expanded_size=1), msgpack.packb({}), minor=9)
    assert decode_transfer(data, KEY).header.version == (1, 9)


def test_bad_magic_is_named():
    with pytest.raises(TransferError, match=r"at byte 0: not a transfer file"):
        decode_transfer(b"PK\x03\x04" + bytes(200))


def test_oversized_header_length_is_refused_before_reading_it():
    prefix = struct.pack(">8sHHIQ", MAGIC, 1, 0, 2**31, 0)
    with pytest.raises(TransferError, match="at byte 12: header length"):
        decode_transfer(prefix + bytes(100))


def test_oversized_payload_length_is_refused_before_reading_it():
    prefix = struct.pack(">8sHHIQ", MAGIC, 1, 0, 10, 2**40)
    with pytest.raises(TransferError, match="at byte 16: payload length"):
        decode_transfer(prefix + bytes(100))


def test_decompression_bomb_is_refused():
    bomb = zlib.compress(b"\x00" * 10_000_000)
    data = build(good_header(compression="zlib", expanded_size=100), bomb)
    with pytest.raises(TransferError, match="expands beyond its declared size"):
        decode_transfer(data, KEY)


def test_declared_expansion_over_the_limit_is_refused():
    data = build(good_header(compression="zlib", expanded_size=10**12), zlib.compress(b"x"))
    with pytest.raises(TransferError, match="over the limit"):
        decode_transfer(data, KEY)


def test_header_with_path_in_bundle_id_is_refused():
    data = build(good_header(bundle_id="../../etc/passwd"), msgpack.packb({}))
    with pytest.raises(TransferError, match="'bundle_id'"):
        decode_transfer(data, KEY)


def test_header_with_unknown_kind_is_refused():
    data = build(good_header(kind="firmware"), msgpack.packb({}))
    with pytest.raises(TransferError, match="unknown kind 'firmware'"):
        decode_transfer(data, KEY)


def test_payload_that_is_not_a_map_is_refused():
    body = msgpack.packb([1, 2])
    data = build(good_header(expanded_size=len(body)), body)
    with pytest.raises(TransferError, match="payload is not a map"):
        decode_transfer(data, KEY)


def test_limits_are_configurable():
    with pytest.raises(TransferError, match="header length"):
        decode_transfer(sample(), KEY, limits=Limits(max_header=10))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_a_transfer_error_or_a_transfer(blob):
    try:
        decode_transfer(blob)
    except TransferError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 2**16))
def test_arbitrary_bytes_behind_a_valid_prefix_are_refused_cleanly(blob, hlen):
    data = struct.pack(">8sHHIQ", MAGIC, 1, 0, hlen, len(blob)) + blob
    with pytest.raises(TransferError):
        decode_transfer(data)


values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.text(max_size=20)
    | st.binary(max_size=20) | st.floats(allow_nan=False),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                              max_size=4),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["quick_send", "readings"]),
       st.dictionaries(st.text(max_size=8).filter(lambda k: k != "schemes"), values,
                       max_size=5), st.booleans())
def test_any_payload_round_trips(kind, payload, compress):
    """Any map round trips as readings (ingest checks its fields), and as a bundle when
    it has no field a bundle reader walks (issue 12: those are checked, see test_shape)."""
    data = encode_transfer(kind, payload, source="HHU-9", target="depot", key=KEY,
                           compress=compress)
    assert decode_transfer(data, KEY).payload == payload


@pytest.mark.parametrize(("field", "value", "message"), [
    ("created", "2026-11-25T10:00:00", "'created' has no UTC offset"),
    ("manifest", [{"type": [[[]]]}], "'manifest' is not a list of flat maps"),
    ("manifest", [{}] * 10_001, "'manifest' is not a list of flat maps"),
])
def test_header_fields_a_reader_uses_are_typed(field, value, message):
    body = msgpack.packb({"visits": []})
    data = build(good_header(expanded_size=len(body), **{field: value}), body)
    with pytest.raises(TransferError, match=message):
        decode_transfer(data, KEY)
