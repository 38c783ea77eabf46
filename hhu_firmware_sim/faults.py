"""Line faults shared by the line simulator and the simulated HHU: bit errors and cuts.

Both are deterministic for a given seed so a failing test or bench run can be replayed.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping


class BitFlipper:
    """Flips each bit independently with probability ``ber``.

    Why geometric gaps instead of a draw per bit: at BER 1e-5 a per-bit draw costs
    eight random numbers per byte for nothing; the gap to the next error is one draw.
    """

    def __init__(self, ber: float, seed: int | str | None = None) -> None:
        if not 0.0 <= ber < 1.0:
            raise ValueError(f"bit error rate must be in [0, 1), got {ber}")
        self.ber = ber
        self.flips = 0
        self._rng = random.Random(seed)
        self._bit_pos = 0
        self._next_error = self._gap() if ber > 0 else math.inf

    def _gap(self) -> int:
        u = 1.0 - self._rng.random()  # in (0, 1]
        return 1 + int(math.log(u) / math.log1p(-self.ber))

    def __call__(self, data: bytes) -> bytes:
        """Return ``data`` with this stretch of the line's bit errors applied."""
        end = self._bit_pos + 8 * len(data)
        if self._next_error >= end:
            self._bit_pos = end
            return data
        buf = bytearray(data)
        while self._next_error < end:
            off = int(self._next_error - self._bit_pos)
            buf[off >> 3] ^= 1 << (off & 7)
            self.flips += 1
            self._next_error += self._gap()
        self._bit_pos = end
        return bytes(buf)


class ByteBudget:
    """Counts bytes across a link (both directions) and says when to cut it.

    ``take(n)`` returns how many of ``n`` bytes may still pass; once the budget is
    spent, ``cut`` is True. ``limit=None`` never cuts. Thread-safe: both directions
    of a relay share one budget.
    """

    def __init__(self, limit: int | None) -> None:
        if limit is not None and limit < 0:
            raise ValueError("cut-after must be >= 0")
        self.limit = limit
        self.passed = 0
        self._lock = threading.Lock()

    @property
    def cut(self) -> bool:
        """True once ``limit`` bytes have passed."""
        return self.limit is not None and self.passed >= self.limit

    def take(self, n: int) -> int:
        """Let up to ``n`` bytes pass; returns how many may."""
        with self._lock:
            if self.limit is None:
                self.passed += n
                return n
            allowed = max(0, min(n, self.limit - self.passed))
            self.passed += allowed
            return allowed


class DropPlan:
    """Which sessions of a line are dropped (the connection closed mid-transfer), and
    after how many bytes: ``scheduled`` {session index: bytes} first, then ``every``
    (each session, the old ``cut_after``), then a draw with probability ``chance`` of a
    point in 1..``within`` bytes. Why per session and seeded by its index: a reconnect
    is a new session with its own fate, and a test replays the same drops."""

    def __init__(self, scheduled: Mapping[int, int] | None = None, *,
                 every: int | None = None, chance: float = 0.0, within: int = 4096,
                 seed: int | str | None = None) -> None:
        self.scheduled = dict(scheduled or {})
        for index, after in self.scheduled.items():
            if index < 0 or after < 0:
                raise ValueError(f"drop {index}:{after}: session and bytes must be >= 0")
        if every is not None and every < 0:
            raise ValueError("cut-after must be >= 0")
        if not 0.0 <= chance <= 1.0:
            raise ValueError(f"drop chance must be in [0, 1], got {chance}")
        if within < 1:
            raise ValueError("drop-within must be >= 1 byte")
        self.every, self.chance, self.within, self.seed = every, chance, within, seed

    def limit(self, session: int) -> int | None:
        """Bytes session ``session`` may carry before it is dropped (None: never)."""
        if session in self.scheduled:
            return self.scheduled[session]
        if self.every is not None:
            return self.every
        if self.chance <= 0.0:
            return None
        rng = random.Random(None if self.seed is None else f"{self.seed}/drop/{session}")
        if rng.random() < self.chance:
            return rng.randint(1, self.within)
        return None
