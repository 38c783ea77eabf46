"""A serial line in a TCP relay: baud-rate pacing, latency, bit errors, cable cuts, and
what a modem adds: a connect delay, drops mid-transfer (scheduled or seeded) and calls
again after them.

Each direction timestamps what arrives (applying bit errors) and releases bytes on an
absolute schedule: a piece finishes on the wire at ``t_line = max(t_line, t_arrival) +
len/rate`` and reaches the far end ``latency`` later. Because the schedule is absolute
(the loop's monotonic clock), a late timer never accumulates, so the long-run rate is
exact. Rate is ``baud / 10`` bytes per second (8N1 framing); ``baud=0`` means unpaced.

Every line of a process runs on the one simulator loop (``simloop``): a direction is a
queue and one loop timer (``call_at``) at its next piece, not a pair of sleeping
threads.

Bounded: each direction queues at most ``max_queued`` bytes (then it stops reading its
source, so TCP back-pressure reaches the sender, as flow control would; and it stops
releasing while the far socket takes nothing), and when the far end (the target) hangs
up the whole session ends, so a client that stays connected, silent, cannot keep the
next docking off the line.

Modem-like: ``connect_ms`` passes (a loop timer) between a client's call and the far end
being connected; what the client sends meanwhile waits in its socket and goes on once
the line is up. A session is dropped (both connections closed, as a modem that loses
its carrier) after the bytes the ``DropPlan`` gives it: ``drops`` {session index:
bytes}, ``cut_after`` for every session, or ``drop_chance`` with ``seed``. Sessions are
numbered from 0 in the order they are served, so a reconnect after a drop is the next
session with its own fate. ``max_connections`` calls are carried at once (1: a modem);
one more waits in the backlog (``busy = "queue"``) or is closed without a byte after
``busy_grace_s`` (``busy = "close"``: the line is busy).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from hhu_firmware_sim.faults import BitFlipper, ByteBudget, DropPlan
from hhu_firmware_sim.serving import SocketServer

_PIECE_S = 0.002       # pacing granularity: bytes released per step = rate * this
_READ = 65536          # one read; a direction holds at most max_queued + this
_CONNECT_S = 5.0
_LINGER_S = 1.0        # a closed session's sockets get this long to flush, then abort


#: Connects the line's far end some other way than TCP (``DeviceServer.pair``): a
#: coroutine function giving a connected socket, called on the simulator loop.
Connector = Callable[[], Awaitable[socket.socket]]


class LineTap(Protocol):
    """Watches a line's client side, as a bench's recorder does (no relay hop of its own):
    each session's start, the client's bytes as they reach the line (before bit errors),
    and the bytes the line hands the client, when it does."""

    def session_started(self) -> None: ...
    def client_sent(self, data: bytes, now: float) -> None: ...
    def client_received(self, data: bytes, now: float) -> None: ...


@dataclass
class DirectionStats:
    """What one direction of one session carried."""

    bytes_in: int = 0
    bytes_out: int = 0
    bit_flips: int = 0
    peak_queued: int = 0


@dataclass
class LineStats:
    """Totals over all sessions of a line."""

    sessions: int = 0
    cuts: int = 0
    dropped: list[int] = field(default_factory=list)   # indices of the sessions cut
    refused: int = 0                                    # calls closed: the line was busy
    up: DirectionStats = field(default_factory=DirectionStats)    # client -> target
    down: DirectionStats = field(default_factory=DirectionStats)  # target -> client


class _End(asyncio.BufferedProtocol):
    """One socket of a session: what it reads goes into ``inbound``; whether it takes
    more bytes (its transport's write buffer) pauses ``outbound``."""

    def __init__(self, session: _Session) -> None:
        self.session = session
        self.inbound: _Direction | None = None
        self.outbound: _Direction | None = None
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray(_READ)
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.outbound is not None:
            self.outbound.schedule()    # bytes that came before this end was connected

    def get_buffer(self, sizehint: int) -> bytearray:
        return self._buf

    def buffer_updated(self, nbytes: int) -> None:
        if self.inbound is not None:
            self.inbound.arrive(bytes(self._buf[:nbytes]))

    def eof_received(self) -> bool:
        if self.inbound is not None:
            self.inbound.arrive(None)
        return True          # keep our writing half: the other direction may go on

    def pause_writing(self) -> None:
        if self.outbound is not None:
            self.outbound.blocked = True

    def resume_writing(self) -> None:
        if self.outbound is not None:
            self.outbound.blocked = False
            self.outbound.schedule()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self.session.close()


class _Direction:
    """One direction of one session: bytes in flight, released piece by piece on time."""

    def __init__(self, session: _Session, src: _End, dst: _End, flip: BitFlipper,
                 stats: DirectionStats, far_end: bool) -> None:
        line = session.line
        self.session, self.src, self.dst = session, src, dst
        self.flip, self.stats, self.far_end = flip, stats, far_end
        self.loop = asyncio.get_running_loop()
        self.rate = line.baud / 10.0
        self.latency = line.latency_ms / 1000.0
        self.piece = max(1, int(self.rate * line.piece_s)) if self.rate > 0 else 1 << 16
        self.max_queued = line.max_queued
        self.items: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.offset = 0           # bytes of items[0] already released
        self.queued = 0
        self.t_line = 0.0
        self.blocked = False      # the far socket takes nothing now
        self.paused = False       # we stopped reading the source
        self._timer: asyncio.Handle | None = None
        src.inbound, dst.outbound = self, self

    def arrive(self, data: bytes | None) -> None:
        """What the source sent (None: its end of stream), stamped with the loop's clock."""
        if self.session.closed:
            return
        now = self.loop.time()
        tap = self.session.line.tap
        if data and tap is not None and not self.far_end:
            tap.client_sent(data, now)
        if data:
            self.stats.bytes_in += len(data)
            before = self.flip.flips
            data = self.flip(data)
            self.stats.bit_flips += self.flip.flips - before
            self.queued += len(data)
            self.stats.peak_queued = max(self.stats.peak_queued, self.queued)
            if self.queued >= self.max_queued and not self.paused:
                self.paused = True
                assert self.src.transport is not None
                self.src.transport.pause_reading()
        self.items.append((now, data))
        self.schedule()

    def schedule(self) -> None:
        if self._timer is None and not self.blocked and self.dst.transport is not None:
            self._timer = self.loop.call_soon(self._release)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _release(self) -> None:
        """Send every piece that is due; set a timer at the next one."""
        self._timer = None
        now = self.loop.time()
        while (self.items and not self.session.closed and not self.blocked
               and self.dst.transport is not None):
            arrived, data = self.items[0]
            if data is None:
                self.items.popleft()
                self._end_of_stream()
                return
            chunk = data[self.offset:self.offset + self.piece]
            if self.rate > 0:
                t_line = max(self.t_line, arrived) + len(chunk) / self.rate
                due = t_line + self.latency
            else:
                t_line, due = self.t_line, arrived + self.latency
            if due > now:
                self._timer = self.loop.call_at(due, self._release)
                return
            self.t_line = t_line
            self._send(chunk)
            self.offset += len(chunk)
            if self.offset >= len(data):
                self.items.popleft()
                self.offset = 0
                self.queued -= len(data)
                if self.paused and self.queued < self.max_queued:
                    self.paused = False
                    assert self.src.transport is not None
                    self.src.transport.resume_reading()

    def _send(self, chunk: bytes) -> None:
        session = self.session
        allowed = session.budget.take(len(chunk))
        transport = self.dst.transport
        if allowed and transport is not None and not transport.is_closing():
            transport.write(chunk[:allowed])
            self.stats.bytes_out += allowed
            tap = session.line.tap
            if tap is not None and self.far_end:
                tap.client_received(chunk[:allowed], self.loop.time())
        if session.budget.cut:
            session.cut()

    def _end_of_stream(self) -> None:
        transport = self.dst.transport
        if transport is not None and not transport.is_closing():
            with contextlib.suppress(OSError, RuntimeError):
                transport.write_eof()
        if self.far_end:
            self.session.close()        # the device hung up: the cable is free again


class _Session:
    """One client connection relayed to one target connection, on the loop."""

    def __init__(self, line: LineSim, index: int) -> None:
        self.line = line
        self.index = index
        self.budget = ByteBudget(line.plan.limit(index))
        self.closed = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.client, self.target = _End(self), _End(self)
        seed = None if line.seed is None else f"{line.seed}/{index}"
        self.directions = [
            _Direction(self, src, dst, BitFlipper(line.ber, None if seed is None
                                                  else f"{seed}/{name}"), stats, far)
            for name, src, dst, stats, far in (
                ("up", self.client, self.target, line.stats.up, False),
                ("down", self.target, self.client, line.stats.down, True))]

    def cut(self) -> None:
        """Pull the cable: both ends see the connection close."""
        if not self.closed:
            self.line.stats.cuts += 1
            self.line.stats.dropped.append(self.index)
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for direction in self.directions:
            direction.cancel()
        for end in (self.client, self.target):
            if end.transport is not None:
                end.transport.close()
        if not self.done.done():
            self.done.set_result(None)

    async def ended(self) -> None:
        """Until the session is closed and its sockets are gone (or forced to go)."""
        try:
            await self.done
        finally:
            self.close()
            ends = [e for e in (self.client, self.target) if e.transport is not None]
            _, pending = await asyncio.wait([e.lost for e in ends], timeout=_LINGER_S)
            for end in ends:
                if end.lost in pending and end.transport is not None:
                    end.transport.abort()


class LineSim:
    """A paced, lossy TCP relay; ``start()``/``stop()`` to run it in-process.

    Serves one client at a time (a cradle has one cable; ``max_connections`` more),
    repeatedly, each with a fresh connection to ``target`` (an address, or a Connector
    such as an in-process ``DeviceServer.pair``) and its own drop budget.
    """

    def __init__(self, target: tuple[str, int] | Connector, *,
                 listen: tuple[str, int] = ("127.0.0.1", 0),
                 baud: int = 115200, ber: float = 0.0, latency_ms: float = 0.0,
                 cut_after: int | None = None, seed: int | None = None,
                 piece_ms: float = _PIECE_S * 1000, max_queued: int = 1 << 20,
                 tap: LineTap | None = None, connect_ms: float = 0.0,
                 drops: dict[int, int] | None = None, drop_chance: float = 0.0,
                 drop_within: int = 4096, max_connections: int = 1, busy: str = "queue",
                 busy_grace_s: float = 0.5) -> None:
        if baud < 0:
            raise ValueError("baud must be >= 0 (0 = unpaced)")
        # not (x >= 0) refuses nan too; inf would be a line that never delivers
        if not (0 <= latency_ms < math.inf):
            raise ValueError(f"latency must be a finite number >= 0, got {latency_ms}")
        if not (0 <= connect_ms < math.inf):
            raise ValueError(f"connect delay must be a finite number >= 0, got {connect_ms}")
        if busy not in ("queue", "close"):
            raise ValueError(f"busy must be queue or close, got {busy!r}")
        self.connect_s = connect_ms / 1000.0
        self.plan = DropPlan(drops, every=cut_after, chance=drop_chance, within=drop_within,
                             seed=seed)
        BitFlipper(ber)  # validate early
        self.target = target
        self.baud = baud
        self.ber = ber
        self.latency_ms = latency_ms
        self.cut_after = cut_after
        self.seed = seed
        if not (0 < piece_ms < math.inf):
            raise ValueError(f"piece_ms must be a finite number > 0, got {piece_ms}")
        self.piece_s = piece_ms / 1000.0   # bytes arrive in pieces of rate * piece_s
        if max_queued < 1:
            raise ValueError("max_queued must be >= 1")
        self.max_queued = max_queued
        self.stats = LineStats()
        self.tap = tap
        self._index = 0
        self._server = SocketServer(self._relay, listen, max_connections=max_connections,
                                    refuse=self._busy if busy == "close" else None,
                                    refuse_grace_s=busy_grace_s if busy == "close" else 0)
        self.address: tuple[str, int] = self._server.address

    @property
    def url(self) -> str:
        """The ``socket://`` URL a driver opens to go through this line."""
        return self._server.url

    def start(self) -> LineSim:
        """Accept and relay on the simulator loop."""
        self._server.start()
        return self

    def _busy(self, _sock: socket.socket, _peer: object) -> None:
        """A call while every connection is taken: closed without a byte."""
        self.stats.refused += 1

    async def _relay(self, client: socket.socket) -> None:
        """One client: connect to the target, relay until either side ends."""
        loop = asyncio.get_running_loop()
        if self.connect_s > 0:
            await asyncio.sleep(self.connect_s)   # the modem connects; the client waits
        session = _Session(self, self._index)
        self._index += 1
        try:
            if callable(self.target):
                far = await asyncio.wait_for(self.target(), _CONNECT_S)
                await loop.connect_accepted_socket(lambda: session.target, far)
            else:
                await asyncio.wait_for(loop.create_connection(
                    lambda: session.target, *self.target), _CONNECT_S)
        except (OSError, TimeoutError):
            return                       # the client is closed: nobody to relay to
        self.stats.sessions += 1
        if self.tap is not None:
            self.tap.session_started()
        await loop.connect_accepted_socket(lambda: session.client, client)
        if session.budget.limit == 0:
            session.cut()
        await session.ended()

    def stop(self) -> None:
        """Stop accepting, close any session."""
        self._server.stop()

    def __enter__(self) -> LineSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
