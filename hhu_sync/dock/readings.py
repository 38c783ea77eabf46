"""Check readings uploads pulled from an HHU and commit them, before any acknowledgement.

Checking an upload (seal, header, every field) is CPU work in Python; committing it is
SQLite's. :class:`UploadDecoder` does the first in worker processes while the caller
commits the previous upload, so a depot with several uploads to take uses both cores.
The order of commits is the order of the uploads, and nothing is acknowledged by this
module: the caller acknowledges each upload after its commit returned.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

from hhu_sync.errors import HhuSyncError, TransferError
from hhu_sync.ingest import IngestReport, Upload, UploadError, parse_upload
from hhu_sync.transfer import decode_transfer

log = logging.getLogger("hhu_sync.ingest")


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


def check_upload(data: bytes, *, hhu_id: str, hhu_key: bytes, upload_id: str) -> Upload:
    """Verify the seal with the HHU's key, check the header and every field; the rows."""
    with _gc_paused():
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
            raise UploadRefused(f"upload offered as {upload_id} carries bundle id "
                                f"{h.bundle_id}")
        try:
            return parse_upload(transfer.payload, upload_id=upload_id, hhu_id=hhu_id,
                                sha256=hashlib.sha256(data).hexdigest())
        except UploadError as exc:
            raise UploadRefused(f"upload {upload_id} from {hhu_id}: {exc}") from None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def ingest_upload_bytes(store, data: bytes, *, hhu_id: str, hhu_key: bytes,
                        upload_id: str) -> tuple[IngestReport, Upload]:
    """Check one upload and store it in one transaction (in this process)."""
    upload = check_upload(data, hhu_id=hhu_id, hhu_key=hhu_key, upload_id=upload_id)
    with _gc_paused():
        return store.ingest(upload, _now()), upload


def _watch_parent() -> None:
    """In a worker: exit when the process that started us is gone (the daemon was killed),
    rather than linger holding its pipes open."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


class UploadDecoder:
    """Checks uploads in worker processes (``spawn``: safe in a threaded daemon, and each
    worker is our child, so it can tell when we are gone).

    Falls back to checking in this process when worker processes cannot be started.
    """

    def __init__(self, workers: int | None = None, *, inline: bool = False) -> None:
        self.workers = workers or max(1, min(4, (os.cpu_count() or 2)))
        self._pool: ProcessPoolExecutor | None = None
        self._broken = inline

    def _executor(self) -> ProcessPoolExecutor | None:
        if self._pool is None and not self._broken:
            try:
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(self.workers, mp_context=context,
                                                 initializer=_watch_parent)
            except (OSError, ValueError) as exc:
                log.warning("checking uploads in this process: %s", exc)
                self._broken = True
        return self._pool

    def start(self) -> None:
        """Start the workers now (they import hhu-sync, about a second), not at the first
        upload of the day, when HHUs are docked and waiting for their acknowledgement."""
        pool = self._executor()
        if pool is not None:
            try:
                for future in [pool.submit(os.getpid) for _ in range(self.workers)]:
                    future.result(timeout=60)
            except Exception as exc:  # noqa: BLE001 - any failure: check in this process
                log.warning("checking uploads in this process: %s", exc)
                self._broken = True

    def submit(self, data: bytes, *, hhu_id: str, hhu_key: bytes,
               upload_id: str) -> Future[Upload]:
        kwargs = {"hhu_id": hhu_id, "hhu_key": hhu_key, "upload_id": upload_id}
        pool = self._executor()
        if pool is not None:
            try:
                return pool.submit(check_upload, data, **kwargs)
            except RuntimeError as exc:          # broken or shut down: do it here
                log.warning("checking uploads in this process: %s", exc)
                self._broken = True
        done: Future[Upload] = Future()
        try:
            done.set_result(check_upload(data, **kwargs))
        except UploadRefused as exc:
            done.set_exception(exc)
        return done

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def ingest_uploads(store, decoder: UploadDecoder,
                   uploads: Iterable[tuple[str, bytes]], *, hhu_id: str,
                   hhu_key: bytes) -> Iterator[tuple[str, IngestReport | UploadRefused,
                                                     Upload | None]]:
    """Commit uploads in order while later ones are being checked.

    Yields ``(upload_id, report, upload)`` right after each commit, or
    ``(upload_id, UploadRefused, None)`` for one that failed its checks. At most two
    uploads wait checked-but-uncommitted, so memory stays bounded.
    """
    pending: list[tuple[str, Future[Upload]]] = []
    source = iter(uploads)

    def top_up() -> None:
        while len(pending) < 2:
            item = next(source, None)
            if item is None:
                return
            upload_id, data = item
            pending.append((upload_id, decoder.submit(data, hhu_id=hhu_id, hhu_key=hhu_key,
                                                      upload_id=upload_id)))

    top_up()
    while pending:
        upload_id, future = pending.pop(0)
        top_up()
        try:
            upload = future.result()
        except UploadRefused as exc:
            yield upload_id, exc, None
            continue
        with _gc_paused():
            report = store.ingest(upload, _now())
        yield upload_id, report, upload
