"""Serve simulated meters over TCP, carrying what the optical port carries (7-bit bytes).

Served by the simulator's one socket server (``serving.SocketServer``): accepting runs on
the simulator loop, and each connection's session, written against a blocking socket,
runs in a worker thread. Bounded waits everywhere, so ``stop()`` returns promptly.

A connection holds the meter only while its peer sends valid requests that move the
session on: after ``idle_timeout`` without one (junk, corrupt blocks, NAKs and repeats
do not count) the session drops back to waiting for a sign-on and the connection is
closed. Each connection's input is bounded (the
framer's block limit), and at most ``max_connections`` are served at once: one more is,
by ``busy``, answered with a break (``SOH B0 ETX``) and closed (``"break"``, a meter's
own port), closed without a byte (``"close"``, a modem, gateway or bus that is taken;
after ``busy_grace_s``, so a client that hangs up and calls again at once is not turned
away while the server is still seeing the hang-up), or left in the listen backlog until
a connection ends (``"queue"``, behind a line that does the refusing). Wall-clock time
is used only for socket time-outs and the injected reaction delay, never for the meters'
registers (their time moves only when the caller advances it, or with ``time_scale``).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

from hhu_firmware_sim.meter.fleet import Fleet
from hhu_firmware_sim.meter.meter import SimMeter
from hhu_firmware_sim.meter.session import MeterSession, Quirks
from hhu_firmware_sim.serving import SocketServer
from hhu_sync.iec62056 import MeterSettings
from hhu_sync.iec62056.frames import encode_command

_POLL_S = 0.2
#: Longest block a meter accepts (a W1 of one table row is far shorter); also bounds the
#: bytes a connection may leave unprocessed (the framer's buffer, about twice this).
MAX_BLOCK = 4096
REFUSAL = encode_command("B0")
BUSY_MODES = ("break", "close", "queue")

log = logging.getLogger(__name__)


class Peer(Protocol):
    """What a session needs of a connected socket (a fake in tests)."""

    def settimeout(self, value: float | None) -> None: ...
    def recv(self, size: int) -> bytes: ...
    def sendall(self, data: bytes) -> None: ...
    def close(self) -> None: ...


class MeterServer:
    """A meter (or a fleet keyed by device address / serial) behind a listening socket."""

    def __init__(self, meters: Fleet | SimMeter, listen: tuple[str, int] = ("127.0.0.1", 0),
                 *, quirks: Quirks | None = None, idle_timeout: float = 5.0,
                 time_scale: float | None = None, max_connections: int = 8,
                 max_block: int = MAX_BLOCK, busy: str = "break",
                 busy_grace_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if busy not in BUSY_MODES:
            raise ValueError(f"busy must be one of {', '.join(BUSY_MODES)}, got {busy!r}")
        self.busy = busy
        self.fleet = meters if isinstance(meters, Fleet) else Fleet([meters])
        self.quirks = quirks if quirks is not None else self.fleet.quirks
        self.idle_timeout = idle_timeout
        self.time_scale = time_scale
        self.max_connections = max_connections
        self.settings = MeterSettings(max_block=max_block)
        self.clock = clock
        self.sessions: collections.deque[MeterSession] = collections.deque(maxlen=64)
        self.refused = 0
        self.idle_closed = 0
        self._lock = threading.Lock()  # one session touches the meters at a time
        self._stop = threading.Event()
        self._server = SocketServer(self._serve, listen, max_connections=max_connections,
                                    refuse=None if busy == "queue" else self._refuse,
                                    blocking=True, refuse_grace_s=busy_grace_s)
        self.address: tuple[str, int] = self._server.address
        self._last_tick = time.monotonic()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def active(self) -> int:
        """Connections being served now."""
        return self._server.active

    def start(self) -> MeterServer:
        self._stop.clear()
        self._server.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.stop()

    def __enter__(self) -> MeterServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick(self) -> None:
        """With ``time_scale``, let the meters' clocks follow the wall clock (CLI use)."""
        if self.time_scale is None:
            return
        now = time.monotonic()
        elapsed, self._last_tick = now - self._last_tick, now
        self.fleet.advance(elapsed * self.time_scale)

    def _refuse(self, sock: socket.socket, peer: object) -> None:
        """Over the cap: a break (the meter ends the session), or nothing (``busy =
        "close"``), and the connection closed."""
        self.refused += 1
        log.warning("meter server: refused a connection from %s: %d already served "
                    "(max_connections)", peer, self.max_connections)
        if self.busy == "close":
            return
        with sock, contextlib.suppress(OSError):
            sock.settimeout(_POLL_S)
            sock.sendall(REFUSAL)

    def _serve(self, sock: socket.socket) -> None:
        self.serve_connection(sock)

    def serve_connection(self, sock: Peer) -> str:
        """Serve one connection until it ends; returns why (``eof``, ``idle``, ``stop``,
        ``error``). The idle limit counts from the last message that moved the session
        on, on ``clock``, whatever bytes arrive in between."""
        session = MeterSession(self.fleet.find, self.quirks, self.settings)
        self.sessions.append(session)
        sock.settimeout(_POLL_S)
        last_step, progress = self.clock(), session.progress
        while not self._stop.is_set():
            try:
                data = sock.recv(4096)
            except TimeoutError:
                data = None
            except OSError:
                return "error"
            if data == b"":
                return "eof"
            if data:
                try:
                    if self.quirks.echo:
                        sock.sendall(data)
                    with self._lock:
                        self._tick()
                        reply = session.receive(data)
                    if reply:
                        if self.quirks.reaction_s:
                            self._stop.wait(self.quirks.reaction_s)
                        sock.sendall(reply)
                except OSError:
                    return "error"
            now = self.clock()
            if session.progress != progress:
                last_step, progress = now, session.progress
            elif now - last_step >= self.idle_timeout:
                with self._lock:
                    session.timeout()
                self.idle_closed += 1
                return "idle"
        return "stop"
