"""One docking, start to end: authenticate, unload the readings, load what is queued,
and let the HHU clear what was committed.

Order matters for "nothing lost": an upload is acknowledged (and so deleted by the HHU)
only after the store committed it; a bundle counts as delivered only after the HHU
confirmed its atomic commit. Readings come first (the crew's day is safe before anything
else), are checked and committed while the bundles travel, and are acknowledged after
that, or before a bundle that needs the flash they hold. Every step is bounded in time.

A docking is a coroutine on the daemon's one event loop (every cradle's docking shares
it). It never blocks that loop: the link is the pump's (non-blocking reads and writes on
the port's descriptor), and every call that may block goes to a thread through
:meth:`Session._off` (store calls, the unload report, packing, the key store look-up of
the pull, opening and closing the port) or is awaited as a future of another executor
(an upload's check in a worker process, its commit on the daemon's committer). What
runs on the loop is link bookkeeping and this procedure, microseconds a step; the one
exception left is the key look-up the link core makes in the handshake (one ``fstat`` of
a cached key file, tens of microseconds, once a docking). A committed upload is
announced as an :class:`UploadCommitted` event; what follows (billing's export) is the
daemon's business, not the docking's.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from serial import SerialBase

from hhu_sync.config import Config, Dock
from hhu_sync.dock.events import (
    BundleDelivered,
    Direction,
    EventHub,
    HhuAuthenticated,
    Phase,
    PhaseChanged,
    SessionEnded,
    TransferProgress,
    UploadAcknowledged,
    UploadCommitted,
)
from hhu_sync.dock.readings import UploadDecoder, UploadRefused, gc_paused
from hhu_sync.errors import HhuSyncError
from hhu_sync.failpoints import failpoint
from hhu_sync.fsutil import DAEMON_DIR_MODE, atomic_write, ensure_dir
from hhu_sync.ids import RULE as ID_RULE
from hhu_sync.ids import is_safe_name
from hhu_sync.ingest.upload import IngestReport
from hhu_sync.io.dock import AuthFailed, DockSession, Refused, VersionRejected
from hhu_sync.io.errors import LinkCut, LinkTimedOut
from hhu_sync.io.ports import PortError, open_port
from hhu_sync.io.pump import streaming_gather
from hhu_sync.io.versions import VersionMemory
from hhu_sync.link import HelloInfo, LinkSettings, Progress, ReasonCode
from hhu_sync.link.messages import MIN_PROTOCOL_VERSION, PROTOCOL_VERSION
from hhu_sync.packing import Packer, PackError
from hhu_sync.store.base import StorageUnavailable

log = logging.getLogger("hhu_sync.dock")
T = TypeVar("T")
PROGRESS_EVERY_S = 0.25   # a transfer's progress is published this often (and at its end)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


MAX_UNACKNOWLEDGED = 4   # uploads held in memory between their transfer and their ack


#: Upload version 2's counts in the unload report, summed over its uploads
#: (``vee_findings``: validation findings on the intervals, an exception each).
INTERVAL_COUNTS = ("intervals_stored", "intervals_already_held", "interval_conflicts",
                   "vee_findings", "events_stored", "events_already_held")
#: refusals that acknowledged uploads may cure: a full flash, or no code (a version-1 HHU)
ROOM_REFUSALS = frozenset({ReasonCode.FLASH_FULL, ReasonCode.UNSPECIFIED})


@dataclass
class _Pulled:
    """An upload taken from the HHU, its commit under way, not yet acknowledged."""

    upload_id: str
    data: bytes
    key: bytes
    commit: Future


class Outcome(StrEnum):
    """How a docking ended; the values are what the store and status show."""

    EMPTY = "empty"              # nothing docked / no HHU answered
    UNPLUGGED = "unplugged"      # the dock manager: the cradle's port is gone
    IDLE = "idle"                # authenticated, nothing to move
    DONE = "done"                # everything moved without an error
    AUTH_FAILED = "auth_failed"  # a proof failed, or the HHU is not enrolled
    CUT = "cut"                  # the line went away
    TIMEOUT = "timeout"          # silence: the HHU or the session ran out of time
    ERROR = "error"              # anything else (a refusal, storage, a bad upload)


@dataclass
class SessionResult:
    dock: str
    outcome: Outcome = Outcome.EMPTY
    hhu_id: str | None = None
    pushed: list[str] = field(default_factory=list)
    pulled: list[str] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: uploads refused and left on the HHU: upload id → RefusalReason value (the code a
    #: report or a clerk acts on; the wording is in ``errors``)
    refused: dict[str, str] = field(default_factory=dict)
    #: ended by a storage fault (disk full, read-only, I/O error): the dock manager backs
    #: off and logs the state change once, not each session's error
    storage_unavailable: bool = False
    #: 1 when this docking fell back to version 1 for an HHU refusing a version-2 HELLO
    fallbacks: int = 0

    @property
    def did_work(self) -> bool:
        return bool(self.pushed or self.pulled or self.errors)


class HhuKeys(Protocol):
    """What a session needs of the key store: the key of the HHU it meets."""

    def hhu_key(self, hhu_id: str) -> bytes | None: ...


class Session:
    """One docking on an event loop: ``await session.run()``. ``blocking`` runs what may
    block (None: the loop's default executor); ``events`` hears what it does, an
    ``UploadCommitted`` for each upload the store committed among them, on the loop."""

    def __init__(self, dock: Dock, url: str, config: Config, store, keystore: HhuKeys,
                 packer: Packer, stop: threading.Event | None = None,
                 events: EventHub | None = None,
                 decoder: UploadDecoder | None = None,
                 committer: Executor | None = None,
                 versions: VersionMemory | None = None,
                 blocking: Executor | None = None,
                 ports: Executor | None = None) -> None:
        self.dock = dock
        self.url = url
        self.config = config
        self.store = store
        self.keystore = keystore
        self.packer = packer
        self.stop = stop or threading.Event()
        self.events = events or EventHub()   # what the docking tells the world
        self._progress_at: dict[str, float] = {}   # object id -> when last published
        self.decoder = decoder or UploadDecoder(inline=True)
        self.committer = committer      # commits uploads (None: on ``blocking``)
        self.blocking = blocking
        #: opens and closes ports (None: ``blocking``): pyserial's socket:// close sleeps
        #: 0.3 s, which must not hold the threads the store calls wait for
        self.ports = ports or blocking
        link = config.link
        #: per cradle: the version to offer (the manager shares one across dockings)
        self.versions = versions or VersionMemory(link.fallback_hours * 3600.0,
                                                  link.fallback_dockings)
        self.result = SessionResult(dock.name)
        self.port: SerialBase | None = None
        self.link: DockSession | None = None    # the link of this docking, once open
        self._deadline = float("inf")
        self._session_id: int | None = None   # the sessions row, once work has begun
        self._answered = False    # something answered on the line: a docking began
        self._last_phase: Phase | None = None

    def _publish(self, event_type: type, **values: Any) -> None:
        self.events.publish(event_type(dock=self.dock.name, at=time.time(), **values))

    def _answered_now(self) -> None:
        """The first bytes on the line: an HHU is there (an empty cradle says nothing,
        and its polls publish nothing)."""
        if not self._answered:
            self._answered = True
            self._phase(Phase.AUTHENTICATING)

    def _phase(self, phase: Phase) -> None:
        """A change of phase (a second bundle in a row is no news)."""
        if phase is not self._last_phase:
            self._last_phase = phase
            self._publish(PhaseChanged, phase=phase, hhu_id=self.result.hhu_id)

    def _on_event(self, event: Any) -> None:
        if isinstance(event, Progress) and event.total:
            now = time.monotonic()
            last = self._progress_at.get(event.object_id)
            if last is None or now - last >= PROGRESS_EVERY_S or event.done >= event.total:
                self._progress_at[event.object_id] = now
                self._publish(TransferProgress, hhu_id=self.result.hhu_id or "",
                              direction=(Direction.DOWN if event.direction == "put"
                                         else Direction.UP),
                              object_id=event.object_id, done=event.done, total=event.total)

    async def _off(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on a thread: whatever may block stays off the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.blocking,
                                          functools.partial(fn, *args, **kwargs))

    async def _on_ports(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.ports, functools.partial(fn, *args, **kwargs))

    async def run(self) -> SessionResult:
        started = _now()
        try:
            result = await self._run()
        except BaseException as exc:   # a bug: the manager logs it; the row must not stay
            if self._session_id is not None:   # running, or status shows it docked
                self.result.outcome = Outcome.ERROR
                self.result.errors.append(repr(exc))
                await asyncio.shield(self._off(self._report, started, self.result))
            raise
        if self._session_id is not None or (result.hhu_id is not None and result.did_work):
            await self._off(self._report, started, result)
        if result.hhu_id is not None or result.outcome is not Outcome.EMPTY \
                or self._answered:
            self._publish(SessionEnded, hhu_id=result.hhu_id, outcome=result.outcome.value,
                          errors=tuple(result.errors))
        return result

    async def _begin(self, hhu: str) -> None:
        """Record the session as running before its first transfer: ``status`` shows the
        HHU docked now while one long transfer runs (the row is ended by the report).
        Only a docking that moves something gets a row, not every idle poll."""
        if self._session_id is None:
            self._session_id = await self._off(self.store.start_session, self.dock.name,
                                               _now(), hhu_id=hhu)

    def _report(self, started: str, result: SessionResult) -> None:
        """The unload report: in the sessions table and as a file beside the exports."""
        failed: dict[str, int] = {}
        for r in result.reports:
            for outcome, n in r["failed_visits"].items():
                failed[outcome] = failed.get(outcome, 0) + n
        report = {
            "dock": self.dock.name, "hhu": result.hhu_id, "started": started, "ended": _now(),
            "outcome": result.outcome, "bundles_pushed": result.pushed,
            "uploads_pulled": result.pulled,
            "readings_stored": sum(r["readings_stored"] for r in result.reports),
            "readings_already_held": sum(r["readings_already_held"] for r in result.reports),
            "readings_rejected": sum(r.get("readings_rejected", 0) for r in result.reports),
            "readings_not_billable": sum(r.get("readings_not_billable", 0)
                                         for r in result.reports),
            "not_on_list": sum(r["not_on_list"] for r in result.reports),
            "already_read_by_another_hhu": sum(r["already_read"] for r in result.reports),
            "conflicts": sum(r["conflicts"] for r in result.reports),
            "failed_visits": failed,
            "visits_with_notes": sum(r["visits_with_notes"] for r in result.reports),
            **{name: sum(r.get(name, 0) for r in result.reports) for name in INTERVAL_COUNTS},
            "uploads_refused": result.refused,
            "errors": result.errors,
        }
        try:
            session_id = self._session_id
            if session_id is None:
                session_id = self.store.start_session(self.dock.name, started,
                                                      hhu_id=result.hhu_id)
            self.store.end_session(session_id, hhu_id=result.hhu_id, outcome=result.outcome,
                                   pushed=len(result.pushed), pulled=len(result.pulled),
                                   report=report, now=report["ended"])
            folder = self.config.paths.exports / "reports"
            ensure_dir(folder, DAEMON_DIR_MODE)
            atomic_write(folder / f"session-{session_id:06d}-{result.hhu_id}.json",
                         json.dumps(report, indent=2).encode())
        except StorageUnavailable as exc:   # the manager logs the storage's state once
            log.debug("dock %s: unload report not written: %s", self.dock.name, exc)
        except (HhuSyncError, OSError) as exc:
            log.error("dock %s: unload report not written: %s", self.dock.name, exc)

    def _budget(self, step_s: float) -> float:
        """Seconds the next step may take: its own limit, within the session's."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise LinkTimedOut(f"session longer than {self.config.limits.session_seconds:g} s")
        return min(step_s, left)

    async def _run(self) -> SessionResult:
        limits = self.config.limits
        self._deadline = time.monotonic() + limits.session_seconds
        try:
            self.port = await self._on_ports(open_port, self.url, self.dock.baud, timeout=0.1)
        except PortError as exc:
            log.debug("dock %s: %s", self.dock.name, exc)
            return self.result
        try:
            try:
                session, hello = await self._handshake()
            except (LinkTimedOut, LinkCut, PortError):
                return self.result                      # nothing docked, or nothing answering
            except VersionRejected as exc:
                self.result.outcome = Outcome.ERROR
                self.result.errors.append(str(exc))
                log.error("dock %s: %s", self.dock.name, exc)
                return self.result
            except AuthFailed as exc:
                self.result.outcome = Outcome.AUTH_FAILED
                self.result.errors.append(str(exc))
                log.warning("dock %s: %s", self.dock.name, exc)
                return self.result
            self.result.hhu_id = hhu = hello.hhu_id
            self.result.outcome = Outcome.IDLE
            self._publish(HhuAuthenticated, hhu_id=hhu, firmware=hello.firmware,
                          battery_pct=hello.battery_pct, free_flash=hello.free_flash,
                          crew=self.config.hhus.get(hhu))
            await self._off(self.store.touch_hhu, hhu, dock=self.dock.name,
                            firmware=hello.firmware, battery=hello.battery_pct,
                            free_flash=hello.free_flash, now=_now(),
                            crew=self.config.hhus.get(hhu))
            # Unload, then load: the day's readings are safe (committed) first, their
            # commits run while the bundles go over the link, and acknowledging them
            # frees the HHU's flash if a bundle does not fit.
            if hello.uploads:
                self._phase(Phase.UNLOADING)
            pending = await self._pull(session, hhu, hello)
            await self._push(session, hhu, pending)
            if pending:
                self._phase(Phase.ACKNOWLEDGING)
            while pending:
                await self._acknowledge(session, hhu, pending.popleft())
            await session.close()
            if self.result.did_work and not self.result.errors:
                self.result.outcome = Outcome.DONE
        except LinkCut as exc:
            self.result.outcome = Outcome.CUT
            self.result.errors.append(str(exc))
            log.warning("dock %s: %s (%s)", self.dock.name, exc, self.result.hhu_id)
        except LinkTimedOut as exc:
            self.result.outcome = Outcome.TIMEOUT
            self.result.errors.append(str(exc))
            log.warning("dock %s: %s", self.dock.name, exc)
            over = time.monotonic() >= self._deadline
            session.give_up(str(exc), ReasonCode.SESSION_LIMIT if over else ReasonCode.TIMED_OUT)
        except StorageUnavailable as exc:
            self.result.outcome = Outcome.ERROR
            self.result.errors.append(str(exc))
            self.result.storage_unavailable = True
            log.debug("dock %s: %s", self.dock.name, exc)    # logged once by the manager
        except HhuSyncError as exc:
            self.result.outcome = Outcome.ERROR
            self.result.errors.append(str(exc))
            log.error("dock %s: %s", self.dock.name, exc)
        finally:
            await asyncio.shield(self._hang_up())
        return self.result

    async def _hang_up(self) -> None:
        """Stop watching the port (on the loop, at once), then close it off the loop."""
        link, port = self.link, self.port
        self.link = None
        join = link.release() if link is not None else None
        if port is not None:
            await self._on_ports(_close_port, port, join)

    def _dock_session(self, version: int) -> DockSession:
        settings = LinkSettings(max_version=version, min_version=self.config.link.min_version)
        port = self.port
        assert port is not None, "opened by _run"
        gather_s = self.config.link.read_gather_ms / 1000
        self.link = DockSession(port, self.keystore.hhu_key, settings=settings,
                                on_event=self._on_event, gather_s=gather_s,
                                gather_max_s=streaming_gather(gather_s),
                                on_answer=self._answered_now)
        if self.stop.is_set():       # aborted while the port was opening
            self.abort()
        return self.link

    async def _handshake(self) -> tuple[DockSession, HelloInfo]:
        """Authenticate, offering the version this cradle's memory says; fall back once to
        version 1 for an HHU that refused a version-2 HELLO before any CHALLENGE (a
        version-1-only firmware), unless ``[link] min_version`` forbids it.

        A fallback is logged with the cradle at WARNING: a man in the middle can force it
        too (an ABORT is not authenticated), and ``min_version = 2`` is the cure once every
        HHU speaks version 2. The first handshake's HHU session ended with its ABORT, so
        the retry reopens the port and starts afresh (section 4)."""
        limits, min_version = self.config.limits, self.config.link.min_version
        offer = PROTOCOL_VERSION if min_version >= PROTOCOL_VERSION else \
            self.versions.offer(self.dock.name)
        if offer < PROTOCOL_VERSION:
            log.debug("dock %s: offering link protocol version %d (a fallback remembered)",
                      self.dock.name, offer)
        session = self._dock_session(offer)
        try:
            hello = await session.handshake(limits.handshake_seconds)
        except VersionRejected as exc:
            if not exc.by_peer or offer <= MIN_PROTOCOL_VERSION:
                raise
            if min_version > MIN_PROTOCOL_VERSION:
                raise VersionRejected(
                    f"{exc}; [link] min_version = {min_version} refuses link protocol "
                    f"version {MIN_PROTOCOL_VERSION}, so the dock does not fall back",
                    offered=exc.offered, by_peer=True) from exc
            self.result.fallbacks += 1
            self.versions.fell_back(self.dock.name)
            log.warning("dock %s: %s; falling back to link protocol version %d (set [link] "
                        "min_version = 2 once every HHU runs version-2 firmware: a man in "
                        "the middle can force this downgrade)", self.dock.name, exc,
                        MIN_PROTOCOL_VERSION)
            await self._reopen()
            session = self._dock_session(MIN_PROTOCOL_VERSION)
            hello = await session.handshake(limits.handshake_seconds)
        return session, hello

    async def _reopen(self) -> None:
        """A fresh line for the fallback handshake (the HHU's session ended with its
        ABORT; a socket or simulator cradle starts a new one on reconnecting)."""
        await self._hang_up()
        self.port = None
        self.port = await self._on_ports(open_port, self.url, self.dock.baud, timeout=0.1)

    def abort(self) -> None:
        """On the loop: end the session now (the link resumes at the next docking). Any
        wait on the link ends with LinkCut; the port is closed as the session unwinds."""
        self.stop.set()
        if self.link is not None:
            self.link.cut()

    async def _push(self, session: DockSession, hhu: str, pending: deque[_Pulled]) -> None:
        limits = self.config.limits
        crew = self.config.hhus.get(hhu)
        for delivery in await self._off(self.store.pending_deliveries, hhu, crew, _now()):
            if self.stop.is_set():
                return
            try:
                packed = await self._off(self.packer.ensure, delivery, hhu)
            except PackError as exc:
                await self._off(self._failed, delivery, str(exc))
                continue
            if packed is None:
                continue                                # another HHU of the crew took it
            data = packed.data
            log.info("dock %s: pushing %s %s (%d bytes) to %s", self.dock.name, delivery.kind,
                     delivery.ref, len(data), hhu)
            await self._begin(hhu)
            self._phase(Phase.LOADING)
            try:
                try:
                    held = await session.put(packed.bundle_id, data,
                                             self._budget(limits.transfer_seconds))
                except Refused as exc:
                    if not pending or exc.code not in ROOM_REFUSALS:
                        raise
                    # Room may be held by uploads waiting for their acknowledgement: give
                    # them up (each only after its commit), then offer the bundle once
                    # more. Decided by the code (FLASH_FULL, or none from a version-1
                    # HHU), never the text; a second refusal is final.
                    while pending:
                        await self._acknowledge(session, hhu, pending.popleft())
                    held = await session.put(packed.bundle_id, data,
                                             self._budget(limits.transfer_seconds))
            except Refused as exc:
                await self._off(self._failed, delivery,
                                f"{hhu} refused it ({exc.code.name}): {exc.reason}")
                continue
            failpoint("push.before_record")
            await self._off(self.store.delivery_done, delivery.delivery_id, hhu, _now())
            self.result.pushed.append(packed.bundle_id)
            self._publish(BundleDelivered, hhu_id=hhu, bundle_id=packed.bundle_id)
            log.info("dock %s: %s %s on %s%s", self.dock.name, delivery.kind, delivery.ref, hhu,
                     " (already held)" if held else "")

    def _failed(self, delivery, error: str) -> None:
        limits = self.config.limits
        backoff = limits.retry_backoff_seconds * (2 ** min(delivery.attempts, 10))
        not_before = (datetime.now(UTC) + timedelta(seconds=backoff)).isoformat(
            timespec="seconds")
        self.store.delivery_failed(delivery.delivery_id, error, not_before, limits.max_attempts)
        self.result.errors.append(error)
        log.warning("dock %s: delivery %s (%s) not delivered: %s; attempt %d of %d",
                    self.dock.name, delivery.delivery_id, delivery.ref, error,
                    delivery.attempts + 1, limits.max_attempts)

    async def _pull(self, session: DockSession, hhu: str, hello) -> deque[_Pulled]:
        """Fetch the uploads one after another. Each is checked in a worker process and
        committed by the committer as soon as it is checked, while the link carries on
        (the next upload, then the bundles); acknowledgements come after the commits."""
        limits = self.config.limits
        key = await self._off(self.keystore.hhu_key, hhu)
        if key is None:                 # taken out of the key store since its handshake
            raise AuthFailed(f"{hhu} is no longer enrolled")
        pending: deque[_Pulled] = deque()
        for info in hello.uploads:
            if self.stop.is_set():
                break
            if not is_safe_name(info.upload_id):    # the link would not ask for it
                log.warning("%s: %s lists upload %r, which breaks the identifier rule (%s);"
                            " left on the HHU", self.dock.name, hhu, info.upload_id, ID_RULE)
                continue
            await self._begin(hhu)
            data = await session.get(info.upload_id, self._budget(limits.transfer_seconds))
            # submit() hands the bytes to a worker process (or, inline, checks them): off
            # the loop either way
            checked = await self._off(self.decoder.submit, data, hhu_id=hhu, hhu_key=key,
                                      upload_id=info.upload_id)
            pending.append(_Pulled(info.upload_id, data, key, self._commit_when(checked)))
            while len(pending) > MAX_UNACKNOWLEDGED:   # bounded memory for a full HHU
                await self._acknowledge(session, hhu, pending.popleft())
        return pending

    def _commit_when(self, checked: Future) -> Future:
        """The commit of an upload, started when its check is done (never before)."""
        done: Future = Future()

        def commit() -> None:
            try:
                done.set_result(self._ingest(checked))
            except BaseException as exc:  # noqa: BLE001 - handed to the session
                done.set_exception(exc)
            finally:
                self.decoder.commit_ended()

        # no committer of its own: the blocking pool's (this needs a running loop)
        committer: Executor | _SubmitOn = self.committer or _SubmitOn(
            asyncio.get_running_loop(), self.blocking)

        def on_checked(_: Future) -> None:
            self.decoder.commit_began()        # billing's exports wait for it (readings)
            try:
                committer.submit(commit)
            except RuntimeError as exc:        # the daemon is stopping: not committed
                self.decoder.commit_ended()
                done.set_exception(HhuSyncError(f"not committed: {exc}"))

        checked.add_done_callback(on_checked)
        return done

    def _ingest(self, checked: Future):
        upload = checked.result()
        # the collector paused, as the inline path's commit (ingest_upload_bytes): a
        # commit's containers (the rows' columns and statements' parameters) are freed by
        # reference counting, and a collection the dock loop's allocations start while
        # they live walks them and every session's objects on the committer's time
        with gc_paused():
            report = self.store.ingest(upload, _now())
        failpoint("ingest.after_commit")
        return upload, report

    async def _acknowledge(self, session: DockSession, hhu: str, pulled: _Pulled) -> None:
        """Wait for an upload's commit; then, and only then, let the HHU delete it."""
        budget = self._budget(self.config.limits.transfer_seconds)
        try:
            upload, report = await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(pulled.commit)), budget)
        except UploadRefused as exc:
            self.result.errors.append(str(exc))      # left on the HHU: never deleted
            self.result.refused[pulled.upload_id] = exc.reason.value
            log.error("dock %s: %s", self.dock.name, exc)
            return
        except TimeoutError:
            raise LinkTimedOut(f"upload {pulled.upload_id} not committed within "
                               f"{budget:g} s; left on the HHU") from None
        upload_id = pulled.upload_id
        if not report.already_held:
            self._publish(UploadCommitted, upload_id=upload_id, hhu_id=hhu)
        await session.ack(upload_id, self._budget(self.config.limits.transfer_seconds))
        self._publish(UploadAcknowledged, hhu_id=hhu, upload_id=upload_id)
        await self._off(self.store.mark_cleared, upload_id, _now())
        self.result.pulled.append(upload_id)
        self.result.reports.append(report.as_dict())
        log.info("dock %s: upload %s from %s: %d visits, %d readings stored, %d already "
                 "held, %d not on list, %d conflicts%s%s", self.dock.name, upload_id,
                 hhu, report.visits, report.readings_stored, report.readings_already_held,
                 report.not_on_list, report.conflicts, _interval_counts(report),
                 " (upload already held)" if report.already_held else "")



def _interval_counts(report: IngestReport) -> str:
    """The log line's tail for an upload with load profiles or events (version 2)."""
    if not (report.intervals_stored or report.intervals_already_held
            or report.interval_conflicts or report.events_stored or report.vee_findings):
        return ""
    return (f"; {report.intervals_stored} intervals stored, {report.intervals_already_held} "
            f"already held, {report.interval_conflicts} interval conflicts, "
            f"{report.events_stored} events, {report.vee_findings} validation findings")


class _SubmitOn:
    """An executor's submit() for a loop's executor: what a session without a committer
    of its own commits on (its blocking pool, or the loop's default one)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, executor: Executor | None) -> None:
        self.loop, self.executor = loop, executor

    def submit(self, fn: Callable[[], None]) -> None:
        if self.loop.is_closed():
            raise RuntimeError("the loop is closed")
        self.loop.call_soon_threadsafe(self._start, fn)

    def _start(self, fn: Callable[[], None]) -> None:
        """On the loop: ``fn`` on the executor, or on a thread of its own when the
        executor has been shut down meanwhile: ``fn`` is a commit, which ends its
        future and the decoder's count of commits in flight; dropped, neither would."""
        try:
            self.loop.run_in_executor(self.executor, fn)
        except RuntimeError:
            threading.Thread(target=fn, name="commit-late", daemon=True).start()


def _close_port(port: SerialBase, join: Callable[[], None] | None) -> None:
    """Off the loop: wait for a reader thread, if the pump had one, then close the port."""
    try:
        if join is not None:
            join()
        port.close()
    except Exception:  # noqa: BLE001 - a port that fails to close is already gone
        pass
