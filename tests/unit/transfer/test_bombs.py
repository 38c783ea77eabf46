"""Decompression bombs: whatever size a file declares, inflating it is bounded.

A real bomb (about 200 KB of zlib that inflates to 200 MB) with every kind of wrong
``expanded_size`` (negative, zero, absent, a boolean, a string, a lie, over the limit) is
refused, and the memory used while refusing it stays small. Memory is measured with
tracemalloc (peak of Python allocations, which zlib's output buffers are), never time.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import tracemalloc
import zlib

import msgpack
import pytest

from hhu_sync.errors import TransferError
from hhu_sync.link.errors import RemoteProtocolError
from hhu_sync.link.messages import ENC_ZLIB
from hhu_sync.link.selective_repeat import Receiver
from hhu_sync.transfer import MAGIC, Limits, decode_transfer

KEY = bytes(range(32))
BOMB_EXPANDS_TO = 200 * 1024 * 1024
PEAK_LIMIT = 8 * 1024 * 1024     # what refusing a bomb may cost, whatever it declares


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """200 MB of zeros in zlib, made a megabyte at a time (so making it is cheap too)."""
    deflater = zlib.compressobj(9)
    zeros = bytes(1 << 20)
    parts = [deflater.compress(zeros) for _ in range(BOMB_EXPANDS_TO >> 20)]
    parts.append(deflater.flush())
    data = b"".join(parts)
    assert len(data) < 250_000
    return data


def sealed(header: dict, body: bytes) -> bytes:
    head = msgpack.packb(header)
    out = struct.pack(">8sHHIQ", MAGIC, 1, 0, len(head), len(body)) + head + body
    out += hashlib.sha256(out).digest()
    return out + hmac.new(KEY, out, hashlib.sha256).digest()


def header(**changes) -> dict:
    h = {"kind": "readings", "bundle_id": "U-1", "created": "2026-11-25T10:00:00+00:00",
         "source": "HHU-001", "target": "depot", "compression": "zlib",
         "expanded_size": 100, "manifest": []}
    h.update(changes)
    return {k: v for k, v in h.items() if v is not ABSENT}


ABSENT = object()


def peak_of(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize(("declared", "message"), [
    (-1, "'expanded_size': -1 is not a size"),
    (0, "'expanded_size': 0 is not a size"),
    (-(2**63), "is not a size"),
    (ABSENT, "'expanded_size' missing"),
    (True, "'expanded_size' missing or not a int"),
    ("209715200", "'expanded_size' missing or not a int"),
    (100, "expands beyond its declared size of 100 bytes"),
    (2**40, "over the limit"),
])
def test_a_bomb_is_refused_whatever_it_declares_and_costs_little_memory(bomb, declared,
                                                                        message):
    data = sealed(header(expanded_size=declared), bomb)

    def decode():
        with pytest.raises(TransferError, match=message) as caught:
            decode_transfer(data, KEY)
        assert caught.value.offset is not None           # the byte offset is named

    assert peak_of(decode) < PEAK_LIMIT + len(data)


def test_inflating_stops_at_the_first_byte_over_an_honest_declared_size(bomb):
    """Declared as 4 MiB (within a 4 MiB hard limit): 4 MiB and one byte, no more."""
    data = sealed(header(expanded_size=4 << 20), bomb)

    def decode():
        with pytest.raises(TransferError, match="expands beyond its declared size"):
            decode_transfer(data, KEY, limits=Limits(max_expanded=4 << 20))

    assert peak_of(decode) < (4 << 20) + PEAK_LIMIT + len(data)


def test_a_declared_size_over_the_hard_limit_is_refused_before_inflating(bomb):
    data = sealed(header(expanded_size=(4 << 20) + 1), bomb)
    with pytest.raises(TransferError, match="over the limit"):
        decode_transfer(data, KEY, limits=Limits(max_expanded=4 << 20))


def test_bytes_after_the_zlib_stream_are_refused():
    body = msgpack.packb({"visits": []})
    data = sealed(header(expanded_size=len(body)), zlib.compress(body) + b"junk")
    with pytest.raises(TransferError, match="after the end of the zlib stream"):
        decode_transfer(data, KEY)


def test_a_zlib_stream_that_does_not_end_is_refused():
    body = msgpack.packb({"visits": []})
    data = sealed(header(expanded_size=len(body)), zlib.compress(body)[:-4])
    with pytest.raises(TransferError, match="does not end"):
        decode_transfer(data, KEY)


# --- the link's receiver: an upload or a bundle arriving over the cradle ------------------


def frames(stream: bytes, size: int = 1024):
    first = bytes([ENC_ZLIB])
    for i in range(0, len(stream), size):
        yield (first if i == 0 else b"") + stream[i:i + size]


def test_a_bomb_over_the_link_is_refused_at_the_first_byte_over(bomb):
    rx = Receiver(seq0=0, window=1 << 15, need=1 << 20, allowed=("zlib",))

    def receive():
        with pytest.raises(RemoteProtocolError, match="more bytes than the object size"):
            for seq, payload in enumerate(frames(bomb)):
                rx.on_data(seq & 0xFFFF, payload)

    assert peak_of(receive) < (1 << 20) + PEAK_LIMIT
    assert rx.got <= 1 << 20


@pytest.mark.parametrize("need", [-1, -2, True, 2**64, "100"])
def test_a_receiver_refuses_a_size_that_is_not_a_size(need):
    with pytest.raises(RemoteProtocolError, match="object size"):
        Receiver(seq0=0, window=8, need=need, allowed=("zlib",))


def test_bytes_after_the_end_of_a_compressed_object_are_refused():
    body = b"x" * 1000
    rx = Receiver(seq0=0, window=8, need=len(body), allowed=("zlib",))
    with pytest.raises(RemoteProtocolError, match="after the end of the zlib stream"):
        rx.on_data(0, bytes([ENC_ZLIB]) + zlib.compress(body) + b"trailing junk")


def test_a_compressed_stream_that_never_produces_output_is_cut_off():
    """Empty stored blocks inflate to nothing: a peer could send them for ever."""
    rx = Receiver(seq0=0, window=1 << 15, need=100, allowed=("zlib",))
    deflater = zlib.compressobj()
    head = deflater.compress(b"") + deflater.flush(zlib.Z_SYNC_FLUSH)
    empty = b"\x00\x00\x00\xff\xff"     # an empty stored block: five bytes, no output
    assert zlib.decompressobj().decompress(head + empty * 10) == b""
    with pytest.raises(RemoteProtocolError, match="stream bytes"):
        rx.on_data(0, bytes([ENC_ZLIB]) + head)
        for seq in range(1, 100_000):
            rx.on_data(seq & 0xFFFF, empty * 200)



# -- object bombs: few bytes of msgpack, many Python objects ---------------------------------

def _array(n: int, item: bytes) -> bytes:
    return b"\xdd" + n.to_bytes(4, "big") + item * n


OBJECT_BOMBS = {
    # one byte of msgpack (0x80, an empty map) is a new dict of about 64 bytes: 5 MB of
    # input, compressed to 5 KB, was 425 MB of dicts before ingest saw its first visit
    "one array of millions of empty maps": _array(5_000_000, b"\x80"),
    "many arrays each within the item bound": _array(100, _array(50_000, b"\x80")),
    "millions of short strings in bounded arrays": _array(100, _array(90_000, b"\xa2ab")),
    "nested empty arrays": _array(100, _array(90_000, b"\x91\x90")),
}


@pytest.mark.parametrize("body", OBJECT_BOMBS.values(), ids=OBJECT_BOMBS.keys())
def test_a_payload_of_millions_of_tiny_objects_is_refused_at_a_bounded_cost(body):
    """Refused by the default limits; and what refusing costs follows the object budget
    (measured with a small budget, so that tracemalloc stays quick), not the input."""
    payload = b"\x81\xa6visits" + body
    data = sealed(header(expanded_size=len(payload)), zlib.compress(payload, 9))
    assert len(data) < 64_000
    with pytest.raises(TransferError, match="payload") as err:
        decode_transfer(data, KEY, use_list=False)
    assert err.value.offset is not None
    tracemalloc.start()
    try:
        with pytest.raises(TransferError, match="payload"):
            decode_transfer(data, KEY, use_list=False,
                            limits=Limits(max_objects=50_000, max_items=50_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(payload) + PEAK_LIMIT, peak


def test_an_honest_upload_of_ten_thousand_readings_is_within_the_object_budget():
    from hhu_sync.transfer import encode_transfer
    visits = [{"meter": f"M{v:05d}", "list": "L1", "time": "2026-11-25T10:00:00+00:00",
               "outcome": "done", "notes": "", "operator": "x", "scheme": None,
               "verify": None, "error_flags": "00000000",
               "registers": [[f"1.8.{i}", "12.5", "kWh", "2026-11-25T10:00:00+00:00"]
                             for i in range(10)]} for v in range(1_000)]
    data = encode_transfer("readings", {"visits": visits}, source="HHU-001",
                           target="depot", key=KEY)
    assert len(decode_transfer(data, KEY, use_list=False).payload["visits"]) == 1_000
