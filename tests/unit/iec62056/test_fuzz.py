"""Any bytes into a client or meter decoder: events or RemoteProtocolError, never a crash
or an unbounded buffer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hhu_sync.iec62056 import (
    ClientConnection,
    ClientSettings,
    Identification,
    MeterConnection,
    OptionSelect,
    RemoteProtocolError,
    SignOnRequest,
)

from .helpers import drain, sent

MAX_BLOCK = 256
SETTINGS = ClientSettings(max_block=MAX_BLOCK)
PIECES = st.sampled_from([b"/", b"?", b"!", b"\r\n", b"\x01", b"\x02", b"\x03", b"\x06",
                          b"\x15", b"P0", b"R1", b"B0", b"(", b")", b"1.8.0", b"*kWh",
                          b"/GEC5A1700\r\n", b"\x06051\r\n", b"(ER01)"])
STREAM = st.lists(st.one_of(st.binary(max_size=40), PIECES), max_size=40)


def run(conn, chunks: list[bytes]) -> None:
    try:
        for chunk in chunks:
            conn.receive_data(chunk)
            drain(conn)
            assert conn.framer.buffered <= conn.framer.max_buffer
    except RemoteProtocolError:
        assert conn.errored


def client_in(state: str) -> ClientConnection:
    client = ClientConnection(SETTINGS)
    sent(client, SignOnRequest(""))
    if state == "ident":
        return client
    client.receive_data(b"/GEC5A1700\r\n")
    drain(client)
    sent(client, OptionSelect("1" if state == "prog" else "0"))
    drain(client)
    return client


@settings(max_examples=150, deadline=None)
@given(STREAM, st.sampled_from(["ident", "readout", "prog"]))
def test_client_survives_any_bytes(chunks, state):
    run(client_in(state), chunks)


@settings(max_examples=150, deadline=None)
@given(STREAM)
def test_meter_survives_any_bytes(chunks):
    meter = MeterConnection(SETTINGS)
    try:
        for chunk in chunks:
            meter.receive_data(chunk)
            if any(isinstance(e, SignOnRequest) for e in drain(meter)):
                sent(meter, Identification("GEC", "5", "A1700"))
            assert meter.framer.buffered <= meter.framer.max_buffer
    except RemoteProtocolError:
        assert meter.errored
