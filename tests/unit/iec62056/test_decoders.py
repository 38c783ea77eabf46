"""Every decoder fed whole, one byte at a time, and with junk around it."""

from __future__ import annotations

import pytest

from hhu_sync.iec62056 import (
    Ack,
    ClientConnection,
    Identification,
    MeterConnection,
    OptionSelect,
    PasswordRequest,
    ReadRequest,
    RemoteProtocolError,
    SignOnRequest,
    encode_command,
    encode_readout,
)
from hhu_sync.iec62056.framer import Block, Control, Framer, Line, OptionFrame

from .helpers import drain, pump, sent

JUNK = b"\x00\xff\x7f garbage \r\n"
READOUT = encode_readout("F.F(00000000)\r\n1.8.0(001846.0*kWh)1.8.1(1*kWh)\r\n1.8.3()")
FEEDS = ["whole", "bytewise", "junk"]


def feed(framer: Framer, data: bytes, how: str) -> list:
    if how == "junk":
        data = JUNK + data + JUNK
    chunks = [data[i:i + 1] for i in range(len(data))] if how == "bytewise" else [data]
    out = []
    for chunk in chunks:
        framer.feed(chunk)
        while (frame := framer.next_frame()) is not None:
            out.append(frame)
    return out


@pytest.mark.parametrize("how", FEEDS)
def test_framer_line(how):
    (frame,) = feed(Framer(), b"/ISk5MT174-0001\r\n", how)
    assert isinstance(frame, Line) and frame.text == b"/ISk5MT174-0001"


@pytest.mark.parametrize("how", FEEDS)
def test_framer_block(how):
    (frame,) = feed(Framer(), b"\x01R1\x021.8.0(1)\x03k", how)
    assert isinstance(frame, Block) and (frame.command, frame.data, frame.bcc_ok) == (
        "R1", b"1.8.0(1)", True)


@pytest.mark.parametrize("how", FEEDS)
def test_framer_break(how):
    (frame,) = feed(Framer(), b"\x01B0\x03q", how)
    assert (frame.command, frame.data, frame.bcc_ok) == ("B0", None, True)


@pytest.mark.parametrize("how", FEEDS)
def test_framer_option_select(how):
    framer = Framer()
    framer.expect_option_select = True
    (frame,) = feed(framer, b"\x06051\r\n", how)
    assert isinstance(frame, OptionFrame) and (frame.baud_char, frame.mode) == ("5", "1")


@pytest.mark.parametrize("how", ["whole", "bytewise"])
def test_framer_ack_nak(how):
    frames = feed(Framer(), b"\x06\x15", how)
    assert [f.byte for f in frames if isinstance(f, Control)] == [0x06, 0x15]


def test_framer_block_offset_counts_junk():
    (frame,) = feed(Framer(), b"\x01B0\x03q", "junk")
    assert frame.offset == len(JUNK)


def test_framer_junk_counted():
    framer = Framer()
    feed(framer, b"\x01B0\x03q", "junk")
    assert framer.junk_bytes == 2 * len(JUNK)


def test_framer_restarts_on_new_start_inside_block():
    frames = feed(Framer(), b"\x021.8.0(\x01B0\x03q", "whole")
    assert [f.command for f in frames] == ["B0"]


def test_framer_bounds_a_block():
    framer = Framer(max_block=64)
    framer.feed(b"\x02" + b"x" * 100)
    with pytest.raises(RemoteProtocolError):
        framer.next_frame()


def test_framer_bounds_its_buffer():
    framer = Framer(max_block=64, max_buffer=128)
    with pytest.raises(RemoteProtocolError):
        framer.feed(b"x" * 129)


def test_framer_overlong_line_dropped():
    frames = feed(Framer(max_line=16), b"/" + b"A" * 40 + b"\r\n/GEC5X\r\n", "whole")
    assert [f.text for f in frames] == [b"/GEC5X"]


def client_at(stage: str) -> ClientConnection:
    client, meter = ClientConnection(), MeterConnection()
    pump(sent(client, SignOnRequest("")), meter)
    if stage == "ident":
        return client
    pump(sent(meter, Identification("GEC", "5", "A1700")), client)
    sent(client, OptionSelect("0" if stage == "readout" else "1"))
    drain(client)
    return client


@pytest.mark.parametrize("how", FEEDS)
def test_client_identification_decoder(how):
    client = client_at("ident")
    data = b"/LGZ52ZMD120APt.G03\r\n"
    data = JUNK + data if how == "junk" else data
    events = pump(data, client, bytewise=how == "bytewise")
    assert [e.ident for e in events] == ["2ZMD120APt.G03"]


@pytest.mark.parametrize("how", FEEDS)
def test_client_readout_decoder(how):
    client = client_at("readout")
    data = JUNK + READOUT + JUNK if how == "junk" else READOUT
    (readout,) = pump(data, client, bytewise=how == "bytewise")
    assert [d.key for d in readout.datasets] == ["F.F", "1.8.0", "1.8.1", "1.8.3"]


@pytest.mark.parametrize("how", FEEDS)
def test_client_p0_decoder(how):
    client = client_at("p0")
    data = encode_command("P0", "(0123456789ABCDEF)")
    data = JUNK + data if how == "junk" else data
    assert pump(data, client, bytewise=how == "bytewise") == [PasswordRequest("0123456789ABCDEF")]


@pytest.mark.parametrize("how", FEEDS)
def test_meter_sign_on_decoder(how):
    data = b"/?35012345!\r\n"
    data = JUNK + data if how == "junk" else data
    assert pump(data, MeterConnection(), bytewise=how == "bytewise") == [SignOnRequest("35012345")]


@pytest.mark.parametrize("how", FEEDS)
def test_meter_command_decoder(how):
    meter = MeterConnection()
    pump(b"/?!\r\n", meter)
    sent(meter, Identification("GEC", "5", "A1700"))
    pump(b"\x06051\r\n", meter)
    sent(meter, PasswordRequest("00"))
    pump(encode_command("P1", "(secret)"), meter)
    sent(meter, Ack())
    data = encode_command("R1", "1.8.0()")
    data = JUNK + data if how == "junk" else data
    assert pump(data, meter, bytewise=how == "bytewise") == [ReadRequest("1.8.0", "")]
