"""Serve simulated meters over TCP, carrying what the optical port carries (7-bit bytes).

One thread accepts; each client connection gets its own session thread. Bounded waits
everywhere, so ``stop()`` returns promptly. Wall-clock time is used only for socket
time-outs and the injected reaction delay, never for the meters' registers (their time
moves only when the caller advances it, or with ``time_scale``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from hhu_firmware_sim.meter.fleet import Fleet
from hhu_firmware_sim.meter.meter import SimMeter
from hhu_firmware_sim.meter.session import MeterSession, Quirks

_POLL_S = 0.2


class MeterServer:
    """A meter (or a fleet keyed by device address / serial) behind a listening socket."""

    def __init__(self, meters: Fleet | SimMeter, listen: tuple[str, int] = ("127.0.0.1", 0),
                 *, quirks: Quirks | None = None, idle_timeout: float = 5.0,
                 time_scale: float | None = None) -> None:
        self.fleet = meters if isinstance(meters, Fleet) else Fleet([meters])
        self.quirks = quirks if quirks is not None else self.fleet.quirks
        self.idle_timeout = idle_timeout
        self.time_scale = time_scale
        self.sessions: list[MeterSession] = []
        self._lock = threading.Lock()  # one session touches the meters at a time
        self._stop = threading.Event()
        self._server = socket.create_server(listen)
        self._server.settimeout(_POLL_S)
        self.address: tuple[str, int] = self._server.getsockname()[:2]
        self._threads: list[threading.Thread] = []
        self._last_tick = time.monotonic()

    @property
    def url(self) -> str:
        return f"socket://{self.address[0]}:{self.address[1]}"

    def start(self) -> MeterServer:
        thread = threading.Thread(target=self._accept_loop, name="meter-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=5.0)
        with contextlib.suppress(OSError):
            self._server.close()

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

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(sock,), name="meter-session",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket) -> None:
        session = MeterSession(self.fleet.find, self.quirks)
        self.sessions.append(session)
        sock.settimeout(_POLL_S)
        idle = 0.0
        with sock:
            while not self._stop.is_set():
                try:
                    data = sock.recv(4096)
                except TimeoutError:
                    idle += _POLL_S
                    if idle >= self.idle_timeout:
                        with self._lock:
                            session.timeout()
                        idle = 0.0
                    continue
                except OSError:
                    return
                if not data:
                    return
                idle = 0.0
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
                    return
