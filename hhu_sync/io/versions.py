"""Which link protocol version a dock offers on each cradle.

An HHU whose firmware takes only a version-1 HELLO aborts a version-2 one; the dock then
falls back to version 1 (docs/link-protocol.md section 4). Remembering that per cradle
spares every later docking a second handshake; the memory is bounded in time and in
dockings, so an HHU upgraded to version-2 firmware is offered version 2 again soon.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from hhu_sync.link.messages import MIN_PROTOCOL_VERSION, PROTOCOL_VERSION


@dataclass
class _Fallback:
    since: float       # clock() when the fallback happened
    dockings: int = 0  # dockings that used it since


class VersionMemory:
    """Per cradle: offer version 1 for a while after a fallback, else the highest."""

    def __init__(self, hold_s: float = 24 * 3600.0, max_dockings: int = 20, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hold_s = hold_s
        self.max_dockings = max_dockings
        self.clock = clock
        #: fallbacks that happened (a counter for status and tests), per cradle
        self.fallbacks: dict[str, int] = {}
        self._held: dict[str, _Fallback] = {}
        self._lock = threading.Lock()   # the manager's sessions run in a thread pool

    def offer(self, cradle: str) -> int:
        """The version to offer in this docking's HELLO: 1 while a fallback is remembered
        (each call is one docking), the highest once it expired (a re-probe)."""
        with self._lock:
            held = self._held.get(cradle)
            if held is None:
                return PROTOCOL_VERSION
            if (self.clock() - held.since >= self.hold_s
                    or held.dockings >= self.max_dockings):
                del self._held[cradle]
                return PROTOCOL_VERSION
            held.dockings += 1
            return MIN_PROTOCOL_VERSION

    def fell_back(self, cradle: str) -> None:
        """The HHU on ``cradle`` refused a higher version; remember it from now on."""
        with self._lock:
            self.fallbacks[cradle] = self.fallbacks.get(cradle, 0) + 1
            self._held[cradle] = _Fallback(self.clock())

    def remembered(self, cradle: str) -> bool:
        with self._lock:
            return cradle in self._held
