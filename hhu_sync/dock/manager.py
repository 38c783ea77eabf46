"""The dock manager: every cradle served from one asyncio event loop, in one thread.

A cradle is polled every ``poll_seconds``; each poll starts at most one docking per idle
cradle (a coroutine, :meth:`Session.run`), at most ``max_sessions`` of them at once, and
a cradle whose last session failed waits with exponential back-off. The loop carries
every docking's link; what may block runs on ``blocking`` (a small thread pool), uploads
are checked in the decoder's worker processes and committed on the ``committer`` (one
thread on SQLite, two on PostgreSQL). Periodic jobs of the daemon (rescan, full export)
are timers on the same loop, each run on the blocking pool, one run at a time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from hhu_sync.config import Config, Dock
from hhu_sync.dock.events import EventHub, SessionEnded, UploadCommitted
from hhu_sync.dock.readings import UploadDecoder
from hhu_sync.dock.session import Outcome, Session, SessionResult
from hhu_sync.errors import KeyStoreError
from hhu_sync.io.ports import PortError, find_port
from hhu_sync.io.versions import VersionMemory
from hhu_sync.keys import KeyStore
from hhu_sync.packing import Packer
from hhu_sync.store.base import StorageUnavailable
from hhu_sync.store.opening import committers_for

log = logging.getLogger("hhu_sync.dock")
MAX_BACKOFF_S = 60.0
BLOCKING_THREADS = 4      # store calls, reports, packing, port opening: short, and few
ABORT_GRACE_S = 5.0       # after the sessions were cut: their hang-up and report


@dataclass
class DockState:
    busy: bool = False
    failures: int = 0
    not_before: float = 0.0
    polls: int = 0
    last: SessionResult | None = None
    last_generation: int = -1
    storage_failing: bool = False   # its last session ended on a storage fault


class DockManager:
    """``start()`` runs the loop in its own thread; ``poll()`` is also callable on any
    running loop (the tests drive it so). ``committed`` hears, on the loop, of every
    upload a docking committed (the daemon exports it)."""

    def __init__(self, config: Config, store, keystore: KeyStore, packer: Packer, *,
                 generation: Callable[[], int], on_result: Callable[[Dock, int, SessionResult],
                                                                   None],
                 committed: Callable[[UploadCommitted], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.store = store
        self.keystore = keystore
        self.packer = packer
        self.generation = generation
        self.on_result = on_result
        self.committed = committed
        self.clock = clock
        self.states = {d.name: DockState() for d in config.docks}
        self._lock = threading.Lock()     # states and exports: read by the daemon's thread
        self._sessions: dict[str, Session] = {}
        self._tasks: set[asyncio.Task] = set()
        #: per cradle, the link version to offer: a fallback to version 1 is remembered
        #: for a bounded time so every docking does not pay two handshakes
        self.versions = VersionMemory(config.link.fallback_hours * 3600.0,
                                      config.link.fallback_dockings, clock=clock)
        self.stop = threading.Event()
        #: every docking's events (phases, progress, commits): the CLI's bars, the web app
        self.events = EventHub()
        self.events.board.known([d.name for d in config.docks])
        if committed is not None:
            self.events.subscribe(
                lambda event: committed(event) if isinstance(event, UploadCommitted) else None)
        self.decoder = UploadDecoder()   # checks and exports uploads in worker processes
        self._exports: set[Future] = set()   # exports still being written
        self._cap = asyncio.Semaphore(max(1, config.limits.max_sessions))
        self.blocking = ThreadPoolExecutor(max_workers=BLOCKING_THREADS,
                                           thread_name_prefix="dock-io")
        # The committer stores checked uploads for every session, started in the order
        # their checks finish, while a session's link carries on (the next upload, its
        # bundles): one thread on SQLite (one writer at a time to a file), two on
        # PostgreSQL (committers_for); a session acknowledges its uploads in its order.
        self.committer = ThreadPoolExecutor(max_workers=committers_for(store.url),
                                            thread_name_prefix="commit")
        # Ports are opened and closed on threads of their own: a socket:// close sleeps
        # 0.3 s (pyserial's), a connect may wait; neither may hold the store's threads.
        self.ports = ThreadPoolExecutor(max_workers=max(1, config.limits.max_sessions),
                                        thread_name_prefix="dock-port")
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._timers: list[asyncio.TimerHandle] = []

    # --- the loop's thread -----------------------------------------------------------

    def start(self, extra_jobs: Sequence[tuple[Callable[[], None], float]] = ()) -> None:
        """Start the worker processes, then the loop's thread: the first poll at once,
        then every ``poll_seconds``; each extra job every its seconds (off the loop)."""
        if self.config.docks:
            self.decoder.start()
        loop = self.loop = asyncio.new_event_loop()
        loop.set_default_executor(self.blocking)
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=serve, name="dock-loop", daemon=True)
        self._thread.start()
        ready.wait()
        loop.call_soon_threadsafe(self._every, self.config.schedule.poll_seconds,
                                  self._poll_tick)
        for func, seconds in extra_jobs:
            loop.call_soon_threadsafe(self._every, seconds, self._job(func))

    def _every(self, seconds: float, tick: Callable[[], None]) -> None:
        """``tick()`` now and every ``seconds`` on the loop's clock (no drift, no pile-up:
        a late turn is not made up)."""
        loop = asyncio.get_running_loop()
        due = [loop.time()]

        def turn() -> None:
            if self.stop.is_set():
                return
            tick()
            due[0] = max(due[0] + seconds, loop.time())
            self._timers.append(loop.call_at(due[0], turn))
            del self._timers[:-64]      # the spent handles

        turn()

    def _job(self, func: Callable[[], None]) -> Callable[[], None]:
        """A periodic job on the blocking pool, skipped while its last run still runs."""
        running: list[concurrent.futures.Future] = []

        def tick() -> None:
            if running and not running[0].done():
                return
            running[:] = [self.blocking.submit(_logged, func)]
        return tick

    def _poll_tick(self) -> None:
        self.poll()

    # --- on the loop -----------------------------------------------------------------

    def resolve(self, dock: Dock) -> str | None:
        """The port to open now, or None when the cradle is not plugged in (a USB serial
        number is looked up among the system's ports: run this off the loop)."""
        url = dock.port
        if url is None:
            try:
                return find_port(serial_number=dock.usb_serial)
            except PortError as exc:
                log.debug("dock %s: %s", dock.name, exc)
                return None
        if self.config.file is not None:
            url = url.replace("{config_dir}", str(self.config.file.parent.resolve()))
        return url

    def poll(self) -> list[asyncio.Task]:
        """On the loop: start a docking on every idle cradle whose back-off has passed;
        returns their tasks."""
        if self.stop.is_set():
            return []
        loop = asyncio.get_running_loop()
        now = self.clock()
        started = []
        for dock in self.config.docks:
            with self._lock:
                state = self.states[dock.name]
                if state.busy or now < state.not_before:
                    continue
                state.busy = True
            task = loop.create_task(self._docking(dock, self.generation()),
                                    name=f"dock-{dock.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started.append(task)
        return started

    async def _docking(self, dock: Dock, generation: int) -> None:
        if dock.port is None:            # a USB lookup reads the system's port list
            url = await asyncio.get_running_loop().run_in_executor(
                self.blocking, self.resolve, dock)
        else:
            url = self.resolve(dock)
        if url is None:
            with self._lock:
                state = self.states[dock.name]
                state.busy = False
                taken_out = state.last is not None and state.last.hhu_id is not None
                state.last = SessionResult(dock.name, Outcome.UNPLUGGED)
                state.last_generation = self.generation()
            if taken_out:
                self._taken_out(dock)
            return
        with self._lock:
            self.states[dock.name].polls += 1
        async with self._cap:            # at most max_sessions cradles served at once
            await self._run(dock, url, generation)

    async def _run(self, dock: Dock, url: str, generation: int) -> None:
        session = Session(dock, url, self.config, self.store, _StoreFaultKeys(self.keystore),
                          self.packer, events=self.events, decoder=self.decoder,
                          committer=self.committer,
                          versions=self.versions, blocking=self.blocking, ports=self.ports)
        self._sessions[dock.name] = session
        try:
            result = await session.run()
        except Exception as exc:  # noqa: BLE001 - a session must never stop the others
            log.exception("dock %s: session failed", dock.name)
            result = SessionResult(dock.name, Outcome.ERROR, errors=[repr(exc)])
        except asyncio.CancelledError:
            result = SessionResult(dock.name, Outcome.CUT, errors=["cancelled at shutdown"])
            self._finish(dock, generation, result)
            raise
        self._finish(dock, generation, result)

    def _finish(self, dock: Dock, generation: int, result: SessionResult) -> None:
        self._sessions.pop(dock.name, None)
        with self._lock:
            state = self.states[dock.name]
            state.busy = False
            taken_out = (result.outcome is Outcome.EMPTY and result.hhu_id is None
                         and state.last is not None and state.last.hhu_id is not None)
            state.last = result
            state.last_generation = generation
            if result.outcome in (Outcome.CUT, Outcome.TIMEOUT, Outcome.ERROR, Outcome.AUTH_FAILED):
                state.failures += 1
                delay = min(MAX_BACKOFF_S, self.config.schedule.poll_seconds
                            * (2 ** min(state.failures, 8)))
                state.not_before = self.clock() + delay
            else:
                state.failures = 0
                state.not_before = 0.0
            self._storage_state(dock, state, result)
        if taken_out:
            self._taken_out(dock)
        self.on_result(dock, generation, result)

    def _taken_out(self, dock: Dock) -> None:
        """The HHU that answered on this cradle last time is gone (nothing answers, or
        the cradle itself is unplugged): the board says so once, not at every poll."""
        self.events.publish(SessionEnded(dock=dock.name, at=time.time(), hhu_id=None,
                                         outcome=Outcome.EMPTY.value))

    def storage_back(self) -> None:
        """The store opened (it did not answer before): cradles whose sessions failed
        on it are tried at the next poll, not after the rest of their back-off."""
        with self._lock:
            for state in self.states.values():
                if state.storage_failing:
                    state.not_before = 0.0

    @staticmethod
    def _storage_state(dock: Dock, state: DockState, result: SessionResult) -> None:
        """One line when a cradle's sessions start failing on the storage, one when a
        session gets through again; none per attempt (they back off as any failure)."""
        if result.storage_unavailable and not state.storage_failing:
            state.storage_failing = True
            log.warning("dock %s: storage unavailable (%s); sessions retried with back-off "
                        "up to %g s", dock.name, result.errors[-1] if result.errors else "",
                        MAX_BACKOFF_S)
        elif state.storage_failing and not result.storage_unavailable:
            state.storage_failing = False
            log.info("dock %s: storage usable again; session %s", dock.name, result.outcome)

    def track_export(self, future: Future) -> None:
        """Count an export still being written (``busy``/``settled`` wait for it)."""
        with self._lock:
            self._exports.add(future)
        future.add_done_callback(self._export_finished)

    def _export_finished(self, future: Future) -> None:
        with self._lock:
            self._exports.discard(future)

    # --- from any thread -------------------------------------------------------------

    def busy(self) -> bool:
        with self._lock:
            return any(s.busy for s in self.states.values()) or bool(self._exports)

    def settled(self, generation: int) -> bool:
        """Every cradle was polled since the last change and found nothing to do."""
        with self._lock:
            return not self._exports and all(
                not s.busy and s.last is not None and s.last_generation == generation
                and not (s.last.pushed or s.last.pulled) for s in self.states.values())

    def shutdown(self, grace_s: float = 10.0) -> None:
        """Stop polling; let running sessions finish within ``grace_s``, then cut them
        (each ends at once with a cut link; its report and hang-up are bounded too)."""
        self.stop.set()
        loop, thread = self.loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(self._cancel_timers)
            deadline = self.clock() + grace_s
            while self.busy() and self.clock() < deadline:
                time.sleep(0.05)
            ending = asyncio.run_coroutine_threadsafe(self._end_sessions(), loop)
            try:
                ending.result(timeout=ABORT_GRACE_S + 1.0)
            except (concurrent.futures.TimeoutError, RuntimeError) as exc:
                log.error("dock sessions not ended within %g s: %r", ABORT_GRACE_S, exc)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(ABORT_GRACE_S)
            if not thread.is_alive():
                loop.close()
        self.blocking.shutdown(wait=True, cancel_futures=True)
        self.ports.shutdown(wait=True, cancel_futures=True)
        self.committer.shutdown(wait=True)
        self.decoder.close()

    def _cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    async def _end_sessions(self) -> None:
        """On the loop: cut every running docking, wait for them to unwind; cancel what
        did not within ``ABORT_GRACE_S``."""
        for session in list(self._sessions.values()):
            log.warning("dock %s: ending session at shutdown", session.dock.name)
            session.abort()
        tasks = list(self._tasks)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=ABORT_GRACE_S)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1.0)


def _logged(func: Callable[[], None]) -> None:
    try:
        func()
    except Exception:  # noqa: BLE001 - a periodic job must not stop the next run
        log.exception("periodic job %s failed", getattr(func, "__name__", func))


class _StoreFaultKeys:
    """The key store as sessions see it: a store that cannot be used (``hhus/`` a
    symlink, a folder without permission, a key file that is not one) ends the session
    as a storage fault does, so that the manager logs it once per state change and backs
    off, not once per poll (the outbox treats it the same way)."""

    def __init__(self, keystore: KeyStore) -> None:
        self._keystore = keystore

    def hhu_key(self, hhu_id: str) -> bytes | None:
        try:
            return self._keystore.hhu_key(hhu_id)
        except KeyStoreError as exc:
            raise StorageUnavailable(f"key store unavailable: {exc}") from exc

    def __getattr__(self, name: str):
        return getattr(self._keystore, name)
