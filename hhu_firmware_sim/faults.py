"""Line faults shared by the line simulator and the simulated HHU: bit errors and cuts.

Both are deterministic for a given seed so a failing test or bench run can be replayed.
"""

from __future__ import annotations

import math
import random
import threading


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
