"""The remote runs pages' event feed (hhu_sync.web.remote_feed): a run's state read from
the database by one poller for every stream watching it, sent first and then only when
it has changed; streams end when the server stops."""

from __future__ import annotations

import asyncio
import json
import threading

from hhu_sync.web.remote_feed import RemoteFeed


class Source:
    """A run's state as the store would give it, and how often it was read."""

    def __init__(self) -> None:
        self.state = {"delivery_id": 1, "meters": [{"state": "reading"}]}
        self.reads = 0

    def __call__(self) -> dict:
        self.reads += 1
        return json.loads(json.dumps(self.state))


def _data(chunk: str) -> tuple[str, dict]:
    kind, data = chunk.split("\n")[:2]
    return kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))


async def _reads_until(source: Source, n: int) -> None:
    for _ in range(2000):                     # bounded: generous for a loaded machine
        if source.reads >= n:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"read {source.reads} times, not {n}")


def test_a_run_is_sent_first_then_each_change_and_nothing_while_it_stays():
    async def scenario() -> None:
        closing = threading.Event()
        feed, source = RemoteFeed(closing, poll_s=0.01), Source()
        stream = feed.stream("run:1", source)
        kind, first = _data(await anext(stream))
        assert kind == "run" and first["meters"] == [{"state": "reading"}]
        source.state["meters"][0]["state"] = "done"
        kind, second = _data(await anext(stream))
        assert second["meters"] == [{"state": "done"}]
        await _reads_until(source, source.reads + 5)     # read again, unchanged
        closing.set()
        assert [chunk async for chunk in stream] == []   # nothing more was sent
    asyncio.run(scenario())


def test_streams_watching_one_run_share_one_poller_and_its_chunks():
    async def scenario() -> None:
        closing = threading.Event()
        feed, source = RemoteFeed(closing, poll_s=0.01), Source()
        one, two = feed.stream("run:1", source), feed.stream("run:1", Source())
        first = await anext(one)
        assert await anext(two) == first                 # the same chunk, read once
        assert len(feed._watched) == 1
        source.state["meters"][0]["state"] = "done"
        assert await anext(one) == await anext(two)
        closing.set()
        assert [c async for c in one] == [] and [c async for c in two] == []
    asyncio.run(scenario())


def test_the_runs_list_is_sent_as_runs_events():
    async def scenario() -> None:
        closing = threading.Event()
        feed = RemoteFeed(closing, poll_s=0.01)
        stream = feed.stream("runs", lambda: {"runs": [], "poll_seconds": 2.0})
        assert _data(await anext(stream)) == ("runs", {"runs": [], "poll_seconds": 2.0})
        closing.set()
        assert [c async for c in stream] == []
    asyncio.run(scenario())
