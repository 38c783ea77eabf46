"""The simulator's one event loop per process, in one daemon thread started on first use.

Every simulated HHU, line and meter server of a process runs on it (as tasks), so a
bench with 32 HHUs behind 32 lines costs one thread, not a hundred, and pacing is done
by loop timers rather than sleeping threads. Callers on other threads hand it work with
``submit`` (a coroutine) or ``call`` (a plain function), and wait for the answer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def sim_loop() -> asyncio.AbstractEventLoop:
    """The process's simulator loop, started if it is not running yet."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _thread = threading.Thread(target=run, name="hhu-sim-loop", daemon=True)
            _thread.start()
            ready.wait()
            _loop = loop
        return _loop


def on_sim_loop() -> bool:
    """True on the simulator loop's own thread (where waiting on it would deadlock)."""
    return _thread is not None and threading.current_thread() is _thread


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Run ``coro`` as a task on the simulator loop; its result as a thread-safe future."""
    return asyncio.run_coroutine_threadsafe(coro, sim_loop())


def call(fn: Callable[[], T], timeout: float | None = 10.0) -> T:
    """Run ``fn`` on the simulator loop's thread and return what it returned."""
    if on_sim_loop():
        return fn()

    async def run() -> T:
        return fn()

    return submit(run()).result(timeout)
