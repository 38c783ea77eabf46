"""The simulated meter server's idle limit, input bound and connection cap.

A fake peer with its own clock stands for the TCP client: the server's bounded reads
advance the clock, and the peer's bytes arrive at set times. Junk, corrupt blocks,
NAKs, sign-ons for another address or one request repeated, every 0.9 × idle for
10 × idle, must not hold the connection past the idle limit.
"""

from __future__ import annotations

import socket

import pytest

from hhu_firmware_sim.meter import server as server_mod
from hhu_firmware_sim.meter.meter import SimMeter
from hhu_firmware_sim.meter.server import REFUSAL, MeterServer
from hhu_sync.iec62056.frames import NAK, SOH, encode_command, encode_sign_on

IDLE = 5.0
POLL = server_mod._POLL_S
SLACK = POLL + 1e-6


class FakePeer:
    """A connected socket on a fake clock; ``at(t, data)`` has the peer send at ``t``."""

    def __init__(self) -> None:
        self.t = 0.0
        self.timeout = 0.0
        self.pending: list[tuple[float, bytes]] = []
        self.sent = bytearray()

    def clock(self) -> float:
        return self.t

    def at(self, when: float, data: bytes) -> None:
        self.pending.append((when, data))
        self.pending.sort(key=lambda p: p[0])

    def every(self, data: bytes, start: float = 0.0) -> None:
        t = start + 0.9 * IDLE
        while t < start + 10 * IDLE:
            self.at(t, data)
            t += 0.9 * IDLE

    def settimeout(self, value: float | None) -> None:
        self.timeout = value or 0.0

    def recv(self, size: int) -> bytes:
        due = self.t + self.timeout
        if self.pending and self.pending[0][0] <= due:
            when, data = self.pending.pop(0)
            self.t = max(self.t, when)
            return data
        if self.t > 1000 * IDLE:
            raise OSError("test peer: the connection never ended")
        self.t = due
        raise TimeoutError

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def close(self) -> None:
        pass


def _server(peer: FakePeer, **kw) -> MeterServer:
    server = MeterServer(SimMeter("35012345"), idle_timeout=IDLE, clock=peer.clock, **kw)
    server._server.close()   # only serve_connection is used here
    return server


def _bad_bcc(frame: bytes) -> bytes:
    return frame[:-1] + bytes([frame[-1] ^ 0x01])


JUNK = {
    "byte": b"\x55",
    "nak": bytes([NAK]),
    "bad-bcc": _bad_bcc(encode_command("R1", "1.8.0()")),
    "other-address": encode_sign_on("99999999"),
    "repeated-sign-on": encode_sign_on(""),
}


@pytest.mark.parametrize("junk", list(JUNK.values()), ids=list(JUNK))
def test_junk_does_not_hold_the_connection(junk):
    peer = FakePeer()
    server = _server(peer)
    peer.every(junk)
    assert server.serve_connection(peer) == "idle"
    first_counted = 0.9 * IDLE if junk == JUNK["repeated-sign-on"] else 0.0
    assert first_counted + IDLE <= peer.t <= first_counted + IDLE + SLACK
    assert server.idle_closed == 1


def test_junk_trickled_fast_does_not_hold_the_connection():
    peer = FakePeer()
    server = _server(peer)
    for k in range(1, 1000):
        peer.at(k * 0.1, b"\x00")
    assert server.serve_connection(peer) == "idle"
    assert IDLE <= peer.t <= IDLE + SLACK


def test_requests_that_move_the_session_on_hold_it():
    peer = FakePeer()
    server = _server(peer)
    peer.at(0.9 * IDLE, encode_sign_on(""))
    peer.at(1.8 * IDLE, b"\x06050\r\n")           # readout: the session moved on
    peer.at(2.7 * IDLE, encode_sign_on(""))       # a new sign-on after it counts again
    assert server.serve_connection(peer) == "idle"
    assert 3.7 * IDLE <= peer.t <= 3.7 * IDLE + SLACK
    assert b"1.8.0(" in bytes(peer.sent)


def test_an_endless_block_is_bounded_per_connection():
    peer = FakePeer()
    server = _server(peer)
    peer.at(0.0, bytes([SOH]) + b"R1")
    for k in range(1, 200):
        peer.at(k * 0.01, b"A" * 1000)
    assert server.serve_connection(peer) == "idle"
    session = server.sessions[-1]
    assert session.conn.framer.max_buffer <= 3 * server_mod.MAX_BLOCK
    assert any("longer than" in e for e in session.log.errors)


def test_connections_over_the_cap_are_refused_with_a_break():
    meter = SimMeter("35012345")
    with MeterServer(meter, max_connections=1, idle_timeout=IDLE) as server:
        held = socket.create_connection(server.address, timeout=5)
        held.sendall(encode_sign_on(""))
        assert held.recv(100).startswith(b"/")        # served
        extra = socket.create_connection(server.address, timeout=5)
        got = b""
        while chunk := extra.recv(100):
            got += chunk
        assert got == REFUSAL                          # a break, then the close
        assert server.refused == 1
        held.close()
        extra.close()


def _programming_mode(peer: FakePeer) -> None:
    """Sign on and open programming mode at t=0 (both steps count, at the start)."""
    peer.at(0.0, encode_sign_on(""))
    peer.at(0.0, b"\x06051\r\n")


def test_refused_requests_do_not_hold_the_connection():
    """Wrong passwords (each a different guess) and reads of registers the meter does not
    have are answered, but move nothing on: the connection ends at idle all the same."""
    peer = FakePeer()
    server = _server(peer)
    _programming_mode(peer)
    for k in range(1, 11):
        guess = f"{k:08d}"
        peer.at(k * 0.9 * IDLE, encode_command("P1", f"({guess})"))
    assert server.serve_connection(peer) == "idle"
    assert IDLE <= peer.t <= IDLE + SLACK
    assert server.sessions[-1].log.rejected_passwords >= 1


def test_reads_of_unknown_registers_do_not_hold_the_connection():
    peer = FakePeer()
    meter = SimMeter("35012345", passwords={1: "AAAAAAAA"})
    server = MeterServer(meter, idle_timeout=IDLE, clock=peer.clock)
    server._server.close()
    _programming_mode(peer)
    peer.at(0.1, encode_command("P1", "(AAAAAAAA)"))      # logged in: that counts
    for k in range(1, 11):
        peer.at(0.1 + k * 0.9 * IDLE, encode_command("R1", f"9.9.{k}()"))
    assert server.serve_connection(peer) == "idle"
    assert 0.1 + IDLE <= peer.t <= 0.1 + IDLE + SLACK
    assert server.sessions[-1].log.reads >= 1
