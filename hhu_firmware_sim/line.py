"""A serial line in a TCP relay: baud-rate pacing, latency, bit errors, cable cuts.

Each direction has a reader (timestamps what arrives, applies bit errors) and a
writer that releases bytes on an absolute schedule: a byte finishes on the wire at
``t_line = max(t_line, t_arrival) + 1/rate`` and reaches the far end ``latency``
later. Because the schedule is absolute (``time.monotonic``), sleep overshoot never
accumulates, so the long-run rate is exact. Rate is ``baud / 10`` bytes per second
(8N1 framing); ``baud=0`` means unpaced.

Bounded: each direction queues at most ``max_queued`` bytes (then its reader stops
reading, so TCP back-pressure reaches the sender, as flow control would), and when the
far end (the target) hangs up the whole session ends, so a client that stays connected,
silent, cannot keep the next docking off the line.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field

from hhu_firmware_sim.faults import BitFlipper, ByteBudget

_POLL_S = 0.1          # how often blocked threads look at the stop flag
_PIECE_S = 0.002       # pacing granularity: bytes released per step = rate * this
_MAX_SLEEP_S = 0.05
_READ = 65536          # one recv; a direction holds at most max_queued + this


class _Queue:
    """One direction's bytes in flight: (arrival, data or None at the end), counted."""

    def __init__(self) -> None:
        self.items: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.cond = threading.Condition()
        self.queued = 0


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
    up: DirectionStats = field(default_factory=DirectionStats)    # client -> target
    down: DirectionStats = field(default_factory=DirectionStats)  # target -> client


class _Session:
    """One client connection relayed to one target connection."""

    def __init__(self, line: LineSim, client: socket.socket, target: socket.socket,
                 index: int) -> None:
        self.line = line
        self.sockets = (client, target)
        for s in self.sockets:
            s.settimeout(_POLL_S)   # readers wake to see the stop flag
        self.budget = ByteBudget(line.cut_after)
        self.closed = threading.Event()
        self._lock = threading.Lock()
        seed = None if line.seed is None else f"{line.seed}/{index}"
        self.threads = []
        for name, src, dst, stats in (("up", client, target, line.stats.up),
                                      ("down", target, client, line.stats.down)):
            flip = BitFlipper(line.ber, None if seed is None else f"{seed}/{name}")
            queue = _Queue()
            self.threads.append(threading.Thread(
                target=self._reader, args=(src, flip, queue, stats),
                name=f"line-{name}-rx", daemon=True))
            self.threads.append(threading.Thread(
                target=self._writer, args=(dst, queue, stats, name == "down"),
                name=f"line-{name}-tx", daemon=True))

    def run(self) -> None:
        for t in self.threads:
            t.start()
        if self.budget.limit == 0:
            self.cut()
        for t in self.threads:
            t.join()
        self.close()

    def _stopping(self) -> bool:
        return self.closed.is_set() or self.line._stop.is_set()

    def _reader(self, src: socket.socket, flip: BitFlipper, q: _Queue,
                stats: DirectionStats) -> None:
        queue, cond = q.items, q.cond
        while not self._stopping():
            with cond:
                if q.queued >= self.line.max_queued:
                    cond.wait(_POLL_S)      # full: stop reading until the writer drains
                    continue
            try:
                data = src.recv(_READ)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            now = time.monotonic()
            with cond:
                if data:
                    stats.bytes_in += len(data)
                    before = flip.flips
                    queue.append((now, flip(data)))
                    q.queued += len(data)
                    stats.peak_queued = max(stats.peak_queued, q.queued)
                    stats.bit_flips += flip.flips - before
                else:
                    queue.append((now, None))  # end of stream
                cond.notify_all()
            if not data:
                return

    def _writer(self, dst: socket.socket, q: _Queue, stats: DirectionStats,
                far_end: bool) -> None:
        """``far_end``: this direction comes from the target; its end ends the session."""
        queue, cond = q.items, q.cond
        rate = self.line.baud / 10.0
        latency = self.line.latency_ms / 1000.0
        piece = max(1, int(rate * self.line.piece_s)) if rate > 0 else 1 << 16
        t_line = 0.0
        while not self._stopping():
            with cond:
                if not queue:
                    cond.wait(_POLL_S)
                    continue
                arrived, data = queue.popleft()
                q.queued -= len(data) if data else 0
                cond.notify_all()
            if data is None:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                if far_end:
                    self.close()        # the device hung up: the cable is free again
                return
            for start in range(0, len(data), piece):
                chunk = data[start:start + piece]
                if rate > 0:
                    t_line = max(t_line, arrived) + len(chunk) / rate
                    due = t_line + latency
                else:
                    due = arrived + latency
                if not self._sleep_until(due):
                    return
                allowed = self.budget.take(len(chunk))
                try:
                    if allowed:
                        dst.sendall(chunk[:allowed])
                        stats.bytes_out += allowed
                except OSError:
                    self.close()
                    return
                if self.budget.cut:
                    self.cut()
                    return

    def _sleep_until(self, due: float) -> bool:
        while (left := due - time.monotonic()) > 0:
            if self._stopping():
                return False
            time.sleep(min(left, _MAX_SLEEP_S))
        return not self._stopping()

    def cut(self) -> None:
        """Pull the cable: both ends see the connection close."""
        with self._lock:
            if self.closed.is_set():
                return
            self.line.stats.cuts += 1
        self.close()

    def close(self) -> None:
        with self._lock:
            self.closed.set()
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()


class LineSim:
    """A paced, lossy TCP relay; ``start()``/``stop()`` to run it in-process.

    Serves one client at a time (a cradle has one cable), repeatedly, each with a
    fresh connection to ``target`` and a fresh cut-after budget.
    """

    def __init__(self, target: tuple[str, int], *, listen: tuple[str, int] = ("127.0.0.1", 0),
                 baud: int = 115200, ber: float = 0.0, latency_ms: float = 0.0,
                 cut_after: int | None = None, seed: int | None = None,
                 piece_ms: float = _PIECE_S * 1000, max_queued: int = 1 << 20) -> None:
        if baud < 0:
            raise ValueError("baud must be >= 0 (0 = unpaced)")
        if latency_ms < 0:
            raise ValueError("latency must be >= 0")
        BitFlipper(ber)  # validate early
        self.target = target
        self.baud = baud
        self.ber = ber
        self.latency_ms = latency_ms
        self.cut_after = cut_after
        self.seed = seed
        if piece_ms <= 0:
            raise ValueError("piece_ms must be > 0")
        self.piece_s = piece_ms / 1000.0   # bytes arrive in pieces of rate * piece_s
        if max_queued < 1:
            raise ValueError("max_queued must be >= 1")
        self.max_queued = max_queued
        self.stats = LineStats()
        self._stop = threading.Event()
        self._server = socket.create_server(listen)
        self._server.settimeout(_POLL_S)
        self.address: tuple[str, int] = self._server.getsockname()[:2]
        self._thread: threading.Thread | None = None
        self._session: _Session | None = None

    @property
    def url(self) -> str:
        """The ``socket://`` URL a driver opens to go through this line."""
        return f"socket://{self.address[0]}:{self.address[1]}"

    def start(self) -> LineSim:
        """Accept and relay in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="line-accept",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Relay clients one after another until ``stop()``."""
        index = 0
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                target = socket.create_connection(self.target, timeout=5.0)
            except OSError:
                client.close()
                continue
            target.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.stats.sessions += 1
            self._session = _Session(self, client, target, index)
            index += 1
            self._session.run()
            self._session = None

    def stop(self) -> None:
        """Stop accepting, close any session, wait for the threads."""
        self._stop.set()
        session = self._session
        if session is not None:
            session.close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        with contextlib.suppress(OSError):
            self._server.close()

    def __enter__(self) -> LineSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
