"""Read gathering: a trickling port is read once a tick, not once a piece, and loses nothing.

The pump's ``gather_s`` is what a USB serial adapter's latency timer does: after a read
that emptied the port, bytes gather for a tick before the next. The writes below are made
on the pump's own loop with no await between them, so which read takes them does not
depend on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from hhu_sync.config import parse_config
from hhu_sync.io.pump import MAX_GATHER_S, READ_CHUNK, LinkPump, PumpCut
from hhu_sync.model.problems import ModelError
from tests.unit.io.test_pump import ScriptedConn, SocketPort

TICK_S = 0.05


@pytest.fixture
def pair():
    near, far = socket.socketpair()
    yield near, far
    near.close()
    far.close()


def _got(data: bytes):
    return lambda event: event == ("got", data)


def test_pieces_that_arrive_within_a_tick_are_taken_in_one_read(pair):
    near, far = pair

    async def main():
        conn = ScriptedConn()
        pump = LinkPump(SocketPort(near), conn, gather_s=TICK_S)
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
