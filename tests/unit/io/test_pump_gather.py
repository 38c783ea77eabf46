"""Read gathering: a trickling port is read once a tick, not once a piece, and loses nothing.

The pump's ``gather_s`` is what a USB serial adapter's latency timer does: after a read
that emptied the port, bytes gather for a tick before the next. The writes below are made
on the pump's own loop with no await between them, so which read takes them does not
depend on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from hhu_sync.config import parse_config
from hhu_sync.io import pump as pump_module
from hhu_sync.io.pump import (
    GATHER_MAX_BPS,
    MAX_GATHER_S,
    RATE_WINDOW_S,
    READ_CHUNK,
    LineRate,
    LinkPump,
    PumpCut,
)
from hhu_sync.model.problems import ModelError
from tests.unit.io.test_pump import ScriptedConn, SocketPort

TICK_S = 0.05
STREAM_TICK_S = 0.02      # four of them within MAX_GATHER_S (the ticks below are run by hand)


@pytest.fixture(autouse=True, params=["epoll", "loop"])
def watching(request, monkeypatch):
    """Every test twice: gathering ports watched through the loop's one epoll, and (as
    where there is none) by the loop's own add_reader."""
    if request.param == "loop":
        monkeypatch.setattr(pump_module, "_ready_for", lambda loop: None)
    return request.param


@pytest.fixture
def pair():
    near, far = socket.socketpair()
    yield near, far
    near.close()
    far.close()


def _got(data: bytes):
    return lambda event: event == ("got", data)


async def _slow_line(pump: LinkPump, far: socket.socket) -> None:
    """A port starts out as a fast line (read as bytes come); one byte, a rate window
    later another: now it is a slow one, and it gathers."""
    for byte in (b"<", b">"):
        far.send(byte)
        await pump.run_until(_got(byte), 5.0)
        await asyncio.sleep(RATE_WINDOW_S * 1.2)


def test_pieces_that_arrive_within_a_tick_are_taken_in_one_read(pair):
    near, far = pair

    async def main():
        conn = ScriptedConn()
        pump = LinkPump(SocketPort(near), conn, gather_s=TICK_S)
        await _slow_line(pump, far)
        conn.received.clear()
        pump.stats.gathers = pump.stats.reads = 0
        far.send(b"first")
        await pump.run_until(_got(b"first"), 5.0)    # read at once: the port was quiet
        for i in range(9):                           # meanwhile the line trickles on
            far.send(b"piece%d" % i)
        rest = b"".join(b"piece%d" % i for i in range(9))
        await pump.run_until(_got(rest), 5.0)
        pump.close()
        return conn, pump.stats

    conn, stats = asyncio.run(main())
    assert conn.received == [b"first", b"".join(b"piece%d" % i for i in range(9))]
    assert stats.gathers == 1 and stats.reads == 2


def test_a_port_gone_quiet_is_watched_again_and_its_next_byte_is_read(pair):
    near, far = pair

    async def main():
        conn = ScriptedConn()
        pump = LinkPump(SocketPort(near), conn, gather_s=TICK_S)
        far.send(b"a")
        await pump.run_until(_got(b"a"), 5.0)
        await asyncio.sleep(3 * TICK_S)       # the tick finds nothing: back to the loop
        far.send(b"b")
        await pump.run_until(_got(b"b"), 5.0)
        pump.close()
        return conn

    assert asyncio.run(main()).received == [b"a", b"b"]


def test_a_fast_port_is_read_as_it_fills_not_once_a_tick(pair):
    near, far = pair
    blob = bytes(range(256)) * (2 * READ_CHUNK // 256) + b"tail!"
    far.sendall(blob)                                # all there before the first read

    async def main():
        conn = ScriptedConn()
        pump = LinkPump(SocketPort(near), conn, gather_s=MAX_GATHER_S)
        await pump.run_until(lambda e: b"".join(conn.received) == blob, 5.0)
        pump.close()
        return conn, pump.stats

    conn, stats = asyncio.run(main())
    assert [len(r) for r in conn.received] == [READ_CHUNK, READ_CHUNK, 5]
    assert stats.gathers == 0


def test_end_of_stream_while_gathering_cuts_the_link(pair):
    near, far = pair

    async def main():
        pump = LinkPump(SocketPort(near), ScriptedConn(), gather_s=TICK_S)
        far.send(b"last words")
        await pump.run_until(_got(b"last words"), 5.0)
        far.close()
        with pytest.raises(PumpCut):
            await pump.run_until(lambda e: False, 5.0)

    asyncio.run(main())


def test_a_closed_pump_reads_nothing_at_its_pending_tick(pair):
    near, far = pair

    async def main():
        conn = ScriptedConn()
        pump = LinkPump(SocketPort(near), conn, gather_s=TICK_S)
        far.send(b"one")
        await pump.run_until(_got(b"one"), 5.0)
        pump.close()                            # the tick for this port is still due
        far.send(b"after close")
        await asyncio.sleep(3 * TICK_S)
        return conn

    assert asyncio.run(main()).received == [b"one"]


def test_every_port_of_a_loop_gathers_on_one_timer(pair):
    near, far = pair
    near2, far2 = socket.socketpair()

    async def main():
        loop = asyncio.get_running_loop()
        a, b = ScriptedConn(), ScriptedConn()
        pumps = [LinkPump(SocketPort(near), a, gather_s=TICK_S),
                 LinkPump(SocketPort(near2), b, gather_s=TICK_S)]
        await _slow_line(pumps[0], far)
        await _slow_line(pumps[1], far2)
        far.send(b"x")
        far2.send(b"y")
        await pumps[0].run_until(_got(b"x"), 5.0)
        await pumps[1].run_until(_got(b"y"), 5.0)
        timers = [h for h in loop._scheduled if not h.cancelled()]   # noqa: SLF001
        for pump in pumps:
            pump.close()
        return timers

    try:
        assert len(asyncio.run(main())) == 1
    finally:
        near2.close()
        far2.close()


def test_a_line_is_fast_until_a_window_shows_it_slow_and_fast_again_when_it_speeds_up():
    now = [0.0]
    rate = LineRate(lambda: now[0])
    assert rate.fast                       # a fast start stays fast: no first stall
    now[0] = RATE_WINDOW_S
    rate.moved(100)                        # 100 B in a window: a serial line
    assert not rate.fast
    now[0] += RATE_WINDOW_S / 2
    rate.moved(int(GATHER_MAX_BPS * RATE_WINDOW_S))
    now[0] += RATE_WINDOW_S / 2
    rate.moved(1)
    assert rate.fast                       # megabytes a second: read as they come


def test_a_new_port_is_read_at_once_until_a_window_shows_it_slow(pair):
    near, far = pair

    async def main():
        conn = ScriptedConn()
        pump = LinkPump(SocketPort(near), conn, gather_s=MAX_GATHER_S)
        for i in range(20):                      # small pieces, within the first window
            far.send(b"p%02d" % i)
            await pump.run_until(_got(b"p%02d" % i), 5.0)
        pump.close()
        return pump.stats

    stats = asyncio.run(main())
    assert stats.gathers == 0 and stats.reads == 20


@pytest.mark.parametrize("bad", [-0.001, MAX_GATHER_S * 2])
def test_a_gathering_time_out_of_range_is_refused(pair, bad):
    async def main():
        LinkPump(SocketPort(pair[0]), ScriptedConn(), gather_s=bad)

    with pytest.raises(ValueError, match="gather_s"):
        asyncio.run(main())


def test_the_configuration_names_the_field_of_a_gathering_time_too_long():
    assert parse_config({"link": {"read_gather_ms": 0}}, None).link.read_gather_ms == 0
    with pytest.raises(ModelError, match=r"link\.read_gather_ms.*at most 100"):
        parse_config({"link": {"read_gather_ms": 250}}, None)


def _ticks_that_read(pump: LinkPump, far: socket.socket, ticks: int) -> list[int]:
    """Run the loop's gathering tick by hand ``ticks`` times, a piece on the line before
    each (a transfer streaming in): the ticks whose read took bytes, counted from 1."""
    tick = pump._io._tick                                # noqa: SLF001 - the one timer
    reading = []
    for n in range(1, ticks + 1):
        far.send(b"s%02d" % n)
        before = pump.stats.gathers
        if tick._handle is not None:                       # noqa: SLF001
            tick._handle.cancel()                          # noqa: SLF001
        tick._tick()                                       # noqa: SLF001
        if pump.stats.gathers != before:
            reading.append(n)
    return reading


async def _streaming(near: socket.socket, far: socket.socket, conn: ScriptedConn,
                     **gather) -> LinkPump:
    """A pump on a slow line that has read its first bytes: from here it gathers."""
    pump = LinkPump(SocketPort(near), conn, **gather)
    await _slow_line(pump, far)
    far.send(b"first")
    await pump.run_until(_got(b"first"), 5.0)    # read at once, then gathering
    return pump


def test_a_port_that_streams_is_read_every_second_then_every_fourth_tick(pair):
    near, far = pair

    async def main():
        conn = ScriptedConn()
        pump = await _streaming(near, far, conn, gather_s=STREAM_TICK_S,
                                gather_max_s=4 * STREAM_TICK_S)
        reading = _ticks_that_read(pump, far, 16)
        got = b"".join(conn.received)
        pump.close()
        return reading, got

    reading, got = asyncio.run(main())
    assert reading == [1, 3, 7, 11, 15]
    assert got.endswith(b"".join(b"s%02d" % n for n in range(1, 16)))   # nothing lost


def test_a_request_sent_has_its_answer_read_at_the_next_tick_again(pair):
    near, far = pair

    async def main():
        pump = await _streaming(near, far, ScriptedConn(), gather_s=STREAM_TICK_S,
                                gather_max_s=4 * STREAM_TICK_S)
        streaming = _ticks_that_read(pump, far, 8)          # every fourth by now
        pump.send(b"request")
        after = _ticks_that_read(pump, far, 4)
        pump.close()
        return streaming, after, far.recv(100)

    streaming, after, sent = asyncio.run(main())
    assert streaming == [1, 3, 7]
    assert after == [1, 3] and sent == b"request"


def test_without_a_longer_limit_a_streaming_port_is_read_every_tick(pair):
    near, far = pair

    async def main():
        pump = await _streaming(near, far, ScriptedConn(), gather_s=TICK_S)
        reading = _ticks_that_read(pump, far, 6)
        pump.close()
        return reading

    assert asyncio.run(main()) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("bad", [TICK_S / 2, MAX_GATHER_S * 2])
def test_a_streaming_limit_below_the_tick_or_above_the_most_is_refused(pair, bad):
    async def main():
        LinkPump(SocketPort(pair[0]), ScriptedConn(), gather_s=TICK_S, gather_max_s=bad)

    with pytest.raises(ValueError, match="gather_max_s"):
        asyncio.run(main())


def test_one_wake_up_reads_every_port_that_became_readable(pair, watching):
    near, far = pair
    near2, far2 = socket.socketpair()

    async def main():
        a, b = ScriptedConn(), ScriptedConn()
        pumps = [LinkPump(SocketPort(near), a, gather_s=TICK_S),
                 LinkPump(SocketPort(near2), b, gather_s=TICK_S)]
        far.send(b"x")
        far2.send(b"y")
        await asyncio.sleep(0)            # one turn of the loop: both are read in it
        await asyncio.sleep(0)
        got = (list(a.received), list(b.received))
        for pump in pumps:
            pump.close()
        return got

    try:
        assert asyncio.run(main()) == ([b"x"], [b"y"])
    finally:
        near2.close()
        far2.close()


def test_a_closed_port_leaves_the_loops_epoll_and_the_last_closes_it(pair, watching):
    near, far = pair

    async def main():
        loop = asyncio.get_running_loop()
        pump = LinkPump(SocketPort(near), ScriptedConn(), gather_s=TICK_S)
        ready = pump_module._READY.get(loop)                # noqa: SLF001
        pump.close()
        return ready, pump_module._READY.get(loop)          # noqa: SLF001

    ready, after = asyncio.run(main())
    assert after is None
    if watching == "epoll":
        assert ready is not None and ready.epoll.closed and not ready.ports


def test_a_first_data_hook_that_raises_breaks_its_own_link_not_the_loops_reads(
        pair, watching):
    """Both ports readable in one wake-up, each pump's first-bytes hook raising: each
    waiter gets its hook's error, and neither port's bytes are read and dropped unseen
    (through the loop's one epoll, the first hook's error would end the wake-up and
    leave the other port disarmed, never read again)."""
    near, far = pair
    near2, far2 = socket.socketpair()

    def hook():
        raise RuntimeError("hook failed")

    async def main():
        pumps = [LinkPump(SocketPort(near), ScriptedConn(), gather_s=TICK_S),
                 LinkPump(SocketPort(near2), ScriptedConn(), gather_s=TICK_S)]
        for pump in pumps:
            pump.on_first_data = hook
        far.send(b"x")
        far2.send(b"y")
        outcomes = []
        for pump in pumps:
            try:
                await pump.run_until(lambda e: False, 2.0)
            except Exception as exc:  # noqa: BLE001 - what each waiter got
                outcomes.append(type(exc).__name__)
            pump.close()
        return outcomes

    try:
        assert asyncio.run(main()) == ["RuntimeError", "RuntimeError"]
    finally:
        near2.close()
        far2.close()


def test_a_port_whose_read_fails_in_a_wake_up_leaves_the_others_read(pair, watching):
    """One port's read failing unexpectedly cuts its own link; the other port readable in
    the same wake-up is read all the same (and watched on)."""
    near, far = pair
    near2, far2 = socket.socketpair()

    async def main():
        b = ScriptedConn()
        first = LinkPump(SocketPort(near), ScriptedConn(), gather_s=TICK_S)
        second = LinkPump(SocketPort(near2), b, gather_s=TICK_S)

        def broken(*_args):
            raise RuntimeError("read failed")

        first._io._read = broken                  # noqa: SLF001
        far.send(b"x")
        far2.send(b"y")
        with pytest.raises(PumpCut, match="read failed"):
            await first.run_until(lambda e: False, 2.0)
        await second.run_until(_got(b"y"), 2.0)
        far2.send(b"z")
        await second.run_until(_got(b"z"), 2.0)
        first.close()
        second.close()
        return b.received

    try:
        assert asyncio.run(main()) == [b"y", b"z"]
    finally:
        near2.close()
        far2.close()


def test_a_pump_closed_after_its_port_was_closed_under_it_and_its_number_reused(pair):
    """A port closed under its pump (not the house order, but a caller's bug must not
    raise from close): its descriptor number taken by a new port of the same loop, the
    new pump closed first (the loop's epoll closes with its last port), then the old
    pump: closing it leaves everything closed and raises nothing."""
    near, far = pair

    class FdPort:
        def __init__(self, fd: int) -> None:
            self.fd = fd

        def sansio_fileno(self) -> int:
            return self.fd

    async def main():
        loop = asyncio.get_running_loop()
        number = near.fileno()
        old = LinkPump(FdPort(number), ScriptedConn(), gather_s=TICK_S)
        other, other_far = socket.socketpair()
        near.close()                          # under the pump
        os.dup2(other.fileno(), number)       # the number reused by a new port
        try:
            new = LinkPump(FdPort(number), ScriptedConn(), gather_s=TICK_S)
            new.close()
            old.close()
            return pump_module._READY.get(loop)     # noqa: SLF001
        finally:
            os.close(number)
            other.close()
            other_far.close()

    assert asyncio.run(main()) is None
