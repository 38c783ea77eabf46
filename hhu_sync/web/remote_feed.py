"""The remote runs pages' live feed: server-sent events of a run (or of the runs list),
read from the database by one poller per watched thing for every open stream.

A run's progress is written by whichever depot's daemon reads a meter (several may share
a run; ``hhu-sync web`` alone runs none), so there is no event of this process to follow
as the docks page follows its cradles (:mod:`hhu_sync.web.feed`). Instead one task per
watched key reads it every ``poll_s`` on a worker thread, and only when what it reads
has changed hands the same chunk to every stream watching it; each chunk is the whole
state, so a stream that falls behind is just given the latest.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from hhu_sync.web.feed import relay, sse

POLL_S = 2.0            # how often a watched run is read again (a change shows within it)


@dataclass
class _Watch:
    read: Callable[[], dict[str, Any] | None]
    streams: set[asyncio.Queue[str]] = field(default_factory=set)
    last: str = ""
    task: asyncio.Task[None] | None = None


class RemoteFeed:
    def __init__(self, closing: threading.Event, poll_s: float = POLL_S) -> None:
        self.closing, self.poll_s = closing, poll_s
        self._watched: dict[str, _Watch] = {}

    async def _run(self, key: str, watch: _Watch) -> None:
        try:
            while watch.streams and not self.closing.is_set():
                try:
                    data = await run_in_threadpool(watch.read)
                except Exception:  # noqa: BLE001 - the storage away: asked again next turn
                    data = None
                if data is not None:
                    chunk = sse("run" if "meters" in data else "runs", data)
                    if chunk != watch.last:
                        watch.last = chunk
                        for queue in list(watch.streams):
                            while queue.full():         # whole states: the latest wins
                                queue.get_nowait()
                            queue.put_nowait(chunk)
                await asyncio.sleep(self.poll_s)
        finally:
            if self._watched.get(key) is watch:
                del self._watched[key]

    async def stream(self, key: str, read: Callable[[], dict[str, Any] | None]
                     ) -> AsyncIterator[str]:
        """One browser's events about ``key``: its state now, then each change of it
        (``read`` gives it; None: not known now); ends when the server stops."""
        watch = self._watched.get(key)
        if watch is None:
            watch = self._watched[key] = _Watch(read)
        queue: asyncio.Queue[str] = asyncio.Queue(4)
        watch.streams.add(queue)
        if watch.last:
            queue.put_nowait(watch.last)
        if watch.task is None or watch.task.done():
            watch.task = asyncio.get_running_loop().create_task(self._run(key, watch))
        try:
            async for chunk in relay(queue, self.closing):
                yield chunk
        finally:
            watch.streams.discard(queue)
