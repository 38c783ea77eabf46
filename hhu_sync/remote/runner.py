"""Remote lists executed by the depot: meters on modems, gateways and RS-485 buses.

A list with ``target = "remote"`` is read by the daemon itself, off the cradle loop:
:class:`RemoteRunner` takes each queued remote list (``Store.remote_runs``), begins its
run (the list is ``running``), reads its meters grouped by port, one session at a time a
port (a bus is half duplex and shared; a gateway's serial side is a bus too) and up to
``concurrency`` ports at once, then ends the run, which settles the list ``complete`` or
``partial`` as an HHU's upload would.

Every meter's visit becomes an upload of its own, version 2, checked by
:func:`~hhu_sync.ingest.parse_upload` and committed by ``Store.ingest``: the one path an
HHU's readings take, so readings, intervals, events, VEE findings, exceptions and the
list's settlement are the same. The upload id is derived from the run (its delivery id)
and the meter's place on the list, so a run stopped midway (a daemon killed) resumes
with the meters whose uploads are not held yet, and no meter is stored twice. The
commit is the committer's (``COMMITTERS`` threads), not the session's: a session hands
its meter's visit on and opens its next meter at once; the meter is settled ``done``
once its upload is committed, and the run ends once every visit read is.

Several daemons on one store share a run meter by meter (issue 17, point 5): each meter
is claimed in the database before it is read (``Store.claim_remote_meter``, one live
claim a port of the run, so a bus or gateway still has one session at a time across
depots), the claims' leases are renewed as attempts start (at most once a tenth of the
lease: one renewal covers every meter a runner holds) and at each look of the daemon
(:meth:`RemoteRunner.tick`), and a daemon that dies stops renewing them: once they lapse
another daemon takes its meters over. The run ends when every meter is settled (done or
not visited), by whichever runner settles the last one.

A meter gets a time budget (all its attempts) and bounded retries with back-off; one
that never answers is a ``not_found`` visit, one that answered and then failed every
attempt a ``no_access`` visit (with what it sent, if its registers came through, and a
note). A run has a budget too: meters it leaves are not visited (the list is partial).

Program tasks (a list with ``allow_remote_program`` and a ``maintenance_window``) are
programmed and verified by read-back inside the window only (hhu_sync.remote.program);
outside it they are left (``outside_window``) and the run stays open until the window.
A network port (a modem or gateway) carries up to ``sessions_per_gateway`` sessions at
once, a bus one (hhu_sync.remote.gateways).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from serial import SerialException

from hhu_sync.config import Remote
from hhu_sync.ingest import IngestReport, parse_upload
from hhu_sync.ingest.upload import UploadRefused
from hhu_sync.meterio import DriverSettings, MeterClient, MeterIOError, PasswordRefused
from hhu_sync.meterio.interval_read import DEFAULT_READ_PASSWORD
from hhu_sync.meterio.transport import READ_SLICE_S
from hhu_sync.model.catalog import model_takes_ratios
from hhu_sync.model.meterlist import SINCE_LAST, MeterEntry, MeterList
from hhu_sync.model.window import ZONE_ERRORS, MaintenanceWindow, zone_of
from hhu_sync.profile.wire import encode_event, encode_profile
from hhu_sync.remote.gateways import GatewaySessions, lanes
from hhu_sync.remote.line import GatheringTransport
from hhu_sync.remote.program import (
    OUTSIDE_WINDOW,
    Credentials,
    clock_offset_s,
    credentials,
    program_meter,
    programs,
    set_clock,
    window_gate,
)
from hhu_sync.remote.visit import MeterRead, new_visit, read_meter
from hhu_sync.store.base import ListState, RemoteRun, StorageUnavailable, Store, StoreError
from hhu_sync.store.claim_rules import SETTLED, ClaimState, ClaimVerdict

log = logging.getLogger("hhu_sync.remote")
UPLOAD_PREFIX = "RM"
#: threads that commit the visits of a runner's sessions (ingests queue on the store's
#: writer lock; two let one visit's check overlap another's commit)
COMMITTERS = 2


@dataclass(frozen=True)
class RunSettings:
    """:class:`~hhu_sync.config.Remote` in the runner's terms (seconds)."""

    concurrency: int = 4
    meter_budget_s: float = 120.0
    run_budget_s: float = 3600.0
    retries: int = 2
    backoff_s: float = 5.0
    answer_timeout_s: float = 1.5
    reaction_s: float | None = None      # None: what the meter announces
    lease_s: float = 300.0               # a meter's claim lapses this long unrenewed
    sessions_per_gateway: int = 1         # a network port's sessions at once (a bus: 1)
    clock_tolerance_s: float = 60.0       # a meter clock further off is set (in window)
    #: gateways with a number of their own (port URL -> sessions), over the default
    gateway_sessions: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, remote: Remote) -> RunSettings:
        return cls(concurrency=remote.concurrency, meter_budget_s=remote.meter_budget_seconds,
                   run_budget_s=remote.run_budget_seconds, retries=remote.retries,
                   backoff_s=remote.backoff_seconds,
                   answer_timeout_s=remote.answer_timeout_seconds,
                   lease_s=max(remote.lease_seconds, 2 * remote.poll_seconds),
                   sessions_per_gateway=remote.sessions_per_gateway,
                   clock_tolerance_s=remote.clock_tolerance_seconds,
                   gateway_sessions=remote.gateways)

    @property
    def sessions(self) -> GatewaySessions:
        return GatewaySessions(self.sessions_per_gateway, dict(self.gateway_sessions))


@dataclass
class MeterOutcome:
    serial: str
    port: str
    outcome: str          # the visit's, or "held" (stored by an earlier try of the run,
    #                       or by another runner), "not_visited" (the run's budget, or
    #                       the daemon stopping), "elsewhere" (another runner has it now),
    #                       or "outside_window" (a program task, left for the window)
    attempts: int = 0
    upload_id: str = ""
    notes: str = ""
    clock_offset_s: float | None = None   # the meter's clock minus the depot's, as read


@dataclass
class RunReport:
    """One run of a remote list: each meter's outcome, the ingest reports, the retries."""

    list_id: str
    delivery_id: int
    state: str | None = None          # the list's state after the run (None: not ended)
    hhu_id: str = ""                  # the run's: every visit's upload carries it
    meters: list[MeterOutcome] = field(default_factory=list)
    reports: list[IngestReport] = field(default_factory=list)
    retries: int = 0
    errors: list[str] = field(default_factory=list)

    def outcomes(self) -> dict[str, str]:
        return {m.serial: m.outcome for m in self.meters}


def upload_id_of(delivery_id: int, seq: int, list_id: str) -> str:
    """The upload id of entry ``seq``'s visit in run ``delivery_id``: the same on every
    try of the run (so a resumed run stores nothing twice), new for a new run."""
    return f"{UPLOAD_PREFIX}-{delivery_id}-{seq}-{list_id.replace('..', '-')}"[:64]


def open_serial(url: str) -> Any:
    """A meter's line as IEC 62056-21 starts it: 300 baud, 7E1."""
    import serial

    return serial.serial_for_url(url, baudrate=300, bytesize=7, parity="E",
                                 timeout=READ_SLICE_S)


#: a run that failed as a whole: tried again after this, doubling per failure in a row
RUN_RETRY_FIRST_S = 5.0
RUN_RETRY_MOST_S = 600.0
#: failures in a row after which ``--once`` stops waiting for the run
RUN_GIVE_UP = 3


def next_fire(trigger: Any, last: datetime) -> datetime | None:
    """The cron trigger's next fire after ``last`` (when the list's latest run was
    queued). A wall-clock time the clocks going back repeat fires once, at its first
    coming, as cron runs it: its second coming (fold 1) is passed over when the first
    came after ``last`` too or was served (``"30 1 * * *"`` in London: one run the
    night of 01:30 BST and 01:30 GMT)."""
    due: datetime | None = trigger.get_next_fire_time(None, last)
    for _ in range(4):                   # a repeat is passed over once; bounded anyway
        if due is None:
            return None
        local = due.astimezone(trigger.timezone)
        if not local.fold:
            return due
        first = local.replace(fold=0).astimezone(UTC)
        if first >= due:                 # no repeat (fold 1 without a first coming)
            return due
        # every fire until the repeated hour ends is a repeat; asked from inside it the
        # trigger (wall clock, blind to fold) gives the same fire again: ask from after
        due = trigger.get_next_fire_time(None, due + (due - first))
    return due


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class _Stopped(Exception):
    """The runner is stopping: the meter is left for the run's resumption."""


class _Commits:
    """One run's visits handed to the committer: waited for before the run ends."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.storage_failed = threading.Event()   # a commit met a storage fault
        self._futures: list[Future] = []

    def submit(self, pool: ThreadPoolExecutor, commit: Callable[[], None]) -> Future:
        future = pool.submit(commit)
        with self.lock:
            self._futures.append(future)
        return future

    @staticmethod
    def wait(future: Future | None) -> None:
        """Until ``future``'s commit is over (its fault, if any, is the run's to raise)."""
        if future is not None:
            wait([future])

    def join(self) -> None:
        """Every commit over; a commit's unexpected fault raised (as a session's is)."""
        with self.lock:
            futures = list(self._futures)
        for future in futures:
            future.result()


class RemoteRunner:
    """Runs remote lists on threads of its own; ``tick`` (the daemon's job) starts them."""

    def __init__(self, store: Store, *, runner_id: str, settings: RunSettings | None = None,
                 secret: Callable[[str], str] | None = None,
                 committed: Callable[[str, str], None] | None = None,
                 open_port: Callable[[str], Any] = open_serial,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = _now,
                 takes_ratios: Callable[[str | None], bool] = model_takes_ratios) -> None:
        self.store = store
        self.runner_id = runner_id
        self.settings = settings or RunSettings()
        self.secret = secret
        self.committed = committed
        self.open_port = open_port
        self.clock = clock
        self.now = now
        self.takes_ratios = takes_ratios
        #: runs left open for their maintenance window: not started again before it opens
        self._deferred: dict[int, MaintenanceWindow] = {}
        #: runs that failed (an error out of the run, not a meter's): failures in a row
        #: and the clock() before which the run is not started again
        self._failing: dict[int, tuple[int, float]] = {}
        self.failures = 0                         # runs that failed, in all
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._active: dict[int, Future] = {}
        self._storage_failing = False             # poll's last look met a storage fault
        self._renew_lock = threading.Lock()
        self._renewed: float | None = None        # clock() at the last attempt's renewal
        self.finished: list[RunReport] = []       # the latest runs, newest last
        self._lists = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remote-list")
        self._ports = ThreadPoolExecutor(max_workers=max(1, self.settings.concurrency),
                                         thread_name_prefix="remote-port")
        #: each read meter's visit is checked, ingested and its claim settled here, off
        #: its session's thread: the session's line goes on to its next meter at once
        self._commits = ThreadPoolExecutor(max_workers=COMMITTERS,
                                           thread_name_prefix="remote-commit")

    # -- the daemon's side ----------------------------------------------------------

    def tick(self) -> int:
        """Start every remote list due (queued, or begun by this runner and not ended);
        returns how many were started. Never blocks on a run."""
        started = 0
        self.fire_schedules()
        self.renew()
        for run in self.store.remote_runs():
            if run.waits or self._waiting(run):
                continue             # a schedule's first run, or a window still closed
            with self._lock:
                if run.delivery_id in self._active or self.stop.is_set():
                    continue
                try:
                    self._active[run.delivery_id] = self._lists.submit(self._guarded, run)
                except RuntimeError:         # shut down
                    return started
            started += 1
        return started

    def fire_schedules(self) -> list[str]:
        """Requeue each scheduled list whose next fire time after its latest run was
        queued has passed (a new run); the lists fired. Fires missed while the daemon was
        down are caught up once, not one run each (coalesced): the requeue moves the
        list's latest queueing to now. A list running is left to end first (one run of
        a list at a time); its fire is then caught up once at a later look."""
        from apscheduler.triggers.cron import CronTrigger

        now = self.now()
        fired = []
        for list_id, cron, state, queued, zone in self.store.remote_schedules():
            if state == ListState.RUNNING or not queued:
                continue
            try:        # the cron's hours are the list's zone's wall clock (UTC if none)
                trigger = CronTrigger.from_crontab(cron, timezone=zone_of(zone))
                last = datetime.fromisoformat(queued)
            except (ValueError, *ZONE_ERRORS) as exc:  # checked at input: a hand edit
                log.error("remote list %s: schedule %r (zone %r) not usable: %s", list_id,
                          cron, zone, exc)
                continue
            last = last if last.tzinfo is not None else last.replace(tzinfo=UTC)
            due = next_fire(trigger, last)
            if due is None or due > now:
                continue
            self.store.requeue_list(list_id, now.isoformat())
            log.info("remote list %s: scheduled run (%s, due %s)", list_id, cron,
                     due.isoformat())
            fired.append(list_id)
        return fired

    def renew(self) -> int:
        """A fresh lease on every meter this runner holds: this daemon is alive (the
        claims of one that died lapse, and other daemons take its meters over)."""
        return self.store.renew_remote_claims(self.runner_id, self._at(),
                                              self.settings.lease_s)

    def _renew_at_attempt(self) -> None:
        """:meth:`renew` as a meter's attempt starts, at most once a tenth of the lease:
        one renewal covers every meter this runner holds, whichever session starts it
        (a meter's claim has a fresh lease of its own from the claim)."""
        at = self.clock()
        with self._renew_lock:
            if self._renewed is not None and at - self._renewed < self.settings.lease_s / 10:
                return
            self._renewed = at
        try:
            self.renew()
        except BaseException:
            with self._renew_lock:       # not renewed: the next attempt tries again
                if self._renewed == at:
                    self._renewed = None
            raise

    def _at(self) -> float:
        return self.now().timestamp()

    def poll(self) -> None:
        """:meth:`tick`, as the daemon's periodic job. The storage down (a database
        that does not answer) is one line when it starts and one when it ends, not a
        traceback every look: the lists wait in the store, looked at again next time."""
        try:
            self.tick()
        except StorageUnavailable as exc:
            if not self._storage_failing:
                log.warning("remote lists: storage unavailable (%s); looked for again "
                            "at every poll", exc)
            self._storage_failing = True
            return
        if self._storage_failing:
            log.info("remote lists: storage usable again")
            self._storage_failing = False

    def busy(self) -> bool:
        with self._lock:
            return bool(self._active)

    def due(self) -> bool:
        """Whether any remote run waits to be worked now (``--once`` waits for them;
        not for a schedule's next fire, nor for a maintenance window still closed, nor
        for a run that failed RUN_GIVE_UP times in a row): queued, or running here or on
        another depot."""
        given_up = set(self.given_up())
        return any(not r.waits and not self._window_closed(r) and r.delivery_id not in
                   given_up for r in self.store.remote_runs())

    def _waiting(self, run: RemoteRun) -> bool:
        """A run left open for program tasks whose maintenance window is still closed,
        or one that failed lately (tried again after its back-off; ``--once`` does not
        wait for a run that failed :data:`RUN_GIVE_UP` times in a row)."""
        if self._window_closed(run):
            return True
        with self._lock:
            failing = self._failing.get(run.delivery_id)
        return failing is not None and self.clock() < failing[1]

    def _window_closed(self, run: RemoteRun) -> bool:
        window = self._deferred.get(run.delivery_id)
        return window is not None and not window.contains(self.now())

    def given_up(self) -> list[int]:
        """Runs that failed :data:`RUN_GIVE_UP` times in a row (they stay queued: a later
        look, or the next daemon, tries them again)."""
        with self._lock:
            return [d for d, (n, _) in self._failing.items() if n >= RUN_GIVE_UP]

    def shutdown(self) -> None:
        """Stop between meters: a run left midway resumes at the next start."""
        self.stop.set()
        self._lists.shutdown(wait=True, cancel_futures=True)
        self._ports.shutdown(wait=True, cancel_futures=True)
        self._commits.shutdown(wait=True)        # a meter read is stored, not dropped

    def _guarded(self, run: RemoteRun) -> RunReport | None:
        try:
            report = self.run(run)
        except Exception as exc:  # noqa: BLE001 - one list's fault must not end the runner
            with self._lock:
                self.failures += 1
                in_a_row = self._failing.get(run.delivery_id, (0, 0.0))[0] + 1
                wait = min(RUN_RETRY_MOST_S, RUN_RETRY_FIRST_S * 2 ** min(in_a_row - 1, 16))
                self._failing[run.delivery_id] = (in_a_row, self.clock() + wait)
            log.exception("remote list %s: run %d failed (%s, %d in a row); tried again in "
                          "%g s", run.list_id, run.delivery_id, type(exc).__name__,
                          in_a_row, wait)
            return None
        else:
            with self._lock:
                self._failing.pop(run.delivery_id, None)
            return report
        finally:
            with self._lock:
                self._active.pop(run.delivery_id, None)

    # -- one run ------------------------------------------------------------------------

    def run(self, run: RemoteRun) -> RunReport | None:
        """Work one run of a remote list (begin it, or join it: other runners may work
        it too); None when it is not (any longer) running. The report's ``state`` is
        None while meters are left (held by another runner, or stopped midway)."""
        stamp = self.now().isoformat()
        hhu_id = self.store.begin_remote_run(run.delivery_id, self.runner_id, stamp)
        if hhu_id is None:
            return None
        mlist = self.store.get_list(run.list_id)
        report = RunReport(run.list_id, run.delivery_id, hhu_id=hhu_id)
        if mlist is None:
            return None
        deadline = self.clock() + self.settings.run_budget_s
        groups: dict[str, list[tuple[int, MeterEntry]]] = {}
        for seq, entry in enumerate(mlist.meters):
            groups.setdefault(entry.port or "", []).append((seq, entry))
        lock = threading.Lock()
        # meters settled already (by an earlier pass, or another runner) cost no claim
        settled_before = {c.seq: c.state for c in self.store.remote_claims(run.delivery_id)
                          if c.state in SETTLED}
        pending = {port: [(seq, e) for seq, e in items if seq not in settled_before]
                   for port, items in groups.items()}
        commits = _Commits(lock)
        futures = [self._ports.submit(self._read_port, mlist, run.delivery_id, port, queue,
                                      deadline, report, commits)
                   for port, queue in lanes({p: i for p, i in pending.items() if i},
                                            self.settings.sessions)]
        report.meters.extend(
            MeterOutcome(e.serial, e.port or "",
                         "held" if settled_before[seq] == ClaimState.DONE else "not_visited",
                         upload_id=upload_id_of(run.delivery_id, seq, mlist.id))
            for seq, e in enumerate(mlist.meters) if seq in settled_before)
        wait(futures)                   # every session ended, whichever way
        commits.join()                  # every visit read is committed (or refused) ...
        for future in futures:
            future.result()             # ... before a session's failure goes on up
        if self.stop.is_set() or any(e.startswith("storage:") for e in report.errors):
            if self.stop.is_set():       # the meters it holds are free at once
                self.store.release_remote_claims(run.delivery_id, self.runner_id)
            log.warning("remote list %s: run %d stopped midway; resumed at the next look",
                        run.list_id, run.delivery_id)
            return report
        waiting = sum(1 for m in report.meters if m.outcome == OUTSIDE_WINDOW)
        if waiting and mlist.window is not None:
            # their claims freed (not settled): the pass in the window claims them again
            self.store.release_remote_claims(run.delivery_id, self.runner_id)
            self._deferred[run.delivery_id] = mlist.window
            log.info("remote list %s: run %d waits for its maintenance window %s (%d "
                     "meter(s) to program)", run.list_id, run.delivery_id,
                     mlist.window.shown(), waiting)
            return report
        self._deferred.pop(run.delivery_id, None)
        settled = sum(1 for c in self.store.remote_claims(run.delivery_id)
                      if c.state in SETTLED)
        if settled < len(mlist.meters):  # another runner's meters, or a lapsed claim
            log.info("remote list %s: run %d: %d of %d meters settled; the rest are "
                     "another runner's", run.list_id, run.delivery_id, settled,
                     len(mlist.meters))
            return report
        report.state = self.store.end_remote_run(run.list_id, self.now().isoformat())
        counts: dict[str, int] = {}
        for m in report.meters:
            counts[m.outcome] = counts.get(m.outcome, 0) + 1
        log.info("remote list %s: run %d %s: %s; %d retries", run.list_id, run.delivery_id,
                 report.state, ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
                 report.retries)
        self.finished.append(report)
        del self.finished[:-32]
        return report

    def _read_port(self, mlist: MeterList, delivery_id: int, port: str,
                   items: Iterable[tuple[int, MeterEntry]], deadline: float,
                   report: RunReport, commits: _Commits) -> None:
        """One session's meters of a port, one after the other (a bus has one session;
        a gateway's sessions share one queue of its meters), each claimed first: one
        another runner holds is left to it.

        A meter read is handed to the committer (its visit ingested, then its claim
        settled ``done``: counted done only once committed) and the session goes on to
        its next meter at once. The meters of one session are committed in order: a
        read is handed on once the session's previous one is committed, and a read
        that ends after the depot was told to stop is not stored (the run resumes with
        it), so a stop still comes between meters."""
        lock = commits.lock
        previous: Future | None = None
        for seq, entry in items:
            upload_id = upload_id_of(delivery_id, seq, mlist.id)
            outcome = MeterOutcome(entry.serial, port, "not_visited", upload_id=upload_id)
            commit: Callable[[], None] | None = None
            try:
                if self.stop.is_set():
                    outcome.notes = "the depot stopped"
                elif commits.storage_failed.is_set():
                    return        # the run is resumed once the storage is back
                else:
                    commit = self._claimed_meter(mlist, delivery_id, seq, entry, port,
                                                 outcome, deadline, report, commits)
                    if commit is not None:
                        commits.wait(previous)
                        if self.stop.is_set():
                            raise _Stopped
                        if commits.storage_failed.is_set():   # not stored: read again
                            outcome.outcome = "not_visited"
                            outcome.notes = "not stored: the storage failed"
                            with lock:
                                report.meters.append(outcome)
                            return
            except StorageUnavailable as exc:
                with lock:
                    report.errors.append(f"storage: {exc}")
                    report.meters.append(outcome)
                commits.storage_failed.set()
                return            # the run is resumed once the storage is back
            except _Stopped:
                outcome.outcome, outcome.notes = "not_visited", "the depot stopped"
                commit = None
            if commit is None:
                with lock:
                    report.meters.append(outcome)
            else:
                previous = commits.submit(self._commits, commit)

    def _claimed_meter(self, mlist: MeterList, delivery_id: int, seq: int,
                       entry: MeterEntry, port: str, outcome: MeterOutcome, deadline: float,
                       report: RunReport, commits: _Commits) -> Callable[[], None] | None:
        """One meter: claimed, then read (or found held, or left to the run's budget),
        then settled; BUSY leaves it to the runner that has it. A meter read is not
        settled here: what it returns commits its visit, then settles it (the caller
        has it run by the committer)."""
        verdict = self.store.claim_remote_meter(
            delivery_id, seq, serial=entry.serial, port=port, runner=self.runner_id,
            at=self._at(), lease_s=self.settings.lease_s)
        if verdict == ClaimVerdict.BUSY:
            outcome.outcome, outcome.notes = "elsewhere", "another runner has it or its port now"
            return None
        if verdict == ClaimVerdict.SETTLED:
            outcome.outcome = "held" if self.store.upload_held(outcome.upload_id) \
                else "not_visited"
            return None
        if self.store.upload_held(outcome.upload_id):
            outcome.outcome = "held"
            self._settle(delivery_id, seq, outcome, ClaimState.DONE)
            return None
        if self.clock() >= deadline:
            outcome.notes = "the run's budget was spent"
            self._settle(delivery_id, seq, outcome, ClaimState.SKIPPED)
            return None
        # _Stopped goes on up: its claim is released with the run's
        visit = self._meter(mlist, entry, port, outcome, deadline, report, commits.lock)
        if visit is None:
            return None       # outside its window, not settled: freed with the run's pass

        def commit() -> None:
            try:
                stored = self._commit(visit, outcome.upload_id, report, commits.lock,
                                      hhu_id=report.hhu_id)
                # not stored: SKIPPED (the report says why)
                self._settle(delivery_id, seq, outcome,
                             ClaimState.DONE if stored else ClaimState.SKIPPED)
            except StorageUnavailable as exc:
                with commits.lock:
                    report.errors.append(f"storage: {exc}")
                commits.storage_failed.set()     # the run is resumed once it is back
            finally:
                with commits.lock:
                    report.meters.append(outcome)
        return commit

    def _settle(self, delivery_id: int, seq: int, outcome: MeterOutcome,
                state: ClaimState) -> None:
        self.store.settle_remote_meter(
            delivery_id, seq, self.runner_id, state=state, outcome=outcome.outcome,
            attempts=outcome.attempts, upload_id=outcome.upload_id, notes=outcome.notes,
            at=self._at())

    def _meter(self, mlist: MeterList, entry: MeterEntry, port: str, outcome: MeterOutcome,
               run_deadline: float, report: RunReport, lock: threading.Lock
               ) -> dict[str, Any] | None:
        """Read one meter (attempts within its budget): the visit to commit (None: a
        program task outside its window, not visited)."""
        s = self.settings
        program: Credentials | None = None
        if programs(entry):
            closed = window_gate(mlist, self.now())
            if closed is not None:        # not visited: left for the window
                outcome.outcome, outcome.notes = OUTSIDE_WINDOW, closed
                return None
            program = credentials(entry, self.store.scheme(entry.scheme) if entry.scheme
                                  else None, self.secret, self.takes_ratios)
        deadline = min(self.clock() + s.meter_budget_s, run_deadline)
        password, why_not = self._password(entry)
        since = self._since(entry)
        sign_on = entry.device_address or entry.serial
        best: MeterRead | None = None
        answered = False
        last = ""
        refused: str | None = None
        while True:
            outcome.attempts += 1
            self._renew_at_attempt()     # the claims' leases, as attempts go on
            read = MeterRead(new_visit(entry, mlist.id, self.now()))
            left = deadline - self.clock()
            try:
                line = self.open_port(port)
            except (SerialException, OSError, ValueError) as exc:
                last = f"cannot open {port}: {exc}"
            else:
                client = MeterClient(GatheringTransport(line), DriverSettings(
                    answer_timeout_s=s.answer_timeout_s, budget_s=max(0.5, left),
                    exchange_timeout_s=max(0.5, left), reaction_s=s.reaction_s))
                try:
                    read_meter(client, entry, read, sign_on=sign_on, password=password,
                               since=since)
                    if program is not None:
                        read.programmed = program_meter(client, sign_on, program)
                    self._clock(mlist, entry, client, read, sign_on, program)
                except PasswordRefused as exc:
                    refused = f"load profile not read: the meter refused the password ({exc})"
                except (MeterIOError, SerialException, OSError) as exc:
                    last = f"{type(exc).__name__}: {exc}"
                finally:
                    answered = answered or read.registers_read or any(
                        c.bytes_received > c.echo_bytes for c in client.stats.connections)
                    try:
                        line.close()
                    except (SerialException, OSError):
                        pass
            if read.registers_read and (best is None or read.intervals_read
                                        or not best.registers_read):
                best = read
            if (read.intervals_read and (program is None or read.programmed is not None)) \
                    or refused is not None:
                break
            if program is not None and window_gate(mlist, self.now()) is not None:
                last += "; the maintenance window closed"
                break
            wait = s.backoff_s * 2 ** (outcome.attempts - 1)
            if outcome.attempts > s.retries or self.clock() + wait >= deadline:
                break
            with lock:
                report.retries += 1
            log.info("remote list %s: meter %s at %s: %s; again in %g s", mlist.id,
                     entry.serial, port, last, wait)
            if self.stop.wait(wait):
                raise _Stopped
        visit = self._visit(entry, mlist, port, best, answered, refused, why_not, last,
                            outcome.attempts)
        if best is not None and program is not None:
            self._programmed(visit, best, program, outcome.attempts, last)
        if best is not None:
            offset = clock_offset_s(best.visit.get("meter_clock"),
                                    datetime.fromisoformat(best.visit["time"]))
            outcome.clock_offset_s = offset
            if best.clock_note:
                visit["notes"] = "; ".join(n for n in (visit["notes"], best.clock_note) if n)
        outcome.outcome, outcome.notes = visit["outcome"], visit["notes"]
        return visit

    def _visit(self, entry: MeterEntry, mlist: MeterList, port: str, best: MeterRead | None,
               answered: bool, refused: str | None, why_not: str | None, last: str,
               attempts: int) -> dict[str, Any]:
        where = f"{port}" + (f" address {entry.device_address}" if entry.device_address
                             else "")
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if best is None:
            visit = new_visit(entry, mlist.id, self.now())
            if answered:
                return {**visit, "outcome": "no_access",
                        "notes": f"remote: the meter at {where} answered but no readout "
                                 f"came through in {tries}: {last}"}
            return {**visit, "outcome": "not_found",
                    "notes": f"remote: no meter answered at {where} in {tries} within its "
                             f"budget ({last or 'silence'})"}
        visit = best.visit
        notes = []
        if refused is not None:
            visit["outcome"] = "password_rejected"
            notes.append(refused)
        elif why_not is not None and (entry.profile or entry.events):
            notes.append(f"load profile not read: {why_not}")
        elif not best.intervals_read:
            notes.append(f"load profile not read in {tries}: {last}")
        if best.profiles:
            visit["profiles"] = [encode_profile(p) for p in best.profiles]
        if best.events:
            visit["events"] = [encode_event(e) for e in best.events]
        visit["notes"] = "; ".join(notes)
        return visit

    def _commit(self, visit: dict[str, Any], upload_id: str, report: RunReport,
                lock: threading.Lock, *, hhu_id: str) -> bool:
        """The visit as an upload of its own, checked and ingested as an HHU's is; it
        carries the run's hhu id (the runner that began it), whoever read the meter.
        Whether it is stored (now, or held already)."""
        payload = {"version": 2, "upload_id": upload_id, "hhu_id": hhu_id,
                   "operator": "remote", "lists": [visit["list"]], "visits": [visit]}
        raw = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        received = self.now()
        try:
            upload = parse_upload(payload, upload_id=upload_id, hhu_id=hhu_id,
                                  sha256=hashlib.sha256(raw).hexdigest(),
                                  received_at=received)
            ingested = self.store.ingest(upload, received.isoformat())
        except (UploadRefused, ValueError, StoreError) as exc:
            if isinstance(exc, StorageUnavailable):
                raise
            with lock:
                report.errors.append(f"{upload_id}: not stored: {exc}")
            log.error("remote: upload %s not stored: %s", upload_id, exc)
            return False
        with lock:
            report.reports.append(ingested)
        if self.committed is not None and not ingested.already_held:
            self.committed(upload_id, hhu_id)
        return True

    @staticmethod
    def _programmed(visit: dict[str, Any], best: MeterRead, program: Credentials,
                    attempts: int, last: str) -> None:
        """A program task's visit: what its programming gave, as an HHU's visit says it
        (``done`` + ``verify = ok`` only when read back); not programmed in its attempts
        (the line failed each time): ``verify_failed``."""
        got = best.programmed
        if got is None:
            scheme = program.scheme.id if program.scheme else None
            got = {"outcome": "verify_failed", "verify": "failed", "scheme": scheme,
                   "notes": f"not programmed in {attempts} attempt"
                            f"{'s' if attempts != 1 else ''}: {last}"}
        notes = "; ".join(n for n in (visit.get("notes", ""), got.get("notes", "")) if n)
        visit.update(got)
        visit["notes"] = notes

    def _clock(self, mlist: MeterList, entry: MeterEntry, client: MeterClient,
               read: MeterRead, sign_on: str, program: Credentials | None) -> None:
        """The meter's clock against the depot's: further off than the tolerance, it is
        set when the list allows programming and its window is open, else noted. A line
        lost while setting it leaves the readings (the note says so)."""
        offset = clock_offset_s(read.visit.get("meter_clock"),
                                datetime.fromisoformat(read.visit["time"]))
        if offset is None or abs(offset) <= self.settings.clock_tolerance_s:
            return
        way = "fast" if offset > 0 else "slow"
        if mlist.window is None:
            return                                   # checked only: VEE finds it off
        if (closed := window_gate(mlist, self.now())) is not None:
            read.clock_note = f"clock {abs(offset):.0f} s {way}, not set: {closed}"
            return
        password = program.password if program is not None else None
        if password is None and entry.read_password_ref and self.secret is not None:
            try:
                password = self.secret(entry.read_password_ref)
            except Exception:  # noqa: BLE001 - a key store fault is this meter's only
                password = None
        if password is None:
            read.clock_note = (f"clock {abs(offset):.0f} s {way}, not set: no password that "
                               "writes (a program task's scheme, or read_password_ref)")
            return
        try:
            read.clock_note = set_clock(client, sign_on, password, offset, self.now).note
        except (MeterIOError, SerialException, OSError) as exc:
            read.clock_note = f"clock {abs(offset):.0f} s {way}, not set: the line failed " \
                              f"({type(exc).__name__}: {exc})"

    def _password(self, entry: MeterEntry) -> tuple[str | None, str | None]:
        """The password profile reads open the meter with, or None and why not."""
        if not (entry.profile or entry.events):
            return None, None
        if entry.read_password_ref is None:
            return DEFAULT_READ_PASSWORD, None
        if self.secret is None:
            return None, f"no key store to open {entry.read_password_ref} with"
        try:
            return self.secret(entry.read_password_ref), None
        except (KeyError, ValueError, OSError, StoreError) as exc:
            return None, f"the reading password {entry.read_password_ref} is not held ({exc})"
        except Exception as exc:  # noqa: BLE001 - a key store error is this meter's only
            return None, f"the reading password {entry.read_password_ref}: {exc}"

    def _since(self, entry: MeterEntry) -> str | None:
        """``since = "last"``: the end of the last interval the depot holds, per meter."""
        if entry.since != SINCE_LAST:
            return entry.since
        ends = self.store.last_interval_ends(entry.serial)
        if not ends:
            return None
        return datetime.fromtimestamp(min(ends.values()), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
