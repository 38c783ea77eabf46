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
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hhu_sync.errors import TransferError
from hhu_sync.export import export_upload
from hhu_sync.export.formats import export_upload_series
from hhu_sync.ingest import IngestReport, Upload, UploadError, parse_upload
from hhu_sync.ingest.upload import (
    UPLOAD_VERSION,
    RefusalReason,
    UploadRefused,
    UploadVersionError,
)
from hhu_sync.store.opening import upload_reads
from hhu_sync.transfer import decode_transfer
from hhu_sync.workers import watch_parent

log = logging.getLogger("hhu_sync.ingest")


@contextmanager
def gc_paused() -> Iterator[None]:
    """An upload is a burst of short-lived objects that the cyclic collector would walk
    again and again; reference counting frees them all. Pausing it saves about a tenth."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_upload(data: bytes, *, hhu_id: str, hhu_key: bytes, upload_id: str,
                 received_at: datetime | None = None,
                 max_upload_version: int = UPLOAD_VERSION) -> Upload:
    """Verify the seal with the HHU's key, check the header and every field; the rows.

    ``received_at`` is when the depot took the upload (default: now): the clock the
    upload's times are checked against, so none is accepted from the future.
    ``max_upload_version``: the newest readings payload version read; a newer one is
    refused (reason ``version_unsupported``) and so left on the HHU."""
    received = received_at or datetime.now(UTC)
    with gc_paused():
        return _checked(data, hhu_id=hhu_id, hhu_key=hhu_key, upload_id=upload_id,
                        received=received, max_version=max_upload_version)


def _checked(data: bytes, *, hhu_id: str, hhu_key: bytes, upload_id: str,
             received: datetime, max_version: int = UPLOAD_VERSION) -> Upload:
    """:func:`check_upload`, in a function of its own: the decoded payload (tens of
    thousands of objects) is freed when it returns, before the collector is let back
    in, which then finds only the rows (it walked the payload too: a fifth of a check)."""
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
                            sha256=hashlib.sha256(data).hexdigest(), received_at=received,
                            max_version=max_version)
    except UploadVersionError as exc:
        raise UploadRefused(f"upload {upload_id} from {hhu_id}: {exc}",
                            reason=RefusalReason.VERSION_UNSUPPORTED) from None
    except UploadError as exc:
        raise UploadRefused(f"upload {upload_id} from {hhu_id}: {exc}") from None


def export_stored(*, database: str, upload_id: str, folder: str, sender: str,
                  catalog: str | None = None) -> list[str]:
    """Write an upload's CSV and CMEP exports: the rows the store took, as it exports them.

    ``database``: the store's URL (``sqlite:///path`` or ``postgresql://...``; a plain
    path is a SQLite file). Read back from it (read-only), not from the upload's bytes:
    only the store knows whether a meter was on its list, which site it is and which
    scheme's rates and ratios apply, and nothing may be exported as ``ok`` that the store would not.
    ``catalog``: the configured meter-model catalog (which models take ratios).
    Run in a worker process after the commit and the acknowledgement: rendering a few
    thousand rows is tens of milliseconds of Python that would otherwise hold the
    daemon's interpreter lock while other HHUs wait for their own commit.
    """
    with gc_paused():
        return _exported(database, upload_id, folder, sender, catalog)


def _exported(database: str, upload_id: str, folder: str, sender: str,
              catalog: str | None) -> list[str]:
    """:func:`export_stored`, whose rows are freed when it returns (see :func:`_checked`)."""
    with upload_reads(database) as reads:      # one connection, one snapshot
        rows = reads.export_rows(upload_id, catalog=catalog)
        paths = export_upload(rows, Path(folder), upload_id, sender=sender)
        del rows
        series, findings = reads.interval_series(upload_id)
    paths += export_upload_series(series, findings, Path(folder), upload_id, sender=sender)
    return [str(p) for p in paths]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def ingest_upload_bytes(store, data: bytes, *, hhu_id: str, hhu_key: bytes,
                        upload_id: str, received_at: datetime | None = None,
                        max_upload_version: int = UPLOAD_VERSION
                        ) -> tuple[IngestReport, Upload]:
    """Check one upload and store it in one transaction, in this process (a docking does
    the same two steps, the check in a worker and the commit on its committer thread)."""
    upload = check_upload(data, hhu_id=hhu_id, hhu_key=hhu_key, upload_id=upload_id,
                          received_at=received_at, max_upload_version=max_upload_version)
    with gc_paused():
        return store.ingest(upload, _now()), upload


EXPORT_NICE = 10   # exports yield the CPU to checks and commits that HHUs are waiting on
#: how long after its commit an upload's export may wait for the commits in flight to
#: end (then it runs, whatever is in flight: a depot never idle still exports)
EXPORT_DEFER_S = 10.0

#: how often a waiting export looks at the flag again
QUIET_POLL_S = 0.02

#: in the export worker: set while the daemon has no commit in flight (None elsewhere)
_COMMITS_QUIET: Any = None


class QuietFlag:
    """Whether the daemon has no commit in flight, as the export worker sees it: one
    byte of shared memory the daemon writes and the worker reads, looked at every
    :data:`QUIET_POLL_S` while an export waits. Not a ``multiprocessing.Event``: its
    ``set()`` waits for every sleeper it wakes to say so, and a worker killed while it
    waited (the OOM killer, a service manager's SIGTERM) never does: ``set()`` would
    hang, and with it the committer that ended the last commit, and every other one
    behind the decoder's lock. A dead reader holds nothing here."""

    def __init__(self, context: Any) -> None:
        self._flag = context.RawValue("b", 0)

    def set(self) -> None:
        self._flag.value = 1

    def clear(self) -> None:
        self._flag.value = 0

    def is_set(self) -> bool:
        return bool(self._flag.value)

    def wait(self, timeout: float) -> bool:
        """Until set, or ``timeout`` seconds; whether it is set."""
        end = time.monotonic() + timeout
        while not self._flag.value:
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(QUIET_POLL_S, left))
        return True


def _worker_init(parent: int, nice: int, quiet: Any = None) -> None:
    """A worker's start: its priority, its watch on the parent, and everything imported
    so far (hhu-sync, its libraries: tens of thousands of objects that live as long as
    the worker) moved out of the collector's sight, so that a full collection walks
    only what the uploads left, not every module again. ``quiet``: the export worker's
    view of the daemon's commits (:meth:`UploadDecoder.commit_began`)."""
    global _COMMITS_QUIET
    _COMMITS_QUIET = quiet
    if nice:
        try:
            os.nice(nice)
        except OSError:   # not allowed here: run at normal priority
            pass
    watch_parent(parent)
    gc.freeze()


def _export_when_quiet(not_after: float, **kwargs: Any) -> list[str]:
    """:func:`export_stored` once no commit is in flight, or at ``not_after`` (wall
    clock) at the latest. A niced worker yields the cores, but its queries run in the
    database server at the priority of the commits: on PostgreSQL an export's read of
    an upload costs the server about half what the upload's COPY did, and the HHUs at
    the cradles wait on those commits, billing on nothing this minute."""
    if _COMMITS_QUIET is not None:      # never longer than the deferral (a clock set back)
        _COMMITS_QUIET.wait(min(not_after - time.time(), EXPORT_DEFER_S))
    return export_stored(**kwargs)


class UploadDecoder:
    """Checks uploads, and writes their exports, in worker processes (``spawn``: safe in
    a threaded daemon, and each worker is our child, so it can tell when we are gone).

    Checks run in ``workers`` processes; exports in one more, at a lower priority: when
    many HHUs unload at once, an export (tens of milliseconds of Python for billing, who
    can wait) must not take a core from the checks and commits the HHUs wait on.
    Falls back to working in this process when worker processes cannot be started.
    """

    def __init__(self, workers: int | None = None, *, inline: bool = False,
                 max_upload_version: int = UPLOAD_VERSION) -> None:
        self.workers = workers or max(1, min(4, (os.cpu_count() or 2)))
        #: the newest readings payload version this depot reads (a newer one is refused
        #: and left on the HHU); lower only to act as an older depot
        self.max_upload_version = max_upload_version
        self._pools: dict[str, ProcessPoolExecutor] = {}
        self._broken = inline
        self._committing = 0              # commits handed to the committer, not ended
        self._count_lock = threading.Lock()
        self._quiet: QuietFlag | None = None   # the export worker's view of it

    def _executor(self, kind: str = "check") -> ProcessPoolExecutor | None:
        if kind not in self._pools and not self._broken:
            try:
                context = multiprocessing.get_context("spawn")
                if kind == "export":
                    with self._count_lock:
                        self._quiet = QuietFlag(context)
                        if not self._committing:
                            self._quiet.set()
                    initargs: tuple = (os.getpid(), EXPORT_NICE, self._quiet)
                else:
                    initargs = (os.getpid(), 0)
                self._pools[kind] = ProcessPoolExecutor(
                    self.workers if kind == "check" else 1, mp_context=context,
                    initializer=_worker_init, initargs=initargs)
            except (OSError, ValueError) as exc:
                log.warning("checking uploads in this process: %s", exc)
                self._broken = True
        return self._pools.get(kind)

    def start(self) -> None:
        """Start the workers now (they import hhu-sync, about a second), not at the first
        upload of the day, when HHUs are docked and waiting for their acknowledgement."""
        try:
            futures = []
            for kind, n in (("check", self.workers), ("export", 1)):
                pool = self._executor(kind)
                if pool is not None:
                    futures += [pool.submit(os.getpid) for _ in range(n)]
            for future in futures:
                future.result(timeout=60)
        except Exception as exc:  # noqa: BLE001 - any failure: work in this process
            log.warning("checking uploads in this process: %s", exc)
            self._broken = True

    def _run(self, kind: str, func, *args, **kwargs) -> Future:
        pool = self._executor(kind)
        if pool is not None and not self._broken:
            try:
                return pool.submit(func, *args, **kwargs)
            except RuntimeError as exc:          # broken or shut down: do it here
                log.warning("working in this process: %s", exc)
                self._broken = True
        done: Future = Future()
        try:
            done.set_result(func(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - reported through the future
            done.set_exception(exc)
        return done

    def submit(self, data: bytes, *, hhu_id: str, hhu_key: bytes,
               upload_id: str) -> Future[Upload]:
        """:func:`check_upload` in a worker; its future raises UploadRefused."""
        return self._run("check", check_upload, data, hhu_id=hhu_id, hhu_key=hhu_key,
                         upload_id=upload_id, max_upload_version=self.max_upload_version)

    def export(self, *, committed_at: float | None = None, **kwargs) -> Future[list[str]]:
        """:func:`export_stored` in the low-priority worker; with ``committed_at`` (the
        upload's commit, wall clock) once the commits in flight have ended, or
        :data:`EXPORT_DEFER_S` after it (:func:`_export_when_quiet`)."""
        if committed_at is None:
            return self._run("export", export_stored, **kwargs)
        return self._run("export", _export_when_quiet, committed_at + EXPORT_DEFER_S,
                         **kwargs)

    def commit_began(self) -> None:
        """An upload handed to the committer: exports wait until it and every other
        commit in flight has ended (:meth:`commit_ended`)."""
        with self._count_lock:
            self._committing += 1
            if self._committing == 1 and self._quiet is not None:
                self._quiet.clear()

    def commit_ended(self) -> None:
        with self._count_lock:
            self._committing = max(0, self._committing - 1)
            if not self._committing and self._quiet is not None:
                self._quiet.set()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self._pools.clear()
