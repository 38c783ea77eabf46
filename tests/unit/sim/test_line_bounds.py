"""The line relay holds bounded bytes, and a far end that hangs up frees the line.

A cradle has one cable: a client that stays connected, silent, after the device hung up
must not keep the next docking out; a client that floods a slow line must not make the
relay queue its bytes without limit (the reader waits: TCP back-pressure).
"""

from __future__ import annotations

import os
import socket
import threading

import pytest

from hhu_firmware_sim.line import LineSim
from hhu_firmware_sim.ports import FdPort, SocketPort
from hhu_firmware_sim.server import open_pty


class HangUpServer:
    """Says ``hi`` to every connection, then closes it (a device ending its session)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.address = self.sock.getsockname()[:2]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"hi")


class SilentServer:
    """Accepts and never reads (a device that does not drain its input)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.address = self.sock.getsockname()[:2]
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.conns.append(conn)

    def close(self) -> None:
        for c in self.conns:
            c.close()
        self.sock.close()


def _recv_all(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    out = bytearray()
    while chunk := sock.recv(100):
        out += chunk
    return bytes(out)


def test_a_far_end_that_hangs_up_frees_the_line_for_the_next_client():
    target = HangUpServer()
    with LineSim(target.address, baud=0) as line:
        first = socket.create_connection(line.address, timeout=5)
        assert _recv_all(first) == b"hi"
        # the first client stays connected and silent
        second = socket.create_connection(line.address, timeout=5)
        assert _recv_all(second) == b"hi"
        first.close()
        second.close()
    target.sock.close()


def test_a_flood_into_a_slow_line_is_queued_only_up_to_the_bound():
    target = SilentServer()
    with LineSim(target.address, baud=300, max_queued=8192) as line:
        client = socket.create_connection(line.address, timeout=5)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        client.settimeout(2)
        sent = 0
        try:
            while sent < 64 << 20:                  # far more than any socket buffers
                sent += client.send(b"\x55" * 65536)
        except TimeoutError:
            pass
        assert sent < 64 << 20                      # back-pressure reached the sender
        assert line.stats.up.peak_queued <= 8192 + 65536
        client.close()
    target.close()


def test_a_dock_that_stops_reading_does_not_block_the_device_for_good():
    """The device's writes to a socket are bounded: a full socket ends in EOFError."""
    ours, theirs = socket.socketpair()
    port = SocketPort(ours, write_timeout=0.2)
    outcome: list[BaseException | None] = []

    def flood() -> None:
        try:
            for _ in range(1000):
                port.write(b"\x00" * 65536)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    worker = threading.Thread(target=flood, daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert outcome, "write blocked: the device would hang on a dock that does not read"
    with pytest.raises(EOFError):
        raise outcome[0] if outcome[0] is not None else AssertionError("all written")
    ours.close()
    theirs.close()


def test_a_pty_nobody_reads_does_not_block_the_device_for_good():
    """serve_pty holds the slave open itself: with no dock reading, the pty fills up."""
    master, slave, _path = open_pty()
    port = FdPort(master, write_timeout=0.2)
    outcome: list[BaseException | None] = []

    def flood() -> None:
        try:
            port.write(b"\x00" * (1 << 20))
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    worker = threading.Thread(target=flood, daemon=True)
    worker.start()
    worker.join(timeout=20)
    try:
        assert outcome, "write blocked: the device would hang on a pty nobody reads"
        assert isinstance(outcome[0], EOFError)
    finally:
        os.close(slave)
        if not worker.is_alive():
            os.close(master)
