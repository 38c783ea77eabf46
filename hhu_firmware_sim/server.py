"""Serve a simulated HHU on a TCP port or a pty, one docking at a time, repeatedly.

Each docking gets a fresh device session (fresh RAM state); the flash carries over,
exactly as when a real HHU is lifted out of the cradle and docked again. Every session
is a coroutine on the process's one simulator loop (``simloop``), so many HHUs cost
one thread.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import tty
from collections.abc import Callable

from hhu_firmware_sim import simloop
from hhu_firmware_sim.device import Faults, SessionResult, SimulatedHHU
from hhu_firmware_sim.ports import FdLine, SocketLine
from hhu_firmware_sim.serving import SocketServer

_STOP_WAIT_S = 5.0


class DeviceServer:
    """A simulated HHU behind a listening TCP socket; ``start()``/``stop()`` in-process.

    One dock at a time (a cradle has one cable): the next connection waits in the
    backlog until this docking ends. ``faulty_sessions`` limits the device's faults to
    the first N sessions (None = all), so a bench or test can cut the first docking and
    let the retry through.
    """

    def __init__(self, device: SimulatedHHU, listen: tuple[str, int] = ("127.0.0.1", 0), *,
                 on_session: Callable[[SessionResult], None] | None = None,
                 faulty_sessions: int | None = None) -> None:
        self.device = device
        self.on_session = on_session
        self.faulty_sessions = faulty_sessions
        self.sessions: list[SessionResult] = []
        self._server = SocketServer(self._dock, listen, max_connections=1)
        self.address: tuple[str, int] = self._server.address

    @property
    def url(self) -> str:
        """``socket://`` URL of this HHU."""
        return self._server.url

    async def _dock(self, sock: socket.socket) -> None:
        await self.device.serve(SocketLine(sock), on_end=self._session_done)

    async def pair(self) -> socket.socket:
        """A docking over an in-process socket pair instead of TCP (on the simulator
        loop): the dock's end, served as the next docking once the cradle is free. A
        line in the same process reaches the HHU this way for the cost of a pipe."""
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        theirs.setblocking(False)
        await self._server.adopt(ours)
        return theirs

    def _session_done(self, result: SessionResult) -> None:
        self.sessions.append(result)
        if self.faulty_sessions is not None and len(self.sessions) >= self.faulty_sessions:
            self.device.faults = Faults()
        if self.on_session is not None:
            self.on_session(result)

    def start(self) -> DeviceServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> DeviceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def open_pty() -> tuple[int, int, str]:
    """A raw pty: (master fd, slave fd, slave path). Raw so no byte is translated."""
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


async def serve_pty_sessions(device: SimulatedHHU, master: int,
                             on_session: Callable[[SessionResult], None] | None = None
                             ) -> None:
    """Sessions on a pty master, one after another, until cancelled.

    We keep the slave open ourselves so the path stays valid between docks; a session
    therefore ends by the protocol (close, abort) or by the device's idle limit.
    """
    while True:
        await device.serve(FdLine(master), on_end=on_session)
        await asyncio.sleep(0)     # a session that ended at once must not starve the loop


def serve_pty(device: SimulatedHHU, master: int, stop: threading.Event,
              on_session: Callable[[SessionResult], None] | None = None) -> None:
    """Run sessions on a pty master (on the simulator loop) until ``stop`` is set."""
    ended = threading.Event()

    async def run() -> None:
        try:
            await serve_pty_sessions(device, master, on_session)
        finally:
            ended.set()

    future = simloop.submit(run())
    stop.wait()
    future.cancel()
    ended.wait(_STOP_WAIT_S)     # the session let go of the pty: the caller may close it
