"""Check a readings upload pulled from an HHU and commit it, before any acknowledgement."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from hhu_sync.errors import HhuSyncError, TransferError
from hhu_sync.ingest import IngestReport, Upload, UploadError, parse_upload
from hhu_sync.transfer import decode_transfer


class UploadRefused(HhuSyncError):
    """An upload the depot will not store (forged, for someone else, malformed)."""


@contextmanager
def _gc_paused() -> Iterator[None]:
    """An upload is a burst of short-lived objects that the cyclic collector would walk
    again and again; reference counting frees them all. Pausing it saves about a tenth."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def ingest_upload_bytes(store, data: bytes, *, hhu_id: str, hhu_key: bytes,
                        upload_id: str) -> tuple[IngestReport, Upload]:
    """Verify the seal with the HHU's key, parse, and store in one transaction."""
    with _gc_paused():
        return _ingest(store, data, hhu_id=hhu_id, hhu_key=hhu_key, upload_id=upload_id)


def _ingest(store, data: bytes, *, hhu_id: str, hhu_key: bytes,
            upload_id: str) -> tuple[IngestReport, Upload]:
    try:
        transfer = decode_transfer(data, hhu_key, use_list=False)
    except TransferError as exc:
        raise UploadRefused(f"upload {upload_id} from {hhu_id}: {exc}") from None
    h = transfer.header
    if h.kind != "readings":
        raise UploadRefused(f"upload {upload_id} from {hhu_id} is a {h.kind}, not readings")
    if h.source != hhu_id:
        raise UploadRefused(f"upload {upload_id} was made by {h.source}, not by {hhu_id}")
    if h.bundle_id != upload_id:
        raise UploadRefused(f"upload offered as {upload_id} carries bundle id {h.bundle_id}")
    try:
        upload = parse_upload(transfer.payload, upload_id=upload_id, hhu_id=hhu_id,
                              sha256=hashlib.sha256(data).hexdigest())
    except UploadError as exc:
        raise UploadRefused(f"upload {upload_id} from {hhu_id}: {exc}") from None
    return store.ingest(upload, datetime.now(UTC).isoformat(timespec="seconds")), upload
