"""The one pump between a pyserial port and a sans-IO core, on an asyncio event loop.

Every docking (and every simulated HHU) is a :class:`LinkPump` on one event loop: the
loop wakes when a port is readable or a core's deadline is due, never per thread and
never on a poll. The pump does only what a driver must: read what the port has, pass it
to the core with the loop's clock, write what the core queued, fire the core's timers at
``next_deadline()``, and hand events to whoever awaits them (``run_until``) or to
``on_event``. The core keeps every protocol rule; the caller keeps the procedure.

Ports with a file descriptor the loop can watch (a local serial device, ``socket://``,
and ports that offer ``sansio_fileno()``, as the simulator's ``hhusim://`` does) are read
and written through it without blocking. Any other port (``loop://``, ``spy://``,
``rfc2217://``...) is read by one helper thread that posts what it reads to the loop,
so every URL pyserial opens works, only less cheaply.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial
from serial.urlhandler import protocol_socket

from hhu_sync.errors import HhuSyncError
from hhu_sync.sansio import NEED_DATA

READ_CHUNK = 65536        # most bytes taken from the port per read
MAX_GATHER_S = 0.1        # the longest read-gathering a pump accepts (see LinkPump)
#: above this many bytes a second (read and written), a port is read as bytes come: its
#: peer's window (the link keeps some kilobytes in flight) would stall on our latency
GATHER_MAX_BPS = 256 * 1024
RATE_WINDOW_S = 0.2       # the rate is measured over windows this long
THREAD_POLL_S = 0.05      # a fallback reader thread's read time-out (how soon it sees a stop)
_CLOCK_SLACK_S = 1e-3     # the loop may call a timer a hair early; it still counts as due
#: a depot's cradle streaming a transfer is read every this many gathering periods at
#: most (``streaming_gather``): the link keeps kilobytes in flight, so a read 64 ms late
#: costs it nothing, and on a slow line a read costs the same for one piece or ten
STREAM_GATHER_TICKS = 4


def streaming_gather(gather_s: float) -> float:
    """The longest a streaming port's reads gather, for a pump gathering ``gather_s``."""
    return min(MAX_GATHER_S, STREAM_GATHER_TICKS * gather_s)


class PumpError(HhuSyncError):
    """The pump stopped before the awaited event."""


class PumpCut(PumpError):
    """The port closed or hit end of stream (cable pulled, peer gone)."""


class PumpTimedOut(PumpError):
    """The caller's deadline passed before the awaited event."""


@dataclass
class PumpStats:
    """Port-level counters (the core keeps the frame-level ones)."""

    bytes_written: int = 0
    bytes_read: int = 0
    reads: int = 0
    gathers: int = 0           # reads made by the gathering timer, not on readiness
    writes_deferred: int = 0   # writes the port took only in part: the rest waited
    timeouts_handled: int = 0


def watchable_fd(port: serial.SerialBase) -> int | None:
    """The descriptor the loop may read and write directly, or None.

    Only for port classes whose reads and writes are exactly the descriptor's: a
    subclass such as ``spy://`` adds behaviour to read()/write() that a direct read
    would skip, so it gets the thread instead.
    """
    offer = getattr(port, "sansio_fileno", None)
    if callable(offer):
        fd = offer()
        return fd if isinstance(fd, int) else None
    if type(port) is protocol_socket.Serial:
        sock = getattr(port, "_socket", None)
        return sock.fileno() if sock is not None else None
    posix = getattr(serial, "serialposix", None)
    fd = getattr(port, "fd", None)
    if posix is not None and type(port) is posix.Serial and isinstance(fd, int):
        return fd
    return None


class _GatherTick:
    """One loop timer for every port gathering on a loop (see _FdTransport): with 32
    cradles trickling, one timer a tick rather than one a port a read, whose set-up
    cost as much as the reads it saved. A port that is to sit out ticks (``skip``, a
    streaming port's longer gathering) is carried over to the next without a read, so
    every port of a period still shares the one timer. The clock is read once a tick."""

    def __init__(self, loop: asyncio.AbstractEventLoop, period_s: float) -> None:
        self.loop, self.period_s = loop, period_s
        self.waiting: list[_FdTransport] = []
        self._handle: asyncio.TimerHandle | None = None

    def add(self, transport: _FdTransport) -> None:
        self.waiting.append(transport)
        if self._handle is None:
            self._handle = self.loop.call_later(self.period_s, self._tick)

    def _tick(self) -> None:
        self._handle = None
        due, self.waiting = self.waiting, []
        waiting = self.waiting       # (a port's gathered() may add itself here too)
        now = self.loop.time()
        for transport in due:
            if transport.skip:       # carried over as add() would, without its call
                transport.skip -= 1
                waiting.append(transport)
                if self._handle is None:
                    self._handle = self.loop.call_later(self.period_s, self._tick)
            else:
                transport.gathered(now)


_TICKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, _GatherTick]] = (
    weakref.WeakKeyDictionary())


def _tick_for(loop: asyncio.AbstractEventLoop, period_s: float) -> _GatherTick:
    ticks = _TICKS.setdefault(loop, {})
    tick = ticks.get(period_s)
    if tick is None:
        tick = ticks[period_s] = _GatherTick(loop, period_s)
    return tick


_ONESHOT_IN = getattr(select, "EPOLLIN", 0) | getattr(select, "EPOLLONESHOT", 0)


class _ReadyPorts:
    """One epoll for every gathering port of a loop, itself watched by the loop: a
    wake-up reads every port that became readable, and a port is watched again (after
    a gathering, or a read) by one ``epoll.modify``, where the loop's ``add_reader`` and
    ``remove_reader`` cost ten times that in Python for each turn of a trickling
    cradle. Each port is armed one-shot: the first byte disarms it, so a port that is
    gathering is not reported (nor the loop woken) until it is armed again."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.epoll = select.epoll()
        self.ports: dict[int, _FdTransport] = {}
        loop.add_reader(self.epoll.fileno(), self._ready)

    def arm(self, transport: _FdTransport) -> None:
        """Report the port's next byte (now, if it has one); OSError if epoll cannot
        watch this kind of descriptor."""
        fd = transport.fd
        if self.ports.get(fd) is transport:
            with contextlib.suppress(FileNotFoundError):   # gone from the set: re-register
                self.epoll.modify(fd, _ONESHOT_IN)
                return
        self.ports[fd] = transport
        try:
            self.epoll.register(fd, _ONESHOT_IN)
        except FileExistsError:      # a port of this number that was not forgotten
            self.epoll.modify(fd, _ONESHOT_IN)

    def forget(self, transport: _FdTransport) -> None:
        fd = transport.fd
        if self.ports.get(fd) is transport:
            del self.ports[fd]
            with contextlib.suppress(OSError):      # already closed: epoll dropped it
                self.epoll.unregister(fd)
        if not self.ports:
            self.close()

    def close(self) -> None:
        """Once (a port forgotten after the last one, as a port whose number was taken
        by another while it was closed under its pump, finds it closed already)."""
        if self.epoll.closed:
            return
        if _READY.get(self.loop) is self:
            del _READY[self.loop]
        with contextlib.suppress(RuntimeError):      # the loop is closed already
            self.loop.remove_reader(self.epoll.fileno())
        self.epoll.close()

    def _ready(self) -> None:
        try:
            ready = self.epoll.poll(0)
        except (OSError, ValueError):   # closed under us by the last port's close
            return
        ports = self.ports
        for fd, _ in ready:
            transport = ports.get(fd)
            if transport is not None:
                transport.readable()


_READY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ReadyPorts] = (
    weakref.WeakKeyDictionary())


def _ready_for(loop: asyncio.AbstractEventLoop) -> _ReadyPorts | None:
    """The loop's epoll for gathering ports; None where there is no epoll (not Linux)."""
    if not _ONESHOT_IN or not hasattr(select, "epoll"):
        return None
    ready = _READY.get(loop)
    if ready is None:
        ready = _READY[loop] = _ReadyPorts(loop)
    return ready


class LineRate:
    """Whether a port moves few enough bytes that gathering its reads costs the link
    nothing: bytes read and written, measured over windows of ``RATE_WINDOW_S``.

    A serial line (115200 baud: 11.5 KB/s each way) stays slow; a loopback or TCP line
    moving megabytes a second turns fast within one window and is read as it fills
    (gathering there cut a 69 MB/s transfer to 14, the acknowledgements held 16 ms).
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.fast = True          # until a window shows otherwise: a fast start stays fast
        self._moved = 0
        self._since = clock()

    def moved(self, n: int, now: float | None = None) -> None:
        """``n`` bytes moved; ``now``: the clock's time, if the caller has just read it."""
        self._moved += n
        if now is None:
            now = self.clock()
        span = now - self._since
        if span >= RATE_WINDOW_S:
            self.fast = self._moved / span > GATHER_MAX_BPS
            self._moved, self._since = 0, now


class _FdTransport:
    """Non-blocking reads and writes on a descriptor the loop watches.

    With ``gather_s`` > 0, a read that emptied the port is followed by ``gather_s``
    without watching it: the next read is made by a timer and takes what arrived
    meanwhile (on a trickling line, one read of 230 bytes instead of four of 62). While
    reads keep finding bytes the timer goes on reading, with no change to what the loop
    watches; the first read to find nothing hands the port back to the loop, so a
    quiet port costs nothing and its next byte is read at once. Every port of a loop
    gathers on one timer (``_GatherTick``): a port waits one period or less. A port
    moving more than ``GATHER_MAX_BPS`` (``LineRate``) is not gathered at all.

    ``max_ticks`` > 1: a port whose gathered reads keep finding bytes (a transfer
    streaming in, or its acknowledgements) is read every second tick, then every
    fourth..., up to every ``max_ticks``-th; a tick that finds nothing, or ``hurry()``
    (the caller sent a request: its answer is read within a tick), starts again at one.
    On a slow line a read costs the same whether it takes one piece or ten.

    A gathering port is watched through the loop's one epoll (``_ReadyPorts``) where
    there is one, else by the loop's own ``add_reader``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int,
                 on_data: Callable[[bytes, float], None],
                 on_error: Callable[[BaseException], None],
                 stats: PumpStats, gather_s: float = 0.0, max_ticks: int = 1) -> None:
        self.loop, self.fd, self.stats = loop, fd, stats
        self.on_data, self.on_error = on_data, on_error
        self.gather_s = gather_s
        self.max_ticks = max_ticks
        self.skip = 0          # ticks to sit out before the next gathered read
        self._streak = 1       # ticks between gathered reads now (1, 2, 4... max_ticks)
        self._pending = bytearray()   # what the port has not taken yet
        self._drained: asyncio.Event | None = None   # set when _pending empties
        self._closed = False
        self._tick = _tick_for(loop, gather_s) if gather_s else None
        self.rate = LineRate(loop.time)
        os.set_blocking(fd, False)
        self._ready = _ready_for(loop) if self._tick is not None else None
        self._watch()

    def _watch(self) -> None:
        """Read the port at its next byte (at once if it has some)."""
        ready = self._ready
        if ready is not None:
            try:
                ready.arm(self)
                return
            except OSError:          # a descriptor epoll does not take: the loop's way
                ready.forget(self)
                self._ready = None
        self.loop.add_reader(self.fd, self.readable)

    def _read(self, now: float) -> bytes | None:
        """What the port has (b"" none yet), or None when it failed or ended."""
        try:
            data = os.read(self.fd, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as exc:
            self.on_error(exc)
            return None
        stats = self.stats
        stats.reads += 1
        if not data:
            self.on_error(EOFError("end of stream"))
            return None
        stats.bytes_read += len(data)
        if self._tick is not None:
            self.rate.moved(len(data), now)
        return data

    def _gathering(self, data: bytes) -> bool:
        """Whether to let the next bytes gather after this read."""
        return (self._tick is not None and len(data) < READ_CHUNK and not self.rate.fast
                and not self._closed)

    def readable(self) -> None:
        """The port has bytes (the loop, or the loop's epoll, says so): read them.

        A failure here (a callback's, or a bug) cuts this port's link: raised into
        the loop's epoll wake-up or the tick, it would leave the other ports of that
        wake-up unread and disarmed.
        """
        try:
            now = self.loop.time()
            data = self._read(now)
            if data:
                self.on_data(data, now)
            if data is None or self._closed:
                return
            if data and self._gathering(data):
                assert self._tick is not None
                if self._ready is None:
                    self.loop.remove_reader(self.fd)
                self._streak, self.skip = 1, 0
                self._tick.add(self)
            elif self._ready is not None:
                self._watch()                  # armed one-shot: armed again
        except Exception as exc:  # noqa: BLE001 - this port's link ends, not the loop's reads
            self.on_error(exc)

    def gathered(self, now: float) -> None:
        """The tick (at ``now``): read what gathered; keep gathering while there is some,
        each time a little longer (up to ``max_ticks``).

        A failure cuts this port's link (as :meth:`readable`).
        """
        try:
            if self._closed:
                return
            data = self._read(now)
            if data is None:
                return
            if not data:
                self._watch()                  # quiet: read the next at once
                return
            self.stats.gathers += 1
            self.on_data(data, now)
            if self._closed:
                return
            if self._gathering(data):
                assert self._tick is not None
                streak = self._streak
                if streak < self.max_ticks:
                    self._streak = streak = min(2 * streak, self.max_ticks)
                self.skip = streak - 1
                self._tick.add(self)
            else:
                self._watch()                  # a fast line: no gathering
        except Exception as exc:  # noqa: BLE001 - this port's link ends, not the loop's reads
            self.on_error(exc)

    def hurry(self) -> None:
        """A request went out: read its answer at the next tick, and gather from one
        tick again (a transfer that streams in afterwards earns its longer reads anew)."""
        self._streak, self.skip = 1, 0

    def write(self, data: bytes) -> None:
        if self._pending:
            self._pending += data
            return
        try:
            n = os.write(self.fd, data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as exc:     # EPIPE, ECONNRESET, EIO: the peer or the device is gone
            self.on_error(exc)
            return
        self.stats.bytes_written += n
        if self._tick is not None:
            self.rate.moved(n)
        if n < len(data):
            self.stats.writes_deferred += 1
            self._pending += data[n:]
            self.loop.add_writer(self.fd, self._writable)

    def _writable(self) -> None:
        try:
            n = os.write(self.fd, self._pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.loop.remove_writer(self.fd)
            self.on_error(exc)
            return
        self.stats.bytes_written += n
        if self._tick is not None:
            self.rate.moved(n)
        del self._pending[:n]
        if not self._pending:
            self.loop.remove_writer(self.fd)
            if self._drained is not None:
                self._drained.set()

    @property
    def unsent(self) -> int:
        return len(self._pending)

    async def drained(self) -> None:
        """Return once the port took everything written."""
        if self._pending:
            self._drained = self._drained or asyncio.Event()
            self._drained.clear()
            await self._drained.wait()

    def close(self, wait: bool = True) -> None:
        if not self._closed:
            self._closed = True        # a tick still due finds it closed and skips it
            if self._ready is not None:
                self._ready.forget(self)
            else:
                self.loop.remove_reader(self.fd)
            self.loop.remove_writer(self.fd)


class _ThreadTransport:
    """A port the loop cannot watch: one thread reads it and posts to the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, port: serial.SerialBase,
                 on_data: Callable[[bytes], None], on_error: Callable[[BaseException], None],
                 stats: PumpStats, gather_s: float = 0.0) -> None:
        self.loop, self.port, self.stats = loop, port, stats
        self.on_data, self.on_error = on_data, on_error
        self.gather_s = gather_s
        self.rate = LineRate(time.monotonic)     # (on this thread: its own clock)
        self._stop = threading.Event()
        port.timeout = THREAD_POLL_S
        self._thread = threading.Thread(target=self._run, name="pump-reader", daemon=True)
        self._thread.start()

    def _post(self, fn: Callable[..., None], arg: Any) -> None:
        with contextlib.suppress(RuntimeError):      # the loop is closed: nobody listens
            self.loop.call_soon_threadsafe(fn, arg)

    def _run(self) -> None:
        port: Any = self.port      # every port class has in_waiting; SerialBase does not say
        while not self._stop.is_set():
            try:
                data = port.read(1)
                if data and port.in_waiting:
                    data += port.read(min(port.in_waiting, READ_CHUNK))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                if not self._stop.is_set():
                    self._post(self.on_error, exc)
                return
            if data and not self._stop.is_set():
                self.stats.reads += 1
                self.stats.bytes_read += len(data)
                self._post(self.on_data, data)
                if self.gather_s:
                    self.rate.moved(len(data))
                    if len(data) < READ_CHUNK and not self.rate.fast:
                        self._stop.wait(self.gather_s)   # let the next bytes gather

    unsent = 0          # port.write() returns once the port took the bytes

    def hurry(self) -> None:
        """(This reader gathers one period at a time: nothing to hurry.)"""

    async def drained(self) -> None:
        return None

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as exc:
            self.on_error(exc)
            return
        self.stats.bytes_written += len(data)
        if self.gather_s:
            self.rate.moved(len(data))   # (the loop's thread; a race costs one window)

    def close(self, wait: bool = True) -> None:
        self._stop.set()
        if wait:
            self.join()

    def join(self) -> None:
        """Wait for the reader to see its stop (at most one read time-out): never on a
        loop that serves other ports, which would stall them for that long."""
        if threading.current_thread() is not self._thread:
            self._thread.join(1.0 + THREAD_POLL_S)


class LinkPump:
    """Drives ``conn`` (any core of the sans-IO convention) over ``port`` on ``loop``.

    Bytes are read as they come, whether or not anyone awaits an event; events stay in
    the core until ``run_until`` asks for them, as they would with a blocking driver.
    ``fatal(event)`` returns the exception an event means (an abort, a time-out, a close)
    or None; ``on_event`` sees every other event that does not end a ``run_until``.
    ``gather_s`` (at most ``MAX_GATHER_S``): after a read that emptied the port, let
    bytes gather this long before the next, as a USB serial adapter's latency timer does
    (16 ms by default on FTDI's): most of a slow line's cost is per read, not per byte.
    It delays what the core sees by at most that; 0 reads every byte as it comes.
    ``gather_max_s`` (at least ``gather_s``, at most ``MAX_GATHER_S``; default
    ``gather_s``): on a descriptor, a port whose gathered reads keep finding bytes is
    read less often, every second period, then every fourth..., up to this long (see
    _FdTransport); a request sent (``send``) has its answer read within ``gather_s``
    again. It delays what the core sees of a streaming transfer by at most that.
    Create, use and close it on the loop's thread.
    """

    def __init__(self, port: serial.SerialBase, conn: Any, *,
                 loop: asyncio.AbstractEventLoop | None = None,
                 fatal: Callable[[Any], BaseException | None] = lambda event: None,
                 on_event: Callable[[Any], None] | None = None,
                 gather_s: float = 0.0, gather_max_s: float | None = None) -> None:
        if not 0 <= gather_s <= MAX_GATHER_S:
            raise ValueError(f"gather_s must be between 0 and {MAX_GATHER_S} s, "
                             f"found {gather_s}")
        if gather_max_s is None:
            gather_max_s = gather_s
        if not gather_s <= gather_max_s <= MAX_GATHER_S:
            raise ValueError(f"gather_max_s must be between gather_s ({gather_s} s) and "
                             f"{MAX_GATHER_S} s, found {gather_max_s}")
        # the longest streak, in whole periods (a float's rounding does not lose one)
        max_ticks = max(1, int(gather_max_s / gather_s + 1e-9)) if gather_s else 1
        self.port = port
        self.conn = conn
        self.loop = loop or asyncio.get_running_loop()
        self.fatal = fatal
        self.on_event = on_event
        self.stats = PumpStats()
        self.cut: BaseException | None = None
        self.broken: Exception | None = None   # what the core raised in a loop callback
        #: called once, at the first bytes read (then cleared): "something answered"
        self.on_first_data: Callable[[], None] | None = None
        self._waiter: tuple[Callable[[Any], bool], asyncio.Future[Any]] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        fd = watchable_fd(port)
        transport = _FdTransport if fd is not None else _ThreadTransport
        self._io: _FdTransport | _ThreadTransport = (
            _FdTransport(self.loop, fd, self._on_data, self._on_error, self.stats, gather_s,
                         max_ticks)
            if fd is not None else
            _ThreadTransport(self.loop, port, self._on_data, self._on_error, self.stats,
                             gather_s))
        self.kind = transport.__name__.strip("_").replace("Transport", "").lower()

    # --- what the loop calls -------------------------------------------------------------

    def _on_data(self, data: bytes, now: float | None = None) -> None:
        """Bytes read at ``now`` (the loop's clock; read here if not given)."""
        if self.cut is not None:
            return
        if now is None:
            now = self.loop.time()
        try:
            if self.on_first_data is not None:     # (its failure is the waiter's too)
                hook, self.on_first_data = self.on_first_data, None
                hook()
            conn = self.conn
            conn.receive_data(data, now)
            # _after() at this read's time, spelled out: this runs once a read, thousands
            # of times a run
            if self._waiter is not None:
                self._deliver()
            if self.cut is None:
                out = conn.data_to_send(now)
                if out:
                    self._io.write(out)
            self._arm()
        except Exception as exc:  # noqa: BLE001 - the core's or a callback's: the waiter's
            self._break(exc)

    def _break(self, exc: Exception) -> None:
        """The core (or ``on_event``) raised in a loop callback: nobody would see it there.
        The pump stops, and the waiter (now, or the next) gets the exception itself, as
        it would from a blocking driver's read."""
        self.cut = self.broken = exc
        self._io.close(wait=False)
        self._cancel_timer()
        self._fail(exc)

    def _on_error(self, exc: BaseException) -> None:
        if self.cut is not None:
            return
        self.cut = exc
        self._io.close()
        self._cancel_timer()
        with contextlib.suppress(Exception):   # the core may refuse use after an abort
            self.conn.receive_data(b"")
            while self.conn.next_event() is not NEED_DATA:
                pass
        self._fail(PumpCut(f"link cut: {exc}"))

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        if self.cut is not None:
            return
        try:
            due = self.conn.next_deadline()
            now = self.loop.time()
            if due is not None and now >= due - _CLOCK_SLACK_S:
                self.stats.timeouts_handled += 1
                self.conn.handle_timeout(max(now, due))
            self._after()
        except Exception as exc:  # noqa: BLE001 - as in _on_data
            self._break(exc)

    # --- the loop's work after each wake-up ----------------------------------------------

    def _after(self) -> None:
        self._deliver()
        self.flush()
        self._arm()

    def _deliver(self) -> None:
        """Hand events to the waiter, if there is one (else they wait in the core)."""
        next_event, fatal = self.conn.next_event, self.fatal   # (once a read: looked up once)
        while (waiter := self._waiter) is not None:
            event = next_event()
            if event is NEED_DATA:
                return
            predicate, future = waiter
            if predicate(event):
                self._resolve(future, event)
                return
            exc = fatal(event)
            if exc is not None:
                self._fail(exc)
                return
            if self.on_event is not None:
                self.on_event(event)

    def _resolve(self, future: asyncio.Future[Any], event: Any) -> None:
        self._waiter = None
        if not future.done():
            future.set_result(event)

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None:
            _, future = self._waiter
            self._waiter = None
            if not future.done():
                future.set_exception(exc)

    def _arm(self) -> None:
        """One loop timer, at or before the core's next deadline.

        Lazy: a deadline that moved *later* (a silence timer pushed out by every read
        on a busy line) keeps the timer already set; when it fires early, _on_timer()
        finds nothing due and sets it again for the new deadline. Only a deadline that
        moved earlier cancels it. Cancelling and setting a loop timer on every read
        was a third of the loop's work for a cradle trickling in 62-byte pieces.
        """
        due = None if self.cut is not None else self.conn.next_deadline()
        if due is None:
            return                     # a timer still set fires, finds nothing, stops
        at = self._timer_at
        if at is not None and at <= due + _CLOCK_SLACK_S:
            return
        self._cancel_timer()
        self._timer_at = due
        self._timer = self.loop.call_at(due, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None

    # --- the caller's side ---------------------------------------------------------------

    def flush(self, now: float | None = None) -> None:
        """Write everything the core has queued (``now``: the loop's clock, if just read)."""
        if self.cut is not None:
            return
        out = self.conn.data_to_send(self.loop.time() if now is None else now)
        if out:
            self._io.write(out)

    def _stopped(self) -> BaseException:
        """What a caller gets from a stopped pump: the core's own exception, or PumpCut."""
        if self.broken is not None:
            return self.broken
        return PumpCut(f"link cut: {self.cut}")

    def send(self, command: Any) -> None:
        """Give the core a command and write its bytes; PumpCut if the port is gone."""
        if self.cut is not None:
            raise self._stopped()
        now = self.loop.time()
        self.conn.send(command, now)
        self._io.hurry()
        self.flush(now)
        if self.cut is not None:
            raise self._stopped()
        self._arm()

    async def run_until(self, predicate: Callable[[Any], bool], deadline_s: float) -> Any:
        """The first event that satisfies ``predicate``; meanwhile ``on_event`` sees the
        others. Raises what ``fatal`` makes of an event, PumpCut when the port closes,
        PumpTimedOut when ``deadline_s`` seconds pass, and what the core raised if it did
        so on bytes read or a timer."""
        if self.cut is not None:
            raise self._stopped()
        if self._waiter is not None:
            raise RuntimeError("run_until is already waiting on this pump")
        future: asyncio.Future[Any] = self.loop.create_future()
        self._waiter = (predicate, future)
        expiry = self.loop.call_at(
            self.loop.time() + deadline_s, self._expire, future, deadline_s)
        try:
            self._deliver()      # events the core held since the last wait
            self.flush()
            self._arm()
            return await future
        finally:
            expiry.cancel()
            if self._waiter is not None and self._waiter[1] is future:
                self._waiter = None

    def _expire(self, future: asyncio.Future[Any], deadline_s: float) -> None:
        if self._waiter is not None and self._waiter[1] is future:
            self._fail(PumpTimedOut(f"no answer within {deadline_s:g} s"))

    @property
    def unsent(self) -> int:
        """Bytes the core gave that the port has not taken yet."""
        return self._io.unsent

    async def drain(self, deadline_s: float) -> bool:
        """Wait (at most ``deadline_s``) until the port took every byte written, so that
        a last frame is not lost at close; False if it did not, or the link is cut."""
        if self._io.unsent and self.cut is None:
            try:
                await asyncio.wait_for(self._io.drained(), deadline_s)
            except TimeoutError:
                return False
        return not self._io.unsent

    def close(self, wait: bool = True) -> None:
        """Stop watching the port (the caller closes the port itself). ``wait=False``
        returns at once, for a loop serving other ports: call ``join_reader`` off the
        loop before closing the port."""
        if self.cut is None:
            self.cut = PumpCut("pump closed")
        self._io.close(wait)
        self._cancel_timer()
        self._fail(PumpCut("link cut: pump closed"))

    def join_reader(self) -> None:
        """Blocks until a reader thread (if any) has stopped; safe from any thread."""
        if isinstance(self._io, _ThreadTransport):
            self._io.join()
