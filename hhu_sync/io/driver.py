"""The pump between a serial port and a sans-IO link ``Connection``.

The link core never touches the port or the clock; this loop does both, and nothing
else: write what the core wants sent, read with a bounded time-out, tell the core when
its timer ran out, hand events to the caller. Every wait is bounded by the caller's
deadline, so ``run_until`` always returns or raises within it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial

from hhu_sync.errors import HhuSyncError
from hhu_sync.link import NEED_DATA, Aborted, ConnectionClosed, LinkError, ReasonCode, TimedOut

IDLE_POLL_S = 0.5      # read wait while the core has no timer running
READ_CHUNK = 65536     # most bytes taken from the port per read
_CLOCK_SLACK_S = 1e-3  # a read may wake a hair early; still counts as the full wait


class LinkDriverError(HhuSyncError):
    """The link stopped before the awaited event."""


class LinkCut(LinkDriverError):
    """The port closed or hit end of stream (cable pulled, HHU gone)."""


class LinkTimedOut(LinkDriverError):
    """The caller's deadline passed, or the core gave up waiting after its retries."""


class LinkAborted(LinkDriverError):
    """The link was aborted (authentication failure, protocol error, peer abort)."""

    def __init__(self, reason: str, by_peer: bool,
                 code: ReasonCode = ReasonCode.UNSPECIFIED) -> None:
        super().__init__(f"aborted by {'the HHU' if by_peer else 'us'}: {reason}")
        self.reason = reason        # for people
        self.by_peer = by_peer
        self.code = code            # what callers decide by


class LinkClosed(LinkDriverError):
    """The peer closed the link cleanly while we still waited for something."""


@dataclass
class DriverStats:
    """Port-level counters (the core keeps the frame-level ones)."""

    bytes_written: int = 0
    bytes_read: int = 0
    reads: int = 0
    empty_reads: int = 0
    timeouts_handled: int = 0


class LinkDriver:
    """Pumps bytes between ``port`` (a pyserial port) and ``conn`` (a link Connection).

    ``on_event`` sees every event that does not end a ``run_until`` (progress, ...).
    """

    def __init__(self, port: serial.SerialBase, conn: Any, *,
                 on_event: Callable[[Any], None] | None = None,
                 idle_poll_s: float = IDLE_POLL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.port = port
        self.conn = conn
        self.on_event = on_event
        self.idle_poll_s = idle_poll_s
        self.clock = clock
        self.stats = DriverStats()
        self._timeout: float | None = None
        self._cut = False

    # --- port access ---------------------------------------------------------------------

    def _set_timeout(self, seconds: float) -> None:
        """Change the port's read time-out only when it differs (termios calls cost)."""
        if self._timeout != seconds:
            self.port.timeout = seconds
            self._timeout = seconds

    def _read(self, wait_s: float) -> bytes:
        """Take what is there; if nothing, wait at most ``wait_s`` for a byte, then drain.

        Why not ``read(in_waiting)``: on ``socket://`` in_waiting is only 0 or 1, and
        a large read with a time-out would sit out the whole time-out.
        """
        self.stats.reads += 1
        self._set_timeout(0)
        data = self.port.read(READ_CHUNK)
        if not data:
            self._set_timeout(max(0.0, wait_s))
            first = self.port.read(1)
            if not first:
                self.stats.empty_reads += 1
                return b""
            self._set_timeout(0)
            data = first + self.port.read(READ_CHUNK)
        self.stats.bytes_read += len(data)
        return data

    def _hang_up(self, exc: BaseException) -> LinkCut:
        """Tell the core the stream ended; return the error to raise."""
        self._cut = True
        with contextlib.suppress(LinkError):   # the core may refuse use after an abort
            self.conn.receive_data(b"")
            while self.conn.next_event() is not NEED_DATA:
                pass
        return LinkCut(f"link cut: {exc}")

    def flush(self, now: float | None = None) -> None:
        """Write everything the core has queued."""
        out = self.conn.data_to_send(self.clock() if now is None else now)
        if not out:
            return
        try:
            self.port.write(out)
        except (serial.SerialException, OSError) as exc:
            raise self._hang_up(exc) from exc
        self.stats.bytes_written += len(out)

    # --- the loop ------------------------------------------------------------------------

    def send(self, command: Any) -> None:
        """Queue a command in the core and write its bytes."""
        now = self.clock()
        self.conn.send(command, now)
        self.flush(now)

    def run_until(self, predicate: Callable[[Any], bool], deadline_s: float) -> Any:
        """Pump until an event satisfies ``predicate``; return that event.

        Raises LinkAborted / LinkTimedOut / LinkClosed when the core reports so first
        (unless the predicate accepts that event), LinkCut when the port closes, and
        LinkTimedOut when ``deadline_s`` seconds pass.
        """
        if self._cut:
            raise LinkCut("link cut: port already closed")
        until = self.clock() + deadline_s
        while True:
            now = self.clock()
            self.flush(now)
            remaining = until - now
            if remaining <= 0:
                raise LinkTimedOut(f"no answer within {deadline_s:g} s")
            due = self.conn.next_deadline()
            budget = min(self.idle_poll_s if due is None else due - now, remaining)
            try:
                data = self._read(budget)
            except (serial.SerialException, OSError) as exc:
                raise self._hang_up(exc) from exc
            after = self.clock()
            if data:
                self.conn.receive_data(data, after)   # the core has no clock
            elif due is not None and after >= due - _CLOCK_SLACK_S:
                self.stats.timeouts_handled += 1
                self.conn.handle_timeout(max(after, due))   # an empty read is a time-out
            while (event := self.conn.next_event()) is not NEED_DATA:
                if predicate(event):
                    self.flush()
                    return event
                self._check_fatal(event)
                if self.on_event is not None:
                    self.on_event(event)

    @staticmethod
    def _check_fatal(event: Any) -> None:
        if isinstance(event, Aborted):
            raise LinkAborted(event.reason, event.by_peer, event.code)
        if isinstance(event, TimedOut):
            raise LinkTimedOut(f"link timed out waiting for {event.what}")
        if isinstance(event, ConnectionClosed):
            raise LinkClosed("the HHU closed the link")
