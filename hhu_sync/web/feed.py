"""The docks page's live feed: one subscriber to the dock events for every open stream.

A docking publishes a few hundred events a second with 32 cradles busy; fifty browsers
each subscribed on their own meant 50 cross-thread wake-ups an event and 50 JSON copies
of every cradle, all in the daemon's process, and the cradles slowed by a fifth. Here the
dock event only marks its cradle changed (a set, under a lock, on the docking's thread:
no wake-up); every ``SSE_COALESCE_S`` one task on the web loop turns the changed
cradles into one chunk of server-sent events, once, and hands the same string to every
stream's bounded queue. A stream that falls behind is given a fresh snapshot instead of
the changes it missed.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator

from hhu_sync.dock.events import DockEvent, EventHub

SSE_COALESCE_S = 0.5      # a change reaches the browsers within this (and a hop): under 1 s
SSE_KEEPALIVE_S = 15.0    # a comment this often keeps proxies from closing a quiet stream
SSE_CHECK_S = 0.5         # how soon an open stream sees the server stopping


async def relay(queue: asyncio.Queue[str], closing: threading.Event | asyncio.Event
                ) -> AsyncIterator[str]:
    """A stream's chunks as its queue gets them, with a comment after every
    ``SSE_KEEPALIVE_S`` of quiet, until ``closing`` is set (seen within ``SSE_CHECK_S``)."""
    quiet = 0.0
    while not closing.is_set():
        try:
            chunk = await asyncio.wait_for(queue.get(), SSE_CHECK_S)
        except TimeoutError:
            quiet += SSE_CHECK_S
            if quiet >= SSE_KEEPALIVE_S:
                quiet = 0.0
                yield ": still here\n\n"
            continue
        quiet = 0.0
        yield chunk
STREAM_QUEUE = 50         # chunks a stream may fall behind before it is sent a snapshot
_RESYNC = ""
_COMPACT = (",", ":")              # the marker of a stream that fell behind


def sse(kind: str, data: object) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=_COMPACT)}\n\n"


class DockFeed:
    def __init__(self, hub: EventHub, closing: threading.Event) -> None:
        self.hub, self.closing = hub, closing
        self.streams: set[asyncio.Queue[str]] = set()
        self._changed: set[str] = set()
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        hub.subscribe(self._heard)

    def _heard(self, event: DockEvent) -> None:      # on the docking's thread
        with self._lock:
            self._changed.add(event.dock)

    async def _run(self) -> None:
        while not self.closing.is_set():
            await asyncio.sleep(SSE_COALESCE_S)
            with self._lock:
                changed, self._changed = self._changed, set()
            if not changed or not self.streams:
                continue
            chunk = "".join(sse("cradle", c) for c in self.hub.board.cradles(changed))
            for queue in list(self.streams):
                if queue.full():                    # fallen behind: start it afresh
                    while not queue.empty():
                        queue.get_nowait()
                    queue.put_nowait(_RESYNC)
                else:
                    queue.put_nowait(chunk)

    async def stream(self) -> AsyncIterator[str]:
        """One browser's events: ``snapshot`` first, then ``cradle`` for each change;
        ends when the server stops (``closing``)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        queue: asyncio.Queue[str] = asyncio.Queue(STREAM_QUEUE)
        self.streams.add(queue)
        try:
            yield sse("snapshot", self.hub.board.snapshot())
            async for chunk in relay(queue, self.closing):
                yield chunk if chunk != _RESYNC else sse("snapshot", self.hub.board.snapshot())
        finally:
            self.streams.discard(queue)
