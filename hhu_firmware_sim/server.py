"""Serve a simulated HHU on a TCP port or a pty, one docking at a time, repeatedly.

Each docking gets a fresh device session (fresh RAM state); the flash carries over,
exactly as when a real HHU is lifted out of the cradle and docked again.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import tty
from collections.abc import Callable

from hhu_firmware_sim.device import Faults, SessionResult, SimulatedHHU
from hhu_firmware_sim.ports import FdPort, SocketPort

_ACCEPT_POLL_S = 0.2


class DeviceServer:
    """A simulated HHU behind a listening TCP socket; ``start()``/``stop()`` in-process.

    ``faulty_sessions`` limits the device's faults to the first N sessions (None = all),
    so a bench or test can cut the first docking and let the retry through.
    """

    def __init__(self, device: SimulatedHHU, listen: tuple[str, int] = ("127.0.0.1", 0), *,
                 on_session: Callable[[SessionResult], None] | None = None,
                 faulty_sessions: int | None = None) -> None:
        self.device = device
        self.on_session = on_session
        self.faulty_sessions = faulty_sessions
        self.sessions: list[SessionResult] = []
        self._stop = threading.Event()
        self._server = socket.create_server(listen)
        self._server.settimeout(_ACCEPT_POLL_S)
        self.address: tuple[str, int] = self._server.getsockname()[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``socket://`` URL of this HHU."""
        return f"socket://{self.address[0]}:{self.address[1]}"

    def _session_done(self, result: SessionResult) -> None:
        self.sessions.append(result)
        if self.faulty_sessions is not None and len(self.sessions) >= self.faulty_sessions:
            self.device.faults = Faults()
        if self.on_session is not None:
            self.on_session(result)

    def serve_forever(self) -> None:
        """Accept docks one after another until ``stop()``."""
        while not self._stop.is_set():
            try:
                sock, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            result = self.device.run_session(SocketPort(sock), stop=self._stop)
            self._session_done(result)

    def start(self) -> DeviceServer:
        self._thread = threading.Thread(target=self.serve_forever, name="hhu-serve",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        with contextlib.suppress(OSError):
            self._server.close()

    def __enter__(self) -> DeviceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def open_pty() -> tuple[int, int, str]:
    """A raw pty: (master fd, slave fd, slave path). Raw so no byte is translated."""
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


def serve_pty(device: SimulatedHHU, master: int, stop: threading.Event,
              on_session: Callable[[SessionResult], None] | None = None) -> None:
    """Run sessions on a pty master until ``stop`` is set.

    We keep the slave open ourselves so the path stays valid between docks; a session
    therefore ends by the protocol (close, abort) or by the device's idle limit.
    """
    port = FdPort(master)
    while not stop.is_set():
        result = device.run_session(port, stop=stop)
        if on_session is not None:
            on_session(result)
