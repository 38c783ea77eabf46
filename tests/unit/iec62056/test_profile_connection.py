"""R5/R6 reads of P.01 and P.98 over the sans-IO connections, both roles.

The meter's bytes are written out literally (``STX data EOT BCC`` per partial block), so
these double as a golden transcript of several R6 blocks.
"""

from __future__ import annotations

import operator
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hhu_sync.iec62056 import (
    NEED_DATA,
    Ack,
    Break,
    ClientSettings,
    ClientState,
    ErrorResponse,
    MeterState,
    RemoteProtocolError,
    Retransmit,
)
from hhu_sync.iec62056.events import ProfileData, ProfileEmpty, ProfileRequest
from hhu_sync.iec62056.frames import EOT, ETX, STX, bcc
from hhu_sync.iec62056.loadprofile import (
    ProfileDecodeError,
    ProfileParser,
    decode,
    split_blocks,
)

from .helpers import drain, pump, sent
from .test_connection import programming
from .test_loadprofile import EMH_DST, LOG, METCOM, OUTAGE

JUNK = b"\x00\x7fJUNK\r\n"


def block(text: str, end: int) -> bytes:
    body = text.encode("ascii") + bytes([end])
    return bytes([STX]) + body + bytes([bcc(body)])


BLOCKS = list(split_blocks(EMH_DST.splitlines(keepends=True), 200))


def test_the_request_on_the_wire():
    client, meter = programming()
    wire = sent(client, ProfileRequest("P.01", "00910250000;00910250300", partial=True))
    assert wire == b"\x01R6\x02P.01(00910250000;00910250300)\x03" + bytes(
        [bcc(b"R6\x02P.01(00910250000;00910250300)\x03")])
    assert pump(wire, meter) == [ProfileRequest("P.01", "00910250000;00910250300", True)]
    assert meter.state is MeterState.ANSWER_PROFILE
    assert client.state is ClientState.AWAIT_PROFILE


def read_blocks(client, stream: bytes, *, bytewise: bool) -> list[ProfileData]:
    """Feed the meter's bytes; ACK each partial block as the driver would."""
    got: list[ProfileData] = []
    chunks = [stream[i:i + 1] for i in range(len(stream))] if bytewise else [stream]
    for chunk in chunks:
        client.receive_data(chunk)
        for ev in drain_acking(client):
            got.append(ev)
    return got


def drain_acking(client):
    out = []
    while (ev := client.next_event()) is not NEED_DATA:
        out.append(ev)
        if isinstance(ev, ProfileData) and not ev.final:
            client.send(Ack())
            assert client.data_to_send() == b"\x06"
    return out


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("junk", [b"", JUNK], ids=["clean", "junk"])
@pytest.mark.parametrize(("address", "vector"), [
    ("P.01", EMH_DST), ("P.01", METCOM), ("P.01", OUTAGE), ("P.98", LOG)],
    ids=["emh-dst", "metcom", "outage", "logbook"])
def test_several_r6_blocks_decode_to_the_whole_answer(bytewise, junk, address, vector):
    blocks = list(split_blocks(vector.splitlines(keepends=True), 100))
    assert len(blocks) >= 2
    client, _ = programming()
    sent(client, ProfileRequest(address, ";", partial=True))
    stream = junk + b"".join(
        block(text, ETX if i == len(blocks) - 1 else EOT) + junk
        for i, text in enumerate(blocks))
    got = read_blocks(client, stream, bytewise=bytewise)
    assert [ev.final for ev in got] == [False] * (len(blocks) - 1) + [True]
    assert [ev.index for ev in got] == list(range(len(blocks)))
    assert client.state is ClientState.PROGRAMMING
    parser = ProfileParser(address)
    for ev in got:
        parser.feed(ev.data, ev.offset)
    assert parser.close() == decode(vector, address)


def test_a_decode_error_in_a_later_block_names_its_stream_offset():
    client, _ = programming()
    sent(client, ProfileRequest("P.01", ";", partial=True))
    bad = BLOCKS[1].replace("(00018.950)", "(00018.9x0)")
    stream = JUNK + block(BLOCKS[0], EOT) + JUNK + block(bad, ETX)
    base = client.stats.bytes_received          # offsets count from the session's start
    got = read_blocks(client, stream, bytewise=False)
    parser = ProfileParser()
    parser.feed(got[0].data, got[0].offset)
    with pytest.raises(ProfileDecodeError) as info:
        parser.feed(got[1].data, got[1].offset)
    at = info.value.offset - base
    assert stream[at:at + 9] == b"00018.9x0"


def test_meter_role_serves_partial_blocks_on_ack():
    client, meter = programming()
    pump(sent(client, ProfileRequest("P.01", ";", partial=True)), meter)
    received: list[ProfileData] = []
    for i, text in enumerate(BLOCKS):
        final = i == len(BLOCKS) - 1
        wire = sent(meter, ProfileData(text, final))
        assert meter.state is (MeterState.PROGRAMMING if final
                               else MeterState.PROFILE_PARTIAL_SENT)
        events = pump(wire, client)
        received += events
        if not final:
            assert pump(sent(client, Ack()), meter) == [Ack()]
    assert "".join(ev.data for ev in received) == "".join(BLOCKS)


def test_an_empty_range_is_a_typed_event():
    client, meter = programming()
    pump(sent(client, ProfileRequest("P.01", "02611010000;02611020000")), meter)
    assert pump(sent(meter, ProfileEmpty("P.01")), client) == [ProfileEmpty("P.01")]
    assert client.state is ClientState.PROGRAMMING
    client2, _ = programming()
    sent(client2, ProfileRequest("P.98", ";"))
    assert pump(block("(ERROR)", ETX), client2) == [ProfileEmpty("P.98")]


def test_an_unknown_address_is_an_error_response():
    client, meter = programming()
    pump(sent(client, ProfileRequest("P.02", ";")), meter)
    assert pump(sent(meter, ErrorResponse("ER01")), client) == [ErrorResponse("ER01", "P.02")]


def test_a_corrupt_partial_block_is_naked_and_the_repeat_accepted():
    client, meter = programming()
    pump(sent(client, ProfileRequest("P.01", ";", partial=True)), meter)
    good = sent(meter, ProfileData(BLOCKS[0], final=False))
    bad = good[:-1] + bytes([good[-1] ^ 0x01])
    events = pump(bad, client)
    assert events == [Retransmit(b"\x15", 1, events[0].reason)]
    assert pump(b"\x15", meter)[0].data == good        # the meter repeats its block
    assert [ev.index for ev in pump(good, client)] == [0]


def test_the_number_of_blocks_is_bounded():
    client, _ = programming(ClientSettings(max_profile_blocks=2))
    sent(client, ProfileRequest("P.01", ";", partial=True))
    got = read_blocks(client, block(BLOCKS[0], EOT) + block(BLOCKS[1], EOT), bytewise=False)
    assert len(got) == 2
    client.receive_data(block(BLOCKS[2], EOT))
    with pytest.raises(RemoteProtocolError, match="more than 2 blocks"):
        drain(client)


def test_the_bytes_are_bounded():
    client, _ = programming(ClientSettings(max_profile_bytes=250))
    sent(client, ProfileRequest("P.01", ";", partial=True))
    client.receive_data(block(BLOCKS[0], EOT) + block(BLOCKS[1], EOT))
    with pytest.raises(RemoteProtocolError, match="longer than 250 bytes"):
        drain_acking(client)


def test_the_client_may_stop_after_a_partial_block():
    client, meter = programming()
    pump(sent(client, ProfileRequest("P.01", ";", partial=True)), meter)
    pump(sent(meter, ProfileData(BLOCKS[0], final=False)), client)
    assert pump(sent(client, Break()), meter) == [Break()]
    assert meter.state is MeterState.IDLE


def test_a_silent_meter_gets_the_request_again():
    client, _ = programming()
    wire = sent(client, ProfileRequest("P.01", ";"))
    client.handle_timeout(0.0)
    assert drain(client) == [Retransmit(wire, 1, "no answer in await R5/R6 answer")]


def test_r5_answer_is_one_block():
    client, meter = programming()
    pump(sent(client, ProfileRequest("P.01", ";")), meter)
    assert meter.state is MeterState.ANSWER_PROFILE
    events = pump(sent(meter, ProfileData(EMH_DST)) + JUNK, client, bytewise=True)
    assert [(ev.final, ev.data) for ev in events] == [(True, EMH_DST)]
    assert pump(b"\x15", meter)[0].data == sent_again(meter)


def sent_again(meter) -> bytes:
    """What the meter queued last: its answer, which a NAK makes it repeat."""
    assert meter._last_sent is not None
    return meter._last_sent


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_the_folded_bcc_is_the_xor_of_every_byte(data):
    """bcc() folds the block as one integer (fast for long profile blocks)."""
    assert bcc(data) == reduce(operator.xor, data, 0)


@given(st.binary(max_size=300))
def test_parity_tables_match_the_bitwise_definition(data):
    from hhu_sync.iec62056.frames import add_even_parity, strip_parity
    assert strip_parity(data) == bytes(b & 0x7F for b in data)
    assert all(bin(b).count("1") % 2 == 0 for b in add_even_parity(data))
    assert strip_parity(add_even_parity(data)) == strip_parity(data)


def test_an_r5_answer_may_be_longer_than_an_ordinary_block():
    client, meter = programming()
    pump(sent(client, ProfileRequest("P.01", ";")), meter)
    text = EMH_DST * 400                                     # ~170 kB, > 64 KiB max_block
    wire = sent(meter, ProfileData(text))
    got = []
    for i in range(0, len(wire), 4096):
        client.receive_data(wire[i:i + 4096])
        got += drain(client)
    assert [len(ev.data) for ev in got] == [len(text)]
    assert client.framer.max_block == ClientSettings().max_block   # back to normal


def test_an_r5_answer_longer_than_max_profile_bytes_is_refused():
    client, _ = programming(ClientSettings(max_profile_bytes=1000))
    sent(client, ProfileRequest("P.01", ";"))
    with pytest.raises(RemoteProtocolError, match="profile answer longer than 1000 bytes"):
        client.receive_data(block(EMH_DST * 4, ETX))
        drain(client)
