"""Byte transports for the IEC 62056-21 driver: a pyserial port, or anything alike.

Why a tiny protocol instead of a port object: the same driver then runs over a real
optical probe, ``socket://`` to a meter server, or (in the HHU simulator) straight into
a simulated meter in the same process, with no sockets and no sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

#: Longest a single pyserial read may block; the driver's waits are built from these.
READ_SLICE_S = 0.05
_CHUNK = 4096


class Transport(Protocol):
    """What :class:`~hhu_sync.meterio.client.MeterClient` needs from a line."""

    def write(self, data: bytes) -> None:
        """Send ``data`` and return once it is handed to the line."""

    def read(self, timeout: float) -> bytes:
        """What arrives within ``timeout`` seconds (returns as soon as anything does)."""

    def set_baud(self, baud: int) -> None:
        """Switch the line speed, after everything written so far is out."""

    def pause(self, seconds: float) -> None:
        """Wait (the reaction time before answering the meter)."""


class SerialTransport:
    """A pyserial port (``serial_for_url``) as a :class:`Transport`, every read bounded."""

    def __init__(self, port: Any, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if port.timeout is None or port.timeout > READ_SLICE_S:
            port.timeout = READ_SLICE_S   # never block longer than a slice
        self.port = port
        self._clock = clock
        self._sleep = sleep
        self.baud_switches = 0
        #: bytes the meter sent so far: a line lost after some was lost mid-conversation
        self.bytes_received = 0

    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def read(self, timeout: float) -> bytes:
        deadline = self._clock() + max(0.0, timeout)
        while True:
            waiting = self.port.in_waiting
            data = self.port.read(max(1, min(waiting, _CHUNK)))
            if data:
                self.bytes_received += len(data)
                return bytes(data)
            if self._clock() >= deadline:
                return b""

    def set_baud(self, baud: int) -> None:
        """Flush first: the option-select ACK must leave at the old rate."""
        self.port.flush()
        if self.port.baudrate != baud:
            self.port.baudrate = baud
            self.baud_switches += 1

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)
