"""LinkPump: one event loop drives sans-IO cores over pyserial ports of every kind."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest
import serial

from hhu_sync.io.pump import LinkPump, PumpCut, PumpTimedOut, watchable_fd
from hhu_sync.link import (
    NEED_DATA,
    Aborted,
    AcceptBundle,
    Authenticated,
    BundleCommitted,
    BundleData,
    BundleOffered,
    BundleReceived,
    BundleStored,
    Connection,
    HelloInfo,
    PutBundle,
    Role,
    StartHandshake,
)

KEY = bytes(range(32))


class SocketPort:
    """The smallest port a pump accepts: a connected socket that offers its descriptor."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def sansio_fileno(self) -> int:
        return self.sock.fileno()


class ScriptedConn:
    """Just enough of a core: records bytes and clocks, a timer that fires once."""

    def __init__(self, deadline: float | None = None) -> None:
        self.received: list[bytes] = []
        self.clocks: list[float] = []
        self.deadline = deadline
        self.fired: list[float] = []
        self.events: list[object] = []
        self.outgoing = b""

    def receive_data(self, data: bytes, now: float | None = None) -> None:
        self.received.append(data)
        if now is not None:
            self.clocks.append(now)
        if data:
            self.events.append(("got", data))

    def next_event(self):
        return self.events.pop(0) if self.events else NEED_DATA

    def send(self, command, now: float | None = None) -> None:
        self.outgoing += command

    def data_to_send(self, now: float | None = None) -> bytes:
        out, self.outgoing = self.outgoing, b""
        return out

    def next_deadline(self) -> float | None:
        return self.deadline

    def handle_timeout(self, now: float | None = None) -> None:
        self.fired.append(now)
        self.deadline = None
        self.events.append("timer")




def test_socket_and_local_devices_are_watched_directly_others_get_a_thread(tcp_line):
    port, far = tcp_line
    assert watchable_fd(port) == port._socket.fileno()
    assert watchable_fd(serial.serial_for_url("loop://")) is None
    master, slave = os.openpty()
    try:
        tty = serial.Serial(os.ttyname(slave))
        assert watchable_fd(tty) == tty.fd
        tty.close()
        spied = serial.serial_for_url(f"spy://{os.ttyname(slave)}?file=/dev/null")
        assert watchable_fd(spied) is None     # its read() logs: the thread keeps that
        spied.close()
    finally:
        os.close(master)
        os.close(slave)


def test_bytes_reach_the_core_with_the_loops_clock_and_its_writes_reach_the_port(tcp_line):
    port, far = tcp_line

    async def main():
        conn = ScriptedConn()
        pump = LinkPump(port, conn)
        pump.send(b"hello")
        far.sendall(b"world")
        ev = await pump.run_until(lambda e: e == ("got", b"world"), 5.0)
        pump.close()
        return conn, ev

    conn, ev = asyncio.run(main())
    assert ev == ("got", b"world")
    assert far.recv(10) == b"hello"
    assert conn.clocks and all(isinstance(t, float) for t in conn.clocks)


def test_the_core_timer_fires_at_its_deadline_on_the_loop_clock(tcp_line):
    port, far = tcp_line

    async def main():
        loop = asyncio.get_running_loop()
        conn = ScriptedConn(deadline=loop.time() + 0.02)
        pump = LinkPump(port, conn)
        ev = await pump.run_until(lambda e: e == "timer", 5.0)
        pump.close()
        return conn, ev

    conn, ev = asyncio.run(main())
    assert ev == "timer" and len(conn.fired) == 1


def test_the_callers_deadline_bounds_the_wait(tcp_line):
    port, far = tcp_line

    async def main():
        pump = LinkPump(port, ScriptedConn())
        try:
            with pytest.raises(PumpTimedOut, match="within"):
                await pump.run_until(lambda e: False, 0.05)
        finally:
            pump.close()

    asyncio.run(main())


def test_end_of_stream_is_a_cut_and_the_core_hears_it(tcp_line):
    port, far = tcp_line

    async def main():
        conn = ScriptedConn()
        pump = LinkPump(port, conn)
        far.close()
        with pytest.raises(PumpCut):
            await pump.run_until(lambda e: False, 5.0)
        with pytest.raises(PumpCut):
            pump.send(b"x")
        pump.close()
        return conn

    assert asyncio.run(main()).received[-1] == b""


def test_fatal_events_end_the_wait_with_the_callers_error(tcp_line):
    port, far = tcp_line

    async def main():
        conn = ScriptedConn()
        pump = LinkPump(port, conn, fatal=lambda e: ValueError(e) if e == ("got", b"bad")
                        else None)
        far.sendall(b"bad")
        with pytest.raises(ValueError):
            await pump.run_until(lambda e: False, 5.0)
        pump.close()

    asyncio.run(main())


def test_a_port_the_loop_cannot_watch_works_through_its_thread():
    loop_port = serial.serial_for_url("loop://")

    async def main():
        conn = ScriptedConn()
        pump = LinkPump(loop_port, conn)
        assert pump.kind == "thread"
        pump.send(b"echo")          # loop:// hands back what is written
        ev = await pump.run_until(lambda e: e[0] == "got", 5.0)
        pump.close()
        return ev

    assert asyncio.run(main()) == ("got", b"echo")


def test_a_writer_faster_than_the_port_is_buffered_not_blocked(tcp_line):
    port, far = tcp_line
    big = os.urandom(32 << 20)      # more than loopback socket buffers hold

    async def main():
        pump = LinkPump(port, ScriptedConn())
        pump.send(big)                       # far more than the socket buffers hold
        assert pump.stats.writes_deferred >= 1
        got = bytearray()
        loop = asyncio.get_running_loop()
        while len(got) < len(big):
            got += await loop.sock_recv(far, 1 << 20)
        pump.close()
        return bytes(got)

    far.setblocking(False)
    assert asyncio.run(main()) == big


def test_one_loop_carries_a_dock_and_an_hhu_through_a_handshake_and_a_bundle(tcp_line):
    """Both ends of a real link, each a pump on the same loop: no thread per side."""
    port, far = tcp_line
    hello = HelloInfo("HHU-1", "fw 1", 1 << 20, 90)

    async def main():
        dock = LinkPump(port, Connection(Role.DOCK, keys=lambda h: KEY if h == "HHU-1"
                                         else None),
                        fatal=lambda e: RuntimeError(e) if isinstance(e, Aborted) else None)
        hhu = Connection(Role.HHU, key=KEY, hello=hello)
        received: dict[str, bytes] = {}

        def answer(event):
            if isinstance(event, BundleOffered):
                hhu_pump.send(AcceptBundle(event.bundle_id))
            elif isinstance(event, BundleData):
                received[event.bundle_id] = received.get(event.bundle_id, b"") + event.data
            elif isinstance(event, BundleReceived):
                hhu_pump.send(BundleCommitted(event.bundle_id))

        hhu_pump = LinkPump(SocketPort(far), hhu, on_event=answer)
        hhu_task = asyncio.ensure_future(hhu_pump.run_until(lambda e: False, 30.0))
        dock.send(StartHandshake())
        ev = await dock.run_until(lambda e: isinstance(e, Authenticated), 10.0)
        assert ev.hhu_id == "HHU-1"
        data = os.urandom(200_000)
        dock.send(PutBundle("B-1", data))
        stored = await dock.run_until(lambda e: isinstance(e, BundleStored), 30.0)
        hhu_task.cancel()
        dock.close()
        hhu_pump.close()
        return stored, received, data

    stored, received, data = asyncio.run(main())
    assert stored.bundle_id == "B-1" and received == {"B-1": data}


def test_what_the_core_raises_on_bytes_read_reaches_the_waiter_not_the_loop(tcp_line):
    """A core (or its key look-up) that raises while the loop feeds it: the waiter gets
    that exception, as from a blocking read, and the pump stops."""
    port, far = tcp_line

    class Raising(ScriptedConn):
        def receive_data(self, data: bytes, now: float | None = None) -> None:
            if data:
                raise LookupError("key store unavailable")

    async def main():
        pump = LinkPump(port, Raising())
        far.sendall(b"hello")
        with pytest.raises(LookupError, match="key store"):
            await pump.run_until(lambda e: False, 5.0)
        with pytest.raises(LookupError):
            pump.send(b"more")
        pump.close()

    asyncio.run(main())



def test_writing_to_a_peer_that_is_gone_is_a_cut_not_an_os_error(tcp_line):
    """EPIPE or ECONNRESET from the port's descriptor ends the link as a cut cable does
    (the CLI once exited 141, as if its own standard output had closed)."""
    port, far = tcp_line

    async def main():
        pump = LinkPump(port, ScriptedConn())
        far.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        far.close()                                   # a reset, not a polite end
        with pytest.raises(PumpCut):
            for _ in range(100):
                pump.send(b"x" * 65536)
                await asyncio.sleep(0.01)
        pump.close()

    asyncio.run(main())


def test_drain_waits_until_the_port_took_every_byte_so_a_last_frame_is_not_lost(tcp_line):
    port, far = tcp_line
    big = os.urandom(32 << 20)

    async def main():
        loop = asyncio.get_running_loop()
        pump = LinkPump(port, ScriptedConn())
        pump.send(big)
        assert pump.unsent > 0                   # the socket buffers took only part
        got = bytearray()

        async def read_all():
            while len(got) < len(big):
                got.extend(await loop.sock_recv(far, 1 << 20))

        reader = asyncio.ensure_future(read_all())
        assert await pump.drain(30.0) is True and pump.unsent == 0
        await reader
        pump.close()
        return bytes(got)

    far.setblocking(False)
    assert asyncio.run(main()) == big


def test_drain_gives_up_at_its_deadline_when_nobody_reads(tcp_line):
    port, far = tcp_line

    async def main():
        pump = LinkPump(port, ScriptedConn())
        pump.send(os.urandom(32 << 20))
        assert await pump.drain(0.05) is False and pump.unsent > 0
        pump.close()

    asyncio.run(main())
