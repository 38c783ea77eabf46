"""Replay the transcripts in tests/data/transcripts against the client.

Each ``>`` line is what the client must produce for the matching event; each ``<``
line is fed to the client, whole and byte by byte.
"""

from __future__ import annotations

import pytest

from hhu_sync.iec62056 import (
    Break,
    ClientConnection,
    Identification,
    OptionSelect,
    Password,
    PasswordAccepted,
    Readout,
    ReadRequest,
    ReadResponse,
    SignOnRequest,
    WriteAccepted,
    WriteRequest,
)
from hhu_sync.iec62056.framer import Block, Framer, Line

from .helpers import drain, load_transcript, pump, sent

NAMES = ["lgz_zmd120_readout.txt", "iskra_mt174_readout.txt", "elster_a1700_password.txt"]


def event_for(wire: bytes, meta: dict[str, str]):
    """The client event that should produce ``wire`` (decoded from the wire itself)."""
    if wire.startswith(b"\x06"):
        return OptionSelect(chr(wire[3]), chr(wire[2]))
    framer = Framer()
    framer.feed(wire)
    frame = framer.next_frame()
    if isinstance(frame, Line):
        return SignOnRequest(frame.text[2:-1].decode())
    assert isinstance(frame, Block)
    data = (frame.data or b"").decode()
    address, _, value = data.partition("(")
    return {
        "P1": lambda: Password(data[1:-1], "P1"),
        "P2": lambda: Password(meta["password"], "P2"),
        "R1": lambda: ReadRequest(address, value[:-1]),
        "W1": lambda: WriteRequest(address, value[:-1]),
        "B0": Break,
    }[frame.command]()


def replay(name: str, bytewise: bool) -> list:
    meta, steps = load_transcript(name)
    client = ClientConnection()
    events: list = []
    for direction, wire in steps:
        if direction == ">":
            assert sent(client, event_for(wire, meta)) == wire
            events += drain(client)
        else:
            events += pump(wire, client, bytewise=bytewise)
    return events


@pytest.mark.parametrize("bytewise", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_identification_matches(name, bytewise):
    meta, _ = load_transcript(name)
    ident = next(e for e in replay(name, bytewise) if isinstance(e, Identification))
    assert (ident.ident, ident.baud) == (meta["expect_ident"], int(meta["expect_baud"]))


def test_zmd_readout_values():
    readout = next(e for e in replay(NAMES[0], False) if isinstance(e, Readout))
    assert (readout.get("1.8.0").value, readout.get("1.8.0*1").value,
            readout.get("1.6.0").timestamp, readout.get("1.8.3").value) == (
        "0012345.678", "0011800.100", "2511251030", "")


def test_mt174_full_obis_and_shared_line():
    readout = next(e for e in replay(NAMES[1], True) if isinstance(e, Readout))
    assert (readout.get("1.8.0").value, readout.get("1.8.1").value) == ("0001846.0", "0001346.0")


def test_a1700_password_exchange():
    kinds = [type(e) for e in replay(NAMES[2], True)]
    assert kinds[-3:] == [PasswordAccepted, ReadResponse, WriteAccepted]
