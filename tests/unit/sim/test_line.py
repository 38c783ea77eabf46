"""Line simulator: relays bytes both ways, cuts after exactly N bytes, BER 0 is lossless.

No timing assertions: pacing accuracy is measured by the bench, not asserted here.
"""

from __future__ import annotations

import socket
import threading

import pytest

from hhu_firmware_sim.device import SimulatedHHU
from hhu_firmware_sim.flash import FlashStore
from hhu_firmware_sim.line import LineSim
from hhu_firmware_sim.server import DeviceServer
from hhu_firmware_sim.serving import SocketServer
from hhu_sync.link import Connection, Role
from hhu_sync.link.events import StartHandshake


class EchoServer:
    """Echoes everything; records what it received and how many connections ended.

    Its handler runs in a worker thread, so a test that looks at ``received`` after
    its own socket closed first waits for the echo's side to finish (``wait_ended``).
    """

    def __init__(self) -> None:
        self.received = bytearray()
        self.ended = 0
        self._changed = threading.Condition()
        self.server = SocketServer(self._serve, blocking=True).start()
        self.address = self.server.address

    def wait_ended(self, count: int, timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.ended >= count, timeout)

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._echo(conn)
        finally:
            with self._changed:
                self.ended += 1
                self._changed.notify_all()

    def _echo(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.received += data
            try:
                conn.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self.server.stop()


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.close()


def _recv_until_closed(sock: socket.socket, limit: int) -> bytes:
    sock.settimeout(10)
    out = bytearray()
    while len(out) < limit:
        try:
            data = sock.recv(65536)
        except OSError:
            break
        if not data:
            break
        out += data
    return bytes(out)


def test_relays_both_ways_intact(echo):
    payload = bytes(range(256)) * 64
    with LineSim(echo.address, baud=0) as line:
        with socket.create_connection(line.address, timeout=10) as c:
            c.sendall(payload)
            back = bytearray()
            c.settimeout(10)
            while len(back) < len(payload):
                back += c.recv(65536)
    assert bytes(back) == payload


def test_paced_line_with_latency_delivers_everything(echo):
    payload = b"meter" * 200
    with LineSim(echo.address, baud=1_000_000, latency_ms=1) as line:
        with socket.create_connection(line.address, timeout=10) as c:
            c.sendall(payload)
            back = bytearray()
            c.settimeout(10)
            while len(back) < len(payload):
                back += c.recv(65536)
    assert bytes(back) == payload
    assert line.stats.up.bytes_out == len(payload)


def test_cut_after_passes_exactly_n_bytes_then_closes(echo):
    with LineSim(echo.address, baud=0, cut_after=1000) as line:
        with socket.create_connection(line.address, timeout=10) as c:
            c.sendall(b"x" * 1000)           # all 1000 go up; nothing may come back
            assert _recv_until_closed(c, 10_000) == b""
    assert echo.wait_ended(1)
    assert bytes(echo.received) == b"x" * 1000
    assert line.stats.cuts == 1


def test_cut_after_counts_bytes_in_one_direction_exactly(echo):
    with LineSim(echo.address, baud=0, cut_after=777) as line:
        with socket.create_connection(line.address, timeout=10) as c:
            c.sendall(b"y" * 5000)
            _recv_until_closed(c, 10_000)
    assert line.stats.up.bytes_out + line.stats.down.bytes_out == 777


def test_bit_errors_flip_bits_deterministically(echo):
    payload = bytes(20_000)
    with LineSim(echo.address, baud=0, ber=1e-3, seed=5) as line:
        with socket.create_connection(line.address, timeout=10) as c:
            c.sendall(payload)
            back = bytearray()
            c.settimeout(10)
            while len(back) < len(payload):
                back += c.recv(65536)
    flips = line.stats.up.bit_flips + line.stats.down.bit_flips
    assert sum(bin(b).count("1") for b in back) <= flips
    assert flips > 0


def test_serves_clients_one_after_another(echo):
    second = EchoServer()
    try:
        with LineSim(echo.address, baud=0) as line:
            with socket.create_connection(line.address, timeout=10) as c:
                c.sendall(b"one")
                assert _recv_exactly(c, 3) == b"one"
            line.target = second.address
            with socket.create_connection(line.address, timeout=10) as c:
                c.sendall(b"two")
                assert _recv_exactly(c, 3) == b"two"
        assert line.stats.sessions == 2
    finally:
        second.close()


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    sock.settimeout(10)
    out = bytearray()
    while len(out) < n:
        data = sock.recv(n - len(out))
        if not data:
            break
        out += data
    return bytes(out)


def test_rejects_negative_baud(echo):
    with pytest.raises(ValueError):
        LineSim(echo.address, baud=-1)


def test_a_line_reaches_an_in_process_hhu_over_a_socket_pair(tmp_path):
    """``DeviceServer.pair`` as the target: no TCP between the line and the HHU, and
    still one docking at a time, each a fresh session."""
    key = bytes(range(32))
    device = SimulatedHHU("HHU-0042", key, FlashStore(tmp_path / "flash", 1 << 20))
    dock = Connection(Role.DOCK, keys=lambda hhu_id: key)
    dock.send(StartHandshake())
    hello = dock.data_to_send()
    with DeviceServer(device) as server, LineSim(server.pair, baud=0) as line:
        for _ in range(2):
            with socket.create_connection(line.address, timeout=10) as c:
                c.settimeout(10)
                c.sendall(hello)
                assert c.recv(100)             # the HHU's challenge, through the line
    assert line.stats.sessions == 2
