"""The storage interface the daemon, the CLI and the benches use."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hhu_sync.errors import HhuSyncError
from hhu_sync.export.rows import ExportRow
from hhu_sync.ingest import IngestReport, Upload
from hhu_sync.model.meterlist import MeterList
from hhu_sync.model.scheme import Scheme, SchemeRecord
from hhu_sync.store.accounts import Change
from hhu_sync.store.billing_rules import RegisterRead
from hhu_sync.store.claim_rules import ClaimVerdict, MeterClaim, RemoteRunSummary
from hhu_sync.store.depots import DepotSummary, SessionRecord
from hhu_sync.store.interval_rules import HeldEvent, HeldInterval


class StoreError(HhuSyncError):
    """The store refused an operation (unknown id, wrong state, storage failure)."""


class StorageUnavailable(StoreError):
    """The storage failed (disk full, I/O error): nothing was written; try again later."""


class SchemeVersionRefused(StoreError):
    """A scheme would move the library's edition of its id back, or change it in place.

    ``code`` is the :class:`~hhu_sync.model.versions.Verdict` value (``older`` or
    ``changed``): callers decide on it, never on the wording.
    """

    def __init__(self, message: str, *, code: str, scheme_id: str, version: int | str,
                 held_version: int | str) -> None:
        super().__init__(message)
        self.code = code
        self.scheme_id = scheme_id
        self.version = version
        self.held_version = held_version


@dataclass(frozen=True)
class LibraryEntry:
    """One scheme of the library as ``hhu-sync scheme list`` shows it."""

    scheme_id: str
    version: int
    model: str
    received: str
    source: str


class ListState:
    QUEUED = "queued"
    ON_HHU = "on_hhu"
    RUNNING = "running"        # a remote list the depot is reading (hhu_sync.remote)
    UPLOADED = "uploaded"
    COMPLETE = "complete"
    PARTIAL = "partial"
    CANCELLED = "cancelled"


#: States a list cannot be cancelled from, and why (every backend refuses them alike):
#: cancel withdraws work still to do, and these have none.
CANCEL_REFUSED: dict[str, str] = {
    ListState.COMPLETE: "every meter on it was read: nothing is left to withdraw",
    ListState.CANCELLED: "it was cancelled already",
}


@dataclass(frozen=True)
class Delivery:
    delivery_id: int
    kind: str            # quick_send | meter_list
    ref: str             # scheme id or list id
    target_hhu: str | None
    target_crew: str | None
    state: str
    bundle_id: str | None
    packed: bool         # a sealed transfer file is held for target_hhu
    attempts: int


@dataclass(frozen=True)
class RemoteRun:
    """A remote list's run: its delivery (the run's id: a requeued list is a new run)
    and whether it is still queued or was begun (and not ended: a daemon stopped)."""

    delivery_id: int
    list_id: str
    state: str           # ListState.QUEUED | ListState.RUNNING
    runner: str | None   # who began it (the delivery's target), None while queued
    waits: bool = False  # a scheduled list queued, not yet fired: waits for its schedule


class Store(Protocol):
    """What a storage backend provides. Every write is one durable transaction; storage
    faults raise :class:`StorageUnavailable`, refusals :class:`StoreError`."""

    #: the store's name (``sqlite:///path`` or ``postgresql://...``, never a password):
    #: what :func:`~hhu_sync.store.open_store` and worker processes are given
    url: str
    #: the depot this store's writes name (sessions, uploads, audit entries, HHU
    #: sightings): the daemon's ``[depot] id`` (hhu_sync.store.depots)
    depot: str

    @property
    def failing(self) -> bool:
        """Whether the latest storage operation failed (until one succeeds again)."""
        ...

    def close(self) -> None: ...
    # outbox
    def inputs_seen(self, shas: list[str]) -> dict[str, dict[str, Any]]: ...
    def record_input(self, sha256: str, name: str, kind: str, status: str, reason: str,
                     moved_to: str, now: str = "") -> None: ...
    def record_duplicate(self, sha256: str, name: str, kind: str, reason: str,
                         moved_to: str, duplicate_of: str, now: str = "") -> None: ...
    def accept_input(self, *, sha256: str, name: str, kind: str, moved_to: str, now: str,
                     scheme: Scheme | SchemeRecord | None = None, mlist: MeterList | None = None,
                     quick_send_hhu: str | None = None,
                     bundle: tuple[str, str, bytes] | None = None,
                     force: bool = False) -> int | None: ...
    def accept_inputs(self, items: list[dict[str, Any]]) -> list[int | None]: ...
    # scheme library and queue
    def scheme(self, scheme_id: str) -> Scheme | None: ...
    def library(self) -> Mapping[str, Scheme]: ...
    def library_entries(self) -> list[LibraryEntry]: ...
    def add_meter_list(self, mlist: MeterList, now: str = "") -> int: ...
    def get_list(self, list_id: str) -> MeterList | None: ...
    def list_state(self, list_id: str) -> str | None: ...
    def delivery(self, delivery_id: int) -> Delivery | None: ...
    def pending_deliveries(self, hhu_id: str, crew: str | None, now: str) -> list[Delivery]: ...
    def bind_delivery(self, delivery_id: int, hhu_id: str, bundle_id: str,
                      bundle: bytes) -> bool: ...
    def bundle(self, delivery_id: int) -> bytes | None: ...
    def delivery_done(self, delivery_id: int, hhu_id: str, now: str) -> None: ...
    def delivery_failed(self, delivery_id: int, error: str, not_before: str,
                        max_attempts: int) -> None: ...
    def requeue_list(self, list_id: str, now: str = "", *,
                     change: Change | None = None) -> str: ...
    def cancel_list(self, list_id: str, now: str = "", *,
                    change: Change | None = None) -> str: ...
    def list_view(self, list_id: str) -> dict[str, Any] | None: ...
    # remote lists (hhu_sync.remote): the depot reads them itself
    def remote_runs(self) -> list[RemoteRun]: ...
    def remote_schedules(self) -> list[tuple[str, str, str, str, str]]: ...
    def begin_remote_run(self, delivery_id: int, runner: str, now: str) -> str | None: ...
    def end_remote_run(self, list_id: str, now: str) -> str | None: ...
    # ... their meters claimed one at a time, by several depots (store.claim_rules)
    def claim_remote_meter(self, delivery_id: int, seq: int, *, serial: str, port: str,
                           runner: str, at: float, lease_s: float) -> ClaimVerdict: ...
    def renew_remote_claims(self, runner: str, at: float, lease_s: float) -> int: ...
    def settle_remote_meter(self, delivery_id: int, seq: int, runner: str, *, state: str,
                            outcome: str, attempts: int, upload_id: str | None, notes: str,
                            at: float) -> bool: ...
    def release_remote_claims(self, delivery_id: int, runner: str) -> int: ...
    def remote_claims(self, delivery_id: int) -> list[MeterClaim]: ...
    def remote_run_summaries(self, limit: int = 100, delivery_id: int | None = None
                             ) -> list[RemoteRunSummary]: ...
    # handhelds and sessions
    def touch_hhu(self, hhu_id: str, *, dock: str, firmware: str, battery: int | None,
                  free_flash: int | None, now: str, crew: str | None = None) -> None: ...
    def revoke_hhu(self, hhu_id: str, now: str = "", *,
                   change: Change | None = None) -> dict[str, int]: ...
    def start_session(self, dock: str, now: str, *, hhu_id: str | None = None) -> int: ...
    def end_session(self, session_id: int, *, hhu_id: str | None, outcome: str, pushed: int,
                    pulled: int, report: dict[str, Any], now: str) -> None: ...
    # readings
    def upload_held(self, upload_id: str) -> bool: ...
    def ingest(self, upload: Upload, now: str) -> IngestReport: ...
    def mark_cleared(self, upload_id: str, now: str) -> None: ...
    def readings(self, since: str | None = None, upload_id: str | None = None,
                 catalog: str | Path | None = None) -> Iterator[ExportRow]: ...
    # load profiles and event logs (upload version 2; stored by ingest)
    def intervals(self, meter: str, channel: str | None = None, *, since: int | None = None,
                  until: int | None = None) -> list[HeldInterval]: ...
    def last_interval_ends(self, meter: str) -> dict[str, int]: ...
    def interval_meters(self) -> list[str]: ...
    def vee_findings(self, meter: str, *, since: int | None = None,
                     until: int | None = None) -> list[tuple]: ...
    def future_spans(self, meter: str, *, since: int, until: int
                     ) -> list[tuple[str, str, int, int]]: ...
    def scheme_in_force(self, meter: str, at: str) -> str | None: ...
    # billing against the meter's registers (hhu_sync.store.billing_rules)
    def register_reads(self, meter: str, since: str, until: str,
                       prefixes: Sequence[str]) -> list[RegisterRead]: ...
    def add_exceptions_once(self, rows: Sequence[tuple]) -> int: ...
    def meter_events(self, meter: str, *, since: int | None = None,
                     until: int | None = None) -> list[HeldEvent]: ...
    def status(self, depot: str | None = None) -> dict[str, Any]: ...
    # depots sharing the store (hhu_sync.store.depots)
    def sessions(self, *, depot: str | None = None, limit: int = 50,
                 before_id: int | None = None) -> list[SessionRecord]: ...
    def depots(self) -> list[DepotSummary]: ...
