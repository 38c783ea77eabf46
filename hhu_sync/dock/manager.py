"""The dock manager: APScheduler polls the cradles; one session per docked HHU.

A cradle is polled every ``poll_seconds`` (coalesced, one run at a time, with a set
misfire grace), each poll starts at most one session per idle cradle in a bounded
thread pool, and a cradle whose last session failed waits with exponential back-off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler

from hhu_sync.config import Config, Dock
from hhu_sync.dock.readings import UploadDecoder
from hhu_sync.dock.session import Outcome, Session, SessionResult
from hhu_sync.errors import KeyStoreError
from hhu_sync.io.ports import PortError, find_port
from hhu_sync.io.versions import VersionMemory
from hhu_sync.keys import KeyStore
from hhu_sync.packing import Packer
from hhu_sync.store.base import StorageUnavailable

log = logging.getLogger("hhu_sync.dock")
MAX_BACKOFF_S = 60.0


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
    def __init__(self, config: Config, store, keystore: KeyStore, packer: Packer, *,
                 generation: Callable[[], int], on_result: Callable[[Dock, int, SessionResult],
                                                                   None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.store = store
        self.keystore = keystore
        self.packer = packer
        self.generation = generation
        self.on_result = on_result
        self.clock = clock
        self.states = {d.name: DockState() for d in config.docks}
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        #: per cradle, the link version to offer: a fallback to version 1 is remembered
        #: for a bounded time so every docking does not pay two handshakes
        self.versions = VersionMemory(config.link.fallback_hours * 3600.0,
                                      config.link.fallback_dockings, clock=clock)
        self.stop = threading.Event()
        self.progress = None      # a ProgressSink, set by whoever shows progress
        self.decoder = UploadDecoder()   # checks and exports uploads in worker processes
        self._exports: set[Future] = set()   # exports still being written
        self.executor = ThreadPoolExecutor(max_workers=max(1, config.limits.max_sessions),
                                           thread_name_prefix="dock")
        # One thread commits checked uploads for every session, in the order their checks
        # finish: SQLite takes one writer at a time anyway, and a session's link carries
        # on (the next upload, its bundles) while its readings are committed.
        self.committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit")
        grace = int(config.schedule.misfire_grace_seconds)
        self.scheduler = BackgroundScheduler(job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": grace})

    def start(self, extra_jobs: Sequence[tuple[Callable[[], None], float]] = ()) -> None:
        if self.config.docks:
            self.decoder.start()
        self.scheduler.add_job(self.poll, "interval", seconds=self.config.schedule.poll_seconds,
                               id="poll-docks", next_run_time=_soon())
        for n, (func, seconds) in enumerate(extra_jobs):
            self.scheduler.add_job(func, "interval", seconds=seconds, id=f"job-{n}")
        self.scheduler.start()

    def resolve(self, dock: Dock) -> str | None:
        """The port to open now, or None when the cradle is not plugged in."""
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

    def poll(self) -> None:
        """Start a session on every idle cradle whose back-off has passed."""
        if self.stop.is_set():
            return
        now = self.clock()
        for dock in self.config.docks:
            with self._lock:
                state = self.states[dock.name]
                if state.busy or now < state.not_before:
                    continue
                url = self.resolve(dock)
                if url is None:
                    state.last = SessionResult(dock.name, Outcome.UNPLUGGED)
                    state.last_generation = self.generation()
                    continue
                state.busy = True
                state.polls += 1
            self.executor.submit(self._run, dock, url, self.generation())

    def _run(self, dock: Dock, url: str, generation: int) -> None:
        session = Session(dock, url, self.config, self.store, _StoreFaultKeys(self.keystore),
                          self.packer,
                          progress=self.progress, decoder=self.decoder,
                          on_export=self._track_export, committer=self.committer,
                          versions=self.versions)
        with self._lock:
            self._sessions[dock.name] = session
        try:
            result = session.run()
        except Exception as exc:  # noqa: BLE001 - a session must never kill the pool
            log.exception("dock %s: session failed", dock.name)
            result = SessionResult(dock.name, Outcome.ERROR, errors=[repr(exc)])
        with self._lock:
            self._sessions.pop(dock.name, None)
            state = self.states[dock.name]
            state.busy = False
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
        self.on_result(dock, generation, result)

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

    def _track_export(self, future: Future) -> None:
        with self._lock:
            self._exports.add(future)
        future.add_done_callback(self._export_finished)

    def _export_finished(self, future: Future) -> None:
        with self._lock:
            self._exports.discard(future)

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
        """Stop polling; let running sessions finish within ``grace_s``, then cut them."""
        self.stop.set()
        try:
            self.scheduler.shutdown(wait=False)
        except Exception:  # noqa: BLE001 - not started
            pass
        deadline = self.clock() + grace_s
        while self.busy() and self.clock() < deadline:
            time.sleep(0.05)
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            log.warning("dock %s: ending session at shutdown", session.dock.name)
            session.abort()
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.committer.shutdown(wait=True)
        self.decoder.close()


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


def _soon():
    from datetime import datetime
    return datetime.now().astimezone()
