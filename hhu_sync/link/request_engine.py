"""The dock's request engine: one request outstanding, resent on silence, BUSY bounded.

A request waits for its answer under two timers (timers.py): ``req`` resends it after
``ack_timeout`` of silence (up to ``retry_limit`` times in a row), and ``answer`` bounds
the whole wait by the clock (``idle_timeout``), so bytes that are no answer (junk on the
line) cannot hold it open. An HHU that answers BUSY works on it (a verdict it must think
about): the resends go on, each one a new allowance, but the wait for the verdict is bound
by ``idle_timeout`` from the first BUSY (BUSY_LIMIT). Request ids count 1..255, 0, 1, ...
"""

from __future__ import annotations

from collections.abc import Callable

from . import messages as m
from .events import LinkSettings, LinkStats
from .reasons import ReasonCode
from .timers import Timers

__all__ = ["RequestEngine"]


class RequestEngine:
    """The request outstanding (``req``, None when none is) and its retries."""

    __slots__ = ("_settings", "_timers", "_stats", "_emit", "_emit_again", "_timed_out",
                 "_last_id", "req", "name", "_frame", "_retries", "_busy_wait")

    def __init__(
        self,
        settings: LinkSettings,
        timers: Timers,
        stats: LinkStats,
        *,
        emit: Callable[[bytes], bytes],
        emit_again: Callable[[bytes], None],
        timed_out: Callable[[str, ReasonCode], None],
    ) -> None:
        self._settings = settings
        self._timers = timers
        self._stats = stats
        self._emit = emit              # frame a body, queue it; returns the frame
        self._emit_again = emit_again  # queue a frame once more
        self._timed_out = timed_out    # give up (ends the connection)
        self._last_id = 0
        self.req: int | None = None
        self.name = ""
        self._frame = b""
        self._retries = 0
        self._busy_wait: float | None = None   # seconds of BUSY resends so far

    @property
    def next_id(self) -> int:
        """The id the next request will carry."""
        return (self._last_id + 1) & 0xFF

    def send(self, make: Callable[[int], m.Message]) -> bytes:
        """Send the request ``make(id)`` (its id the next one); returns its body."""
        req = self._last_id = self.next_id
        msg = make(req)
        body = msg.encode()
        self.req = req
        self.name = msg.NAME
        self._frame = self._emit(body)
        self._retries = 0
        self._busy_wait = None
        s = self._settings
        timers = self._timers
        timers.set("req", s.ack_timeout)
        timers.set("answer", s.idle_timeout)
        timers.cancel("keepalive")   # a request in flight is sign of life enough
        return body

    def on_busy(self) -> None:
        """The HHU answered BUSY: it works on the request."""
        if self._busy_wait is None:
            self._busy_wait = 0.0
            s = self._settings
            # the BUSY bound (idle_timeout) starts now
            self._timers.set("answer", s.idle_timeout + s.ack_timeout)
        self._retries = 0

    def answered(self) -> None:
        """The answer to the outstanding request came."""
        self.req = None
        self._timers.cancel("req")
        self._timers.cancel("answer")

    def resend(self) -> None:
        """Send the outstanding request again (its answer was lost), or give up."""
        self._retries += 1
        if self._retries > self._settings.retry_limit:
            self._timed_out(f"answer to {self.name}", ReasonCode.TIMED_OUT)
            return
        self._stats.retries += 1
        self._emit_again(self._frame)
        self._timers.set("req", self._settings.ack_timeout)

    def on_req_timer(self) -> None:
        if self.req is None:
            return
        if self._busy_wait is not None:  # the HHU said BUSY: bounded by idle_timeout
            s = self._settings
            self._busy_wait += s.ack_timeout
            if self._busy_wait > s.idle_timeout:
                self._timed_out(f"answer to {self.name}", ReasonCode.BUSY_LIMIT)
                return
            self._retries = 0
        self.resend()

    def on_answer_timer(self) -> None:
        if self.req is not None:
            busy = self._busy_wait is not None   # answered BUSY, then never the verdict
            self._timed_out(f"answer to {self.name}",
                            ReasonCode.BUSY_LIMIT if busy else ReasonCode.TIMED_OUT)
