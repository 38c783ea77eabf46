"""The daemon: outbox in, docked HHUs served, readings committed and exported.

The main thread owns the outbox (events → complete files → processor); one more thread
runs the dock manager's event loop, which polls every cradle and serves every docked
HHU (a coroutine each), with what blocks on a small pool beside it. They meet only in
the store. A docking announces each upload it committed (``UploadCommitted``); the
daemon exports it for billing in the export worker, so no docking waits for an export.
``stop`` (SIGTERM, Ctrl-C) lets sessions finish within a grace time, then ends them; the
link resumes where it stopped at the next docking.

A store that does not answer at start (a PostgreSQL server down, a SQLite file on a
failing disk) does not stop the daemon: it serves what it can without it (nothing is
acknowledged or taken from the outbox), keeps trying to open it, with a back-off, on a
thread of its own, and says so in its health file (:mod:`hhu_sync.daemon_health`).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from hhu_sync.config import Config, Dock, store_url
from hhu_sync.daemon_health import remove_health, write_health
from hhu_sync.daemon_lock import DaemonLock
from hhu_sync.dock.events import UploadCommitted
from hhu_sync.dock.manager import DockManager
from hhu_sync.dock.session import Outcome, SessionResult
from hhu_sync.errors import HhuSyncError
from hhu_sync.export import export
from hhu_sync.fsutil import DAEMON_DIR_MODE, copy_new_file, ensure_dir
from hhu_sync.io.ports import register_handler_packages
from hhu_sync.keys import KeyStore
from hhu_sync.model.catalog import load_catalog, model_takes_ratios
from hhu_sync.outbox import OutboxProcessor, OutboxWatcher, ReadyFiles
from hhu_sync.packing import Packer
from hhu_sync.remote.runner import RemoteRunner, RunSettings
from hhu_sync.store import open_store
from hhu_sync.store.base import StoreError
from hhu_sync.store.opening import backend_of, shown_store
from hhu_sync.store.pending import OPEN_WAIT_S, PendingStore, StoreHealth, StoreState

log = logging.getLogger("hhu_sync.daemon")
EVENTS_PER_TURN = 10_000
BATCH = 32           # files per transaction: one fsync for many, latency still short
BIG_BATCH = 128      # ... and when a backlog of thousands waits: fewer, larger commits


CALL_WAIT_S = 10.0         # a PostgreSQL call's wait for a connection of the pool
MAX_ERRORS_KEPT = 100      # a storage outage adds one error a back-off: memory is bounded


@dataclass
class Summary:
    files: Counter = field(default_factory=Counter)          # accepted, rejected, ...
    sessions: Counter = field(default_factory=Counter)       # by outcome
    bundles_pushed: int = 0
    uploads_pulled: int = 0
    readings_stored: int = 0
    readings_already_held: int = 0
    readings_rejected: int = 0        # failed a field check: kept as exceptions, never billed
    readings_not_billable: int = 0    # stored with a status other than ok
    findings: int = 0                 # exceptions written for fields that failed a check
    exceptions: int = 0
    intervals_stored: int = 0         # upload version 2: load profile intervals
    intervals_already_held: int = 0
    interval_conflicts: int = 0       # an exception each (interval_conflict)
    vee_findings: int = 0             # validation (VEE) findings: an exception each
    events_stored: int = 0
    errors: list[str] = field(default_factory=list)   # the latest MAX_ERRORS_KEPT
    error_count: int = 0      # every error, kept or not (a daemon runs for months)
    turn_errors: int = 0      # faults outside any one file, survived
    finished: bool = True
    queued_left: int = 0      # deliveries still queued at the end (with --once)
    store_refused: str | None = None   # opened late, on a schema of another version


class Daemon:
    def __init__(self, config: Config, *, once: bool = False) -> None:
        self.config = config
        self.once = once
        p = config.paths
        # One daemon per database (two would race on one outbox); `status` reads it too.
        self.lock = DaemonLock(p.database)
        try:
            self.lock.acquire()
        except OSError as exc:
            # A folder it cannot write is not a reason to stop (a crash loop at every
            # restart); the store says what it can do there. Another daemon is (above).
            log.error("cannot hold the daemon lock %s (%s): status will not see this "
                      "daemon, and a second one on this database would not be refused",
                      self.lock.path, exc.strerror or exc)
        try:
            self._setup(config)
        except BaseException:
            self.lock.release()
            raise

    def _setup(self, config: Config) -> None:
        p = config.paths
        p.outbox.mkdir(parents=True, exist_ok=True)   # shared with back office: its mode is theirs
        for folder in (p.archive, p.rejected, p.exports):
            try:
                ensure_dir(folder, DAEMON_DIR_MODE)   # the daemon's own: 0750, never a symlink
            except OSError as exc:
                # Refusing to start would stop again at every restart (a crash loop);
                # nothing is written through it: the files that need it wait in the outbox.
                log.error("cannot use %s (%s); files that would go there wait in the "
                          "outbox until it is a real folder again", folder, exc.strerror)
        register_handler_packages(config.handler_packages)
        # [store] url, else the SQLite file paths.database; a schema of another version
        # (newer or older than this code's) is refused here, naming both. A store that
        # does not answer is opened later (run): the daemon serves on meanwhile.
        self.store = PendingStore(store_url(config), partial(_open_store, depot=config.depot_id),
                                  depot=config.depot_id)
        if not self.store.try_open():
            health = self.store.health()
            log.error("storage: %s unavailable at start (%s); serving without it (docked "
                      "HHUs keep their readings, outbox files wait) and trying again",
                      shown_store(self.store.url), health.error)
        self._health_written: StoreHealth | None = None
        self._opener: threading.Thread | None = None
        self.catalog = load_catalog(p.catalog)
        self.keystore = KeyStore(p.keystore)
        self.packer = Packer(self.store, self.keystore, config.depot_id)
        self.events: queue.Queue = queue.Queue()
        debounce = config.limits.debounce_seconds
        self.ready = ReadyFiles(p.outbox, debounce, scan_quiet=max(1.0, 2 * debounce),
                                long_quiet=config.limits.scan_quiet_seconds)
        self.watcher = OutboxWatcher(p.outbox, self.events)
        self.processor = OutboxProcessor(config, self.store, self.catalog, self.keystore,
                                         self.packer, workers=config.limits.outbox_workers)
        self._generation = 0
        self._turn_errors = 0
        self._export_fault: str | None = None       # the scheduled export's, while it lasts
        self._gen_lock = threading.Lock()
        self.summary = Summary()
        self.stop = threading.Event()
        self._rescan = threading.Event()
        self.docks = DockManager(config, self.store, self.keystore, self.packer,
                                 generation=self.generation, on_result=self._session_done,
                                 committed=self._upload_committed)
        # remote lists (target = "remote"): read over their ports on threads of their own
        self.remote = RemoteRunner(self.store, runner_id=f"remote-{config.depot_id}",
                                   settings=RunSettings.of(config.remote),
                                   secret=self.keystore.secret, committed=self._remote_committed,
                                   takes_ratios=lambda model: model_takes_ratios(
                                       model, p.catalog))
        self.web = self._web_server(config)
        self.store.on_back = self._storage_back      # set last: it reaches the parts above

    def _web_server(self, config: Config):
        """The web app's server, bound now (not with ``once``: a batch run shows no
        screen). A port it cannot have is logged, and the cradles are served anyway."""
        if config.web.listen is None or self.once:
            return None
        from hhu_sync.web.server import WebError, WebServer

        try:
            return WebServer(config, self.store, self.docks.events)
        except WebError as exc:
            log.error("%s: serving the cradles without the web app", exc)
            return None

    def generation(self) -> int:
        with self._gen_lock:
            return self._generation

    def _changed(self) -> None:
        with self._gen_lock:
            self._generation += 1

    def _session_done(self, dock: Dock, generation: int, result: SessionResult) -> None:
        s = self.summary
        if result.outcome not in (Outcome.EMPTY, Outcome.UNPLUGGED, Outcome.IDLE):
            s.sessions[result.outcome] += 1
        s.bundles_pushed += len(result.pushed)
        s.uploads_pulled += len(result.pulled)
        for report in result.reports:
            s.readings_stored += report["readings_stored"]
            s.readings_already_held += report["readings_already_held"]
            s.readings_rejected += report.get("readings_rejected", 0)
            s.readings_not_billable += report.get("readings_not_billable", 0)
            s.findings += report.get("findings", 0)
            s.exceptions += (report["conflicts"] + report["not_on_list"]
                             + report["already_read"] + report["readings_already_held"]
                             + report.get("findings", 0)
                             + report.get("interval_conflicts", 0)
                             + report.get("vee_findings", 0))
            s.intervals_stored += report.get("intervals_stored", 0)
            s.intervals_already_held += report.get("intervals_already_held", 0)
            s.interval_conflicts += report.get("interval_conflicts", 0)
            s.vee_findings += report.get("vee_findings", 0)
            s.events_stored += report.get("events_stored", 0)
        s.error_count += len(result.errors)
        s.errors += result.errors
        del s.errors[:-MAX_ERRORS_KEPT]
        if result.pushed or result.pulled:
            self._changed()

    def _upload_committed(self, event: UploadCommitted) -> None:
        """On the dock loop: export a committed upload (CSV and CMEP for billing, from
        what the store committed, so it can always be redone). Counted at once, so that
        ``--once`` waits for it; handed to the export worker from the blocking pool."""
        done: Future = Future()
        self.docks.track_export(done)
        done.add_done_callback(lambda f: _export_done(event.upload_id, f))
        try:
            self.docks.blocking.submit(self._export, event, done)
        except RuntimeError:                          # stopping: the pool is shut
            done.cancel()

    def _remote_committed(self, upload_id: str, runner_id: str) -> None:
        """A remote meter's visit committed: exported as a docking's upload is."""
        self._upload_committed(UploadCommitted(dock=runner_id, at=time.time(),
                                               upload_id=upload_id, hhu_id=runner_id))
        self._changed()

    def _export(self, event: UploadCommitted, done: Future) -> None:
        p = self.config.paths
        try:
            started = self.docks.decoder.export(
                committed_at=event.at, database=self.store.url,
                upload_id=event.upload_id, folder=str(p.exports),
                sender=self.config.depot_id, catalog=str(p.catalog))
        except BaseException as exc:  # noqa: BLE001 - told through the future
            done.set_exception(exc)
            return
        started.add_done_callback(lambda f: _chain(f, done))

    def _full_export(self) -> None:
        """The scheduled full export. A storage outage (disk full, I/O error, a broken
        exports folder) is not a traceback every period: one line when it starts failing,
        one when it works again; the next period retries."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        try:
            for fmt in ("csv", "cmep"):
                export(self.store.readings(catalog=self.config.paths.catalog), fmt,
                       self.config.paths.exports / f"all-{stamp}.{fmt}",
                       sender=self.config.depot_id)
        except (StoreError, OSError) as exc:
            fault = f"{type(exc).__name__}: {exc}"
            if self._export_fault is None:
                log.error("full export failed (%s); tried again at the next export, every "
                          "%s min", fault, self.config.schedule.export_minutes)
            self._export_fault = fault
            return
        if self._export_fault is not None:
            log.info("full export works again (it failed: %s)", self._export_fault)
            self._export_fault = None

    def run(self, timeout: float | None = None) -> Summary:
        """Serve until ``stop`` (or, with ``once``, until there is no work left)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.watcher.start()
        if not self.once:
            self.processor.examiner.start()
        self._rescan.set()      # the first scan, in the first (guarded) turn
        jobs = [(self._rescan.set, self.config.schedule.rescan_seconds)]
        if self.config.schedule.export_minutes:
            jobs.append((self._full_export, self.config.schedule.export_minutes * 60))
        jobs.append((self.remote.poll, self.config.remote.poll_seconds))
        jobs.append((self._note_health, min(5.0, self.config.schedule.poll_seconds)))
        self._note_health()
        if not self.store.opened.is_set():
            self._opener = threading.Thread(target=self._open_later, name="store-opener",
                                            daemon=True)
            self._opener.start()
        self.docks.start(jobs)
        if self.web is not None:
            try:
                self.web.start()
            except HhuSyncError as exc:
                log.error("%s: serving the cradles without the web app", exc)
                self.web = None
        docks = len(self.config.docks)
        log.info("hhu-sync running: outbox %s, %d dock%s, database %s",
                 self.config.paths.outbox, docks, "" if docks == 1 else "s",
                 shown_store(self.store.url))
        try:
            while not self.stop.is_set():
                if self._safe_turn():
                    break
                if deadline is not None and time.monotonic() > deadline:
                    self.summary.finished = False
                    log.error("stopping: work still left after %s s", timeout)
                    break
        finally:
            self.shutdown()
        return self.summary

    def _open_later(self) -> None:
        """The store-opener thread: until the store opens or the daemon stops. A schema
        of another version, found once the server answers, stops the daemon as it
        would have refused to start."""
        try:
            self.store.keep_opening(self.stop, on_change=self._write_health)
        except StoreError as exc:
            self._write_health(self.store.health())
            log.error("storage: %s; stopping (as at start)", exc)
            self.summary.store_refused = str(exc)
            self.summary.finished = False
            self.stop.set()
            return
        if self.store.opened.is_set():
            self._storage_back()
            self._rescan.set()
            self._changed()

    def _storage_back(self) -> None:
        """The store answers again: what waited for it tries at once (the outbox's
        files, the docked HHUs), not after the rest of its back-off."""
        self.processor.backoff.retry_now()
        self.docks.storage_back()

    def _note_health(self) -> None:
        """Periodic: the store's health written when it changed (a store that failed
        mid-run, or works again). A PostgreSQL server lost mid-run is asked, with one
        cheap read, whether it is back (a SQLite disk that failed a write is not: its
        reads work, and the outbox's back-off finds out)."""
        health = self.store.health()
        if health.state == StoreState.UNAVAILABLE and health.opened and \
                backend_of(self.store.url) == "postgresql":
            try:
                self.store.inputs_seen([])
            except StoreError:
                pass
            health = self.store.health()
        self._write_health(health)

    def _write_health(self, health: StoreHealth) -> None:
        written = self._health_written
        if written is not None and (written.state, written.since, written.attempts) == (
                health.state, health.since, health.attempts):
            return
        self._health_written = health
        write_health(self.config.paths.database, health)

    def _safe_turn(self) -> bool:
        """One turn; True when, with ``once``, the work is done. A fault in it is logged
        and counted, and the daemon goes on.

        The processor keeps every fault to the file it came from; this is the last line,
        for a fault outside any file (a scan, the bookkeeping). A run of them is paced,
        never a hot loop.
        """
        try:
            self._turn()
            finished = self.once and self._finished()
            self._turn_errors = 0
            return finished
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - no input may end the daemon (a
            # panic in a Rust extension is a BaseException)
            self._turn_errors += 1
            self.summary.turn_errors += 1
            log.exception("outbox: a turn failed (%s); going on", type(exc).__name__)
            self.stop.wait(min(30.0, 0.1 * 2 ** min(self._turn_errors, 9)))
            return False

    def _turn(self) -> None:
        due = self.ready.due_in()
        try:
            self.ready.note(*self.events.get(timeout=0.05 if due is None else min(due, 0.05)))
        except queue.Empty:
            pass
        for _ in range(EVENTS_PER_TURN):
            try:
                self.ready.note(*self.events.get_nowait())
            except queue.Empty:
                break
        for path in self.processor.moves_to_retry():   # recorded, not moved: again
            self.ready.requeue(path)
        if self._rescan.is_set() or self.watcher.supervise() or self.ready.scan_due():
            self._rescan.clear()
            self.ready.scan()
        ready = self.ready.ready()
        handled = 0
        batch = max(BATCH, min(BIG_BATCH, len(ready) // 8))
        for outcomes in self.processor.process_many(ready, batch, stop=self.stop.is_set):
            handled += len(outcomes)
            for outcome in outcomes:
                if outcome.status == "deferred":
                    self.ready.requeue(outcome.path, after=self.processor.retry_in())
                    continue
                if outcome.status == "failed" and not self.once:
                    # Left (not even movable aside: rejected/ full or broken): tried again
                    # after its back-off, not only at the next start. (--once ends instead.)
                    wait = self.processor.stuck_retry_in(outcome.path)
                    if wait > 0:
                        self.ready.requeue(outcome.path, after=wait)
                        self.summary.files[outcome.status] += 1
                        continue
                self.ready.done(outcome.path)
                if outcome.status != "gone":
                    self.summary.files[outcome.status] += 1
                    self._changed()
        for path in ready[handled:]:      # stopping: not handled, looked at next start
            self.ready.requeue(path, after=self.processor.retry_in())

    def _finished(self) -> bool:
        if not self.store.opened.is_set():      # nothing can be done yet, nor be done
            return False
        if not self.events.empty() or self.ready.pending or not self.processor.mover.idle():
            return False
        if self.ready.scan() or self.ready.pending:
            return False
        if self.remote.busy() or self.remote.due():
            self.remote.tick()
            return False
        return self.docks.settled(self.generation())

    def shutdown(self) -> None:
        self.stop.set()
        if self.web is not None:
            self.web.stop()
        self.remote.shutdown()      # between meters: a run left midway resumes at start
        self.docks.shutdown()
        if self._opener is not None:     # an attempt under way ends within its wait
            self._opener.join(OPEN_WAIT_S + 5)
        try:
            self.summary.queued_left = sum(r["n"] for r in self.store.status()["queue"])
        except Exception as exc:  # noqa: BLE001 - the summary must not hide the real fault
            log.error("cannot read the queue at shutdown: %s", exc)
        self.watcher.stop()
        try:
            self.processor.close()
            self.store.close()
        finally:
            remove_health(self.config.paths.database)
            self.lock.release()


def _open_store(url: str, *, depot: str):
    """One opening attempt: a server gets :data:`OPEN_WAIT_S` to answer it, and a call
    waits :data:`CALL_WAIT_S` for a connection (the first call after a server is lost
    waits that long before it fails; later ones less, see the PostgreSQL backend)."""
    return open_store(url, depot=depot, open_wait_s=OPEN_WAIT_S, call_wait_s=CALL_WAIT_S)


def _chain(source: Future, target: Future) -> None:
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


def _export_done(upload_id: str, future: Future) -> None:
    if future.cancelled():
        log.error("export of %s not written (stopped first); run hhu-sync export", upload_id)
    elif future.exception() is not None:   # the readings are committed; redo the export
        log.error("export of %s failed: %s (run hhu-sync export)", upload_id,
                  future.exception())


def seed_demo(config: Config, seeds: list[Path]) -> None:
    """Copy example inputs into a fresh outbox (the demo's first run only)."""
    for src in seeds:
        for path in sorted(src.glob("*")):
            if path.suffix in (".toml", ".csv") and path.is_file():
                tmp = config.paths.outbox / f".{path.name}.{secrets.token_hex(8)}.tmp"
                copy_new_file(path, tmp)      # O_EXCL|O_NOFOLLOW: nothing planted is followed
                tmp.rename(config.paths.outbox / path.name)
