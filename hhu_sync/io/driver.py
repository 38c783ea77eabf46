"""The dock session for one-shot synchronous use (the ``hhu-sync link`` commands, the
link bench): the same :class:`~hhu_sync.io.dock.DockSession` and the same pump, each
call run to its end on a private event loop. The depot's daemon never uses this: it
runs every cradle's session on its one loop.

The link errors are defined in :mod:`hhu_sync.io.errors`; they are importable from here
too, where callers have always found them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import serial

from hhu_sync.io.dock import DockSession
from hhu_sync.io.errors import (
    LinkAborted,
    LinkClosed,
    LinkCut,
    LinkDriverError,
    LinkTimedOut,
)
from hhu_sync.link import HelloInfo, LinkSettings, ReasonCode

__all__ = ["BlockingDockSession", "LinkAborted", "LinkClosed", "LinkCut", "LinkDriverError",
           "LinkTimedOut"]

T = TypeVar("T")


class BlockingDockSession:
    """A :class:`DockSession` whose steps block: each runs its coroutine on a loop this
    object owns (one loop for the session's life, since the pump watches the port on
    it). ``close()`` ends the loop too; use it from one thread."""

    def __init__(self, port: serial.SerialBase, keys: Callable[[str], bytes | None], *,
                 settings: LinkSettings | None = None,
                 on_event: Callable[[Any], None] | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self.session = DockSession(port, keys, settings=settings, on_event=on_event,
                                   loop=self._loop)
        self.conn = self.session.conn
        self.pump = self.session.pump

    def _run(self, step: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            step.close()
            raise LinkCut("link cut: the session is closed")
        return self._loop.run_until_complete(step)

    @property
    def hhu_id(self) -> str | None:
        return self.session.hhu_id

    @property
    def hello(self) -> HelloInfo | None:
        return self.session.hello

    def handshake(self, deadline_s: float) -> HelloInfo:
        return self._run(self.session.handshake(deadline_s))

    def put(self, bundle_id: str, data: bytes, deadline_s: float) -> bool:
        return self._run(self.session.put(bundle_id, data, deadline_s))

    def get(self, upload_id: str, deadline_s: float) -> bytes:
        return self._run(self.session.get(upload_id, deadline_s))

    def ack(self, upload_id: str, deadline_s: float) -> None:
        self._run(self.session.ack(upload_id, deadline_s))

    def give_up(self, reason: str, code: ReasonCode) -> None:
        if not self._loop.is_closed():
            self.session.give_up(reason, code)

    def close(self, deadline_s: float | None = None) -> bool:
        """Close the link politely, stop watching the port and end the private loop
        (the caller closes the port)."""
        if self._loop.is_closed():
            return False
        try:
            step = self.session.close() if deadline_s is None else \
                self.session.close(deadline_s)
            return self._run(step)
        finally:
            self.release()

    def release(self) -> None:
        """Stop watching the port and end the loop, without a polite close."""
        if self._loop.is_closed():
            return
        self.session.release()()
        self._loop.close()

    def __del__(self) -> None:      # a caller that never closed: no loop left open
        loop = getattr(self, "_loop", None)
        if loop is not None and not loop.is_closed() and not loop.is_running():
            self.release()
