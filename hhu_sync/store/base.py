"""The storage interface the daemon, the CLI and the benches use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from hhu_sync.errors import HhuSyncError
from hhu_sync.ingest import IngestReport, Upload
from hhu_sync.model.meterlist import MeterList
from hhu_sync.model.scheme import Scheme


class StoreError(HhuSyncError):
    """The store refused an operation (unknown id, wrong state, storage failure)."""


class StorageUnavailable(StoreError):
    """The storage failed (disk full, I/O error): nothing was written; try again later."""


class ListState:
    QUEUED = "queued"
    ON_HHU = "on_hhu"
    UPLOADED = "uploaded"
    COMPLETE = "complete"
    PARTIAL = "partial"
    CANCELLED = "cancelled"


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


class Store(Protocol):
    def close(self) -> None: ...
    # outbox
    def input_seen(self, sha256: str) -> dict[str, Any] | None: ...
    def record_input(self, sha256: str, name: str, kind: str, status: str, reason: str,
                     moved_to: str) -> None: ...
    # library and queue
    def put_scheme(self, scheme: Scheme, sha256: str) -> None: ...
    def schemes(self) -> dict[str, Scheme]: ...
    def add_meter_list(self, mlist: MeterList) -> int: ...
    def add_quick_send(self, scheme_id: str, hhu_id: str) -> int: ...
    def pending_deliveries(self, hhu_id: str, crew: str | None, now: str) -> list[Delivery]: ...
    def bind_delivery(self, delivery_id: int, hhu_id: str, bundle_id: str,
                      bundle: bytes) -> bool: ...
    def bundle(self, delivery_id: int) -> bytes | None: ...
    def delivery_done(self, delivery_id: int, hhu_id: str, now: str) -> None: ...
    def delivery_failed(self, delivery_id: int, error: str, not_before: str,
                        max_attempts: int) -> None: ...
    def requeue_list(self, list_id: str) -> None: ...
    def cancel_list(self, list_id: str) -> None: ...
    def get_list(self, list_id: str) -> MeterList | None: ...
    # handhelds and sessions
    def touch_hhu(self, hhu_id: str, *, dock: str, firmware: str, battery: int | None,
                  free_flash: int | None, now: str) -> None: ...
    def start_session(self, dock: str, now: str) -> int: ...
    def end_session(self, session_id: int, *, hhu_id: str | None, outcome: str, pushed: int,
                    pulled: int, report: dict[str, Any], now: str) -> None: ...
    # readings
    def upload_held(self, upload_id: str) -> bool: ...
    def ingest(self, upload: Upload, now: str) -> IngestReport: ...
    def mark_cleared(self, upload_id: str, now: str) -> None: ...
    def readings(self, since: str | None = None) -> Iterator[tuple]: ...
    def status(self) -> dict[str, Any]: ...
