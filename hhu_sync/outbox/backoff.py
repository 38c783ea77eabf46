"""Back off while storage is unavailable: retry later and later, say so once.

With the disk full, every deferred file used to be read, checked and sealed again every
0.2 s, each attempt an error line: 230 files took 1.4 cores and wrote 6 lines a second.
Now the first failure starts a wait of :attr:`Backoff.first` seconds, doubled at each
failure up to :attr:`Backoff.cap`; until it is over no file is examined at all. One log
line says storage went away, one says it came back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("hhu_sync.outbox")


class Backoff:
    """The storage's state as the outbox last saw it; the clock is injected."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, first: float = 0.5,
                 cap: float = 30.0) -> None:
        self.clock = clock
        self.first = first
        self.cap = cap
        self.down = False
        self.delay = 0.0
        self.next_at = 0.0
        self.failures = 0       # attempts that failed (all time)
        self.outages = 0
        self._this_outage = 0

    def allowed(self) -> bool:
        """Whether to try the storage now (always, unless it failed and the wait is on)."""
        return not self.down or self.clock() >= self.next_at

    def retry_in(self) -> float:
        """Seconds until the next attempt is allowed (0 when up)."""
        return max(0.0, self.next_at - self.clock()) if self.down else 0.0

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        self._this_outage += 1
        if not self.down:
            self.down, self.delay = True, self.first
            self.outages += 1
            log.error("outbox: storage unavailable (%s); files stay in the outbox, tried "
                      "again after a wait that doubles up to %g s", exc, self.cap)
        else:
            self.delay = min(self.cap, self.delay * 2)
        self.next_at = self.clock() + self.delay

    def retry_now(self) -> None:
        """The storage is known to be back (the store opened): the next attempt now."""
        self.next_at = 0.0

    def succeeded(self) -> None:
        if self.down:
            log.warning("outbox: storage available again after %d failed attempts",
                        self._this_outage)
            self.down, self.delay, self._this_outage = False, 0.0, 0
