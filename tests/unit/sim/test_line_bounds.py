"""The line relay holds bounded bytes, and a far end that hangs up frees the line.

A cradle has one cable: a client that stays connected, silent, after the device hung up
must not keep the next docking out; a client that floods a slow line must not make the
relay queue its bytes without limit (the reader waits: TCP back-pressure); a dock that
does not read must not hold the device for good.
"""

from __future__ import annotations

import os
import socket
import threading

from hhu_firmware_sim.device import SessionResult, SimulatedHHU
from hhu_firmware_sim.flash import FlashStore
from hhu_firmware_sim.line import LineSim
from hhu_firmware_sim.server import DeviceServer, open_pty, serve_pty
from hhu_firmware_sim.serving import SocketServer
from hhu_sync.link import Connection, Role
from hhu_sync.link.events import StartHandshake


class HangUpServer:
    """Says ``hi`` to every connection, then closes it (a device ending its session)."""

    def __init__(self) -> None:
        self.server = SocketServer(lambda conn: conn.sendall(b"hi"), blocking=True).start()
        self.address = self.server.address

    def close(self) -> None:
        self.server.stop()


class SilentServer:
    """Accepts and never reads (a device that does not drain its input)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.server = SocketServer(self._hold, blocking=True).start()
        self.address = self.server.address

    def _hold(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.done.wait(30)

    def close(self) -> None:
        self.done.set()
        self.server.stop()


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
    target.close()


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


KEY = bytes(range(32))


def _device(tmp_path) -> SimulatedHHU:
    return SimulatedHHU("HHU-0042", KEY, FlashStore(tmp_path / "flash", 1 << 20),
                        idle_limit_s=0.3)


def _handshake_start() -> bytes:
    dock = Connection(Role.DOCK, keys=lambda hhu_id: KEY)
    dock.send(StartHandshake())
    return dock.data_to_send()


def test_a_dock_that_never_reads_does_not_hold_the_device_for_good(tmp_path):
    """The device's writes never block: a session nobody reads ends by its idle limit,
    and the next dock is served."""
    with DeviceServer(_device(tmp_path)) as server:
        silent = socket.create_connection(server.address, timeout=5)
        silent.sendall(_handshake_start())      # answered, never read
        second = socket.create_connection(server.address, timeout=10)
        second.sendall(_handshake_start())
        assert second.recv(100)                 # the device answers the next dock
        assert server.sessions[0].reason == "idle"
        silent.close()
        second.close()


def test_a_pty_nobody_reads_does_not_hold_the_device_for_good(tmp_path):
    """serve_pty holds the slave open itself: with no dock reading, the device's answer
    waits in the pty and the session ends by its idle limit."""
    master, slave, _path = open_pty()
    results: list[SessionResult] = []
    stop = threading.Event()
    ended = threading.Event()

    def seen(result: SessionResult) -> None:
        results.append(result)
        ended.set()

    worker = threading.Thread(target=serve_pty, args=(_device(tmp_path), master, stop, seen),
                              daemon=True)
    worker.start()
    try:
        os.write(slave, _handshake_start())
        assert ended.wait(10)
        assert results[0].reason == "idle"
    finally:
        stop.set()
        worker.join(10)
        os.close(slave)
        os.close(master)
