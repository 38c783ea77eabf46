"""The committer stores a checked upload with the cyclic collector paused, and leaves it
as it was: a commit's containers are freed by reference counting, and no collection
started by another thread's allocations walks them (and every session's objects) on the
committer's time. A commit is never dropped on its way to the committer."""

from __future__ import annotations

import asyncio
import gc
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from hhu_sync.dock.session import Session, _SubmitOn


class Store:
    def __init__(self) -> None:
        self.collector_on: list[bool] = []

    def ingest(self, upload, now):
        self.collector_on.append(gc.isenabled())
        return f"report of {upload}"


@pytest.mark.parametrize("enabled", [True, False])
def test_the_commit_runs_with_the_collector_paused_and_leaves_it_as_it_was(enabled):
    store = Store()
    checked: Future = Future()
    checked.set_result("U1")
    was_enabled = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        got = Session._ingest(SimpleNamespace(store=store), checked)  # type: ignore[arg-type]
        after = gc.isenabled()
    finally:
        (gc.enable if was_enabled else gc.disable)()
    assert got == ("U1", "report of U1")
    assert store.collector_on == [False]
    assert after is enabled


def test_a_commit_handed_to_a_pool_shut_down_meanwhile_still_runs():
    # a session without a committer of its own commits on its blocking pool: one shut
    # down between the check and the commit must not drop the commit, whose end is what
    # tells the session (and the exports' count of commits in flight) it is over
    pool = ThreadPoolExecutor(max_workers=1)
    pool.shutdown()
    ran = threading.Event()

    async def main() -> None:
        _SubmitOn(asyncio.get_running_loop(), pool).submit(ran.set)
        for _ in range(100):
            if ran.is_set():
                return
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert ran.wait(5)
