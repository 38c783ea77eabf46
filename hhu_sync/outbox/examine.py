"""Read, check and seal outbox files, here or in worker processes.

Everything about one outbox file that needs nothing from the other files of its batch
is done by :func:`examine_file`: read it (bounded), hash it, parse and check it with the
same code as ``hhu-sync validate``, and seal its transfer file for the HHU it names. That
is nine tenths of the work per file and none of it touches the database's write side,
so when a backlog builds up (back office dropping thousands of files at once) an
:class:`Examiner` spreads it over worker processes while the daemon commits the batch
before. What needs the whole batch (duplicates, the database, the moves) stays with the
:class:`~hhu_sync.outbox.processor.OutboxProcessor`.

A small outbox never pays for processes: files are examined in the daemon until a
backlog of :data:`POOL_FROM` files appears; the workers start in the background then
(a daemon serving without ``--once`` starts them at once, so they are ready before the
first burst), and the daemon keeps examining files itself until they are ready. Workers
that cannot be started (the store away at start, say), or that die, are logged and the
work is done in the daemon; they are started again at a later backlog, after a back-off
that doubles with each failure (:data:`RETRY_FIRST_S` to :data:`RETRY_MOST_S`, every
failure counted), so a store that comes back gets its workers back without a restart.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from hhu_sync.errors import KeyStoreError
from hhu_sync.ids import is_safe_name
from hhu_sync.keys import KeyStore
from hhu_sync.model.catalog import Catalog, load_catalog
from hhu_sync.model.inputs import load_inputs
from hhu_sync.model.loader import MAX_INPUT_BYTES
from hhu_sync.model.meterlist import MeterList
from hhu_sync.model.problems import Problem
from hhu_sync.model.scheme import Scheme, SchemeRecord
from hhu_sync.outbox.mover import Signature, signature
from hhu_sync.outbox.safe_open import Refused, open_regular, safe_text
from hhu_sync.packing import Packer, PackError
from hhu_sync.store.base import StorageUnavailable
from hhu_sync.workers import watch_parent

log = logging.getLogger("hhu_sync.outbox")

QUICK_SEND = "quick-send"
POOL_FROM = 64       # ready files at once before worker processes are worth starting
CHUNK = 8            # files per job sent to a worker: one round trip for several


def quick_send_target(path: Path, outbox: Path) -> str | None | Problem:
    """The HHU a Quick send is for (``outbox/quick-send/<HHU>/NAME``), None for a file
    that is not a Quick send, or the Problem of a file misplaced under quick-send/."""
    try:
        rel = path.relative_to(outbox)
    except ValueError:
        return None
    if rel.parts[0] != QUICK_SEND:
        return None
    if len(rel.parts) != 3 or not is_safe_name(rel.parts[1]):
        return Problem(str(rel), None, "path",
                       f"a Quick send goes in {QUICK_SEND}/<HHU-ID>/NAME.toml")
    return rel.parts[1]


_DECLARES = re.compile(rb"^[ \t]*(?:\[[ \t]*(scheme|list)[ \t]*\]|(scheme|list)[ \t]*\.)",
                       re.MULTILINE)


def declared_kind(path: Path, raw: bytes) -> str:
    """What a file that was not taken says it is: ``meter_list`` for a CSV file (every
    CSV the outbox reads is one), a TOML file by its first ``[scheme]`` or ``[list]``
    table (read from the bytes: the file may not parse), else ``unknown``."""
    if path.suffix.lower() == ".csv":
        return "meter_list"
    found = _DECLARES.search(raw[:MAX_INPUT_BYTES])
    if found is None:
        return "unknown"
    return "scheme" if (found[1] or found[2]) == b"scheme" else "meter_list"


@dataclass(frozen=True)
class Examined:
    """What one file is. ``status``: ``ok`` (checked: see ``problems``), ``gone``,
    ``fresh`` (written again within the debounce time: not complete yet),
    ``refused`` (not a regular file of the outbox: never read), ``unreadable`` or
    ``misplaced`` (under quick-send/ but not in an HHU's folder; ``detail`` says why)
    or ``deferred`` (the key store could not be read: no fault of the file).

    ``sha`` is the key that makes accepting idempotent: the content's hash, and for a
    Quick send the hash of content and target HHU (the same scheme may go to two HHUs)."""

    path: Path
    status: str
    sha: str = ""
    read_as: Signature | None = None
    target_hhu: str | None = None
    problems: tuple[Problem, ...] = ()
    scheme: Scheme | SchemeRecord | None = None   # a record when examined in a worker
    mlist: MeterList | None = None
    bundle: tuple[str, str, bytes] | None = None    # (HHU, bundle id, sealed file)
    detail: str = ""                                # why it was not sealed, or not read
    aside: Path | None = None      # ``refused``: the name to move aside (a symlinked folder)
    already: Path | None = None    # ``refused``: its other name, in rejected/ already
    content_sha: str = ""          # the bytes' own hash (``sha`` is the idempotency key)
    declared: str = ""             # with problems: the kind the file says it is (a rejection's)


@dataclass
class Context:
    """What examining needs, built once per process."""

    outbox: Path
    catalog: Catalog
    keystore: KeyStore
    packer: Packer
    library: Callable[[], Mapping[str, Scheme]]
    debounce: float
    wall: Callable[[], float] = time.time
    archive: Path | None = None     # where a file's second name may be our own move's
    rejected: Path | None = None    # ... or our own move aside's


def input_key(content_sha: str, target_hhu: str) -> str:
    """The idempotency key of a Quick send: its content *and* the HHU it goes to."""
    return hashlib.sha256(f"quick-send\0{target_hhu}\0{content_sha}".encode()).hexdigest()


def examine_files(ctx: Context, paths: list[Path]) -> list[Examined]:
    """:func:`examine_file` for each, with the key store looked at once for them all."""
    keys = ctx.keystore.snapshot()
    return [examine_file(ctx, path, keys) for path in paths]


def examine_file(ctx: Context, path: Path, keys=None) -> Examined:
    """Read, hash, check and (for a named HHU) seal one file. Never raises: whatever goes
    wrong with one file is that file's outcome, not its batch's."""
    try:
        return _examine(ctx, path, keys)
    except (KeyboardInterrupt, SystemExit):
        raise
    except KeyStoreError as exc:   # the key store's fault, not the file's: it waits
        return Examined(path, "deferred", detail=f"key store unavailable: {exc}")
    except StorageUnavailable as exc:   # the library not readable now (a database
        # down): no fault of the file, which waits in the outbox
        return Examined(path, "deferred", detail=f"storage unavailable: {exc}")
    except BaseException as exc:  # noqa: BLE001 - one file's fault ends with that file
        # (BaseException: a panic in a Rust extension, rtoml's or cryptography's, is one)
        log.exception("outbox: examining %s failed", safe_text(path.name))
        return Examined(path, "unreadable", detail=f"could not be examined "
                        f"({type(exc).__name__}); set aside for a person to look at")


def _examine(ctx: Context, path: Path, keys) -> Examined:
    try:
        fd, st = open_regular(path, ctx.outbox, ctx.archive, ctx.rejected)
    except Refused as exc:
        return Examined(path, "refused", detail=exc.reason, aside=exc.aside,
                        already=exc.already)
    except FileNotFoundError:
        return Examined(path, "gone")
    except OSError as exc:
        return Examined(path, "unreadable", detail=f"cannot read: {exc.strerror}")
    try:
        with open(fd, "rb", closefd=True) as fh:
            # Asked for by its size (plus one byte, to see it grow): read(limit) would
            # allocate the whole 4 MiB limit for every file, five times the cost of a read.
            raw = fh.read(min(st.st_size, MAX_INPUT_BYTES) + 1)
            if len(raw) > st.st_size:      # grown since: read on, still bounded
                raw += fh.read(MAX_INPUT_BYTES + 1 - len(raw))
            after = os.fstat(fh.fileno())
    except OSError as exc:
        return Examined(path, "unreadable", detail=f"cannot read: {exc.strerror}")
    if signature(after) != signature(st):
        return Examined(path, "fresh")     # written while it was read: not complete yet
    st = after
    if 0 <= ctx.wall() - st.st_mtime < ctx.debounce:
        # Written again after the close that made it ready (a writer that reopened it):
        # not complete until it has been quiet for the debounce time.
        return Examined(path, "fresh")
    content_sha = hashlib.sha256(raw).hexdigest()
    read_as = signature(st)
    target = quick_send_target(path, ctx.outbox)
    sha = content_sha if not isinstance(target, str) else input_key(content_sha, target)
    if isinstance(target, Problem):
        return Examined(path, "misplaced", sha, read_as, detail=f"{target.file}: "
                        f"{target.message}", content_sha=content_sha)
    inputs = load_inputs([path], ctx.catalog, ctx.library(), {path: raw})
    if inputs.problems:
        return Examined(path, "ok", sha, read_as, target, tuple(inputs.problems),
                        content_sha=content_sha, declared=declared_kind(path, raw))
    scheme = next(iter(inputs.schemes.values()), None)
    mlist = next(iter(inputs.lists.values()), None)
    if scheme is not None:
        scheme.json   # made here, in the worker; the daemon only stores it  # noqa: B018
    found = Examined(path, "ok", sha, read_as, target, (), scheme, mlist,
                     content_sha=content_sha)
    hhu = target or (mlist.hhu if mlist else None)
    if not hhu or (target and scheme is None):
        return found
    try:
        packed = ctx.packer.seal("quick_send" if target else "meter_list", hhu,
                                 scheme=scheme, mlist=mlist, keys=keys)
    except PackError as exc:
        return replace(found, detail=str(exc))
    return replace(found, bundle=(hhu, packed.bundle_id, packed.data))


# -- worker processes --------------------------------------------------------------------

_WORKER: Context | None = None


def _worker_init(parent: int, outbox: str, catalog: str, keystore: str, store_url: str,
                 depot_id: str, debounce: float, archive: str = "", rejected: str = "") -> None:
    """Build the worker's own catalog, key store and store connection (it only reads:
    the scheme library, for meter lists). ``store_url``: the daemon's store's name,
    whichever backend (a plain path is a SQLite file)."""
    from hhu_sync.store import open_store  # not needed by the daemon's import
    from hhu_sync.store.depots import DEFAULT_DEPOT

    global _WORKER
    watch_parent(parent)
    keys = KeyStore(Path(keystore))
    store = open_store(store_url, depot=depot_id or DEFAULT_DEPOT)
    _WORKER = Context(Path(outbox), load_catalog(catalog or None), keys,
                      Packer(store, keys, depot_id), store.library, debounce,
                      archive=Path(archive) if archive else None,
                      rejected=Path(rejected) if rejected else None)


def _examine_in_worker(paths: list[str]) -> list[Examined]:
    assert _WORKER is not None, "worker not initialised"
    return [replace(e, scheme=e.scheme.record()) if isinstance(e.scheme, Scheme) else e
            for e in examine_files(_WORKER, [Path(p) for p in paths])]


#: after workers failed to start or died: the wait before they are tried again, doubling
#: with each failure in a row up to the most
RETRY_FIRST_S = 30.0
RETRY_MOST_S = 600.0


class Examiner:
    """Examines batches of files: in this process, or in ``workers`` processes once a
    backlog makes them worth it."""

    def __init__(self, ctx: Context, *, workers: int = 0, store_url: str = "",
                 catalog: Path | None = None, depot_id: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ctx = ctx
        self.workers = workers
        self._clock = clock
        self.failures = 0                   # workers failed to start or died, in all
        self._failed_in_a_row = 0
        self._retry_at: float | None = None  # when failed workers may be tried again
        self._initargs = (os.getpid(), str(ctx.outbox), str(catalog or ""),
                          str(ctx.keystore.root), store_url, depot_id, ctx.debounce,
                          str(ctx.archive or ""), str(ctx.rejected or ""))
        self._pool: ProcessPoolExecutor | None = None     # set once the workers answered
        self._ready = threading.Event()     # set with it: something to wait for
        self._starting = False
        self._broken = workers <= 0         # none configured, or closed: never (again)
        self._lock = threading.Lock()

    # The pool ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers in the background (once; this process goes on examining
        meanwhile): at the first backlog, or at start-up for a long-running daemon."""
        with self._lock:
            if self._starting or self._broken or self._pool is not None:
                return
            if self._retry_at is not None and self._clock() < self._retry_at:
                return                      # failed lately: examined here meanwhile
            self._starting = True
        threading.Thread(target=self._warm_up, name="outbox-workers", daemon=True).start()

    def _warm_up(self) -> None:
        pool: ProcessPoolExecutor | None = None
        try:
            pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init, initargs=self._initargs)
            for future in [pool.submit(os.getpid) for _ in range(self.workers)]:
                future.result(timeout=60)
        except Exception as exc:  # noqa: BLE001 - any failure: examine in this process
            if pool is not None:         # its processes, started or hung, go with it
                pool.shutdown(wait=False, cancel_futures=True)
            with self._lock:
                wait = self._failed()
                self._starting = False
            log.warning("outbox: workers did not start (%s); examining files in this "
                        "process, workers tried again in %g s (failure %d)", exc, wait,
                        self.failures)
            return
        with self._lock:
            self._starting = False
            closed = self._broken          # closed while they were starting
            if not closed:
                self._pool = pool
                self._failed_in_a_row, self._retry_at = 0, None
        if closed:
            pool.shutdown(wait=False, cancel_futures=True)
            return
        self._ready.set()
        log.info("outbox: %d worker processes examine files", self.workers)

    @property
    def pooled(self) -> bool:
        return self._pool is not None

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._broken = True
        self._ready.clear()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    # Work -------------------------------------------------------------------------------

    def submit(self, paths: list[Path], backlog: int = 0) -> Callable[[], list[Examined]]:
        """Start examining ``paths``; the returned callable gives the results in order.

        ``backlog`` (files ready in all) decides whether the workers are worth starting.
        """
        if backlog >= POOL_FROM:
            self.start()
        pool = self._pool
        if pool is None or not paths:
            return lambda: examine_files(self.ctx, paths)
        try:
            futures: list[Future] = [
                pool.submit(_examine_in_worker, [str(p) for p in paths[i:i + CHUNK]])
                for i in range(0, len(paths), CHUNK)]
        except RuntimeError as exc:       # broken or shut down: do it here
            self._give_up(exc, pool)
            return lambda: examine_files(self.ctx, paths)

        def results() -> list[Examined]:
            out: list[Examined] = []
            for n, future in enumerate(futures):
                chunk = paths[n * CHUNK:(n + 1) * CHUNK]
                try:
                    out += future.result(timeout=120)
                except Exception as exc:  # noqa: BLE001 - a dead worker: do it here
                    self._give_up(exc, pool)
                    out += examine_files(self.ctx, chunk)
            return out

        return results

    def _failed(self) -> float:
        """Count a failure (the lock held); the wait before the next try."""
        self.failures += 1
        self._failed_in_a_row += 1
        wait = min(RETRY_MOST_S, RETRY_FIRST_S * 2 ** min(self._failed_in_a_row - 1, 16))
        self._retry_at = self._clock() + wait
        return wait

    def _give_up(self, exc: BaseException, failed: ProcessPoolExecutor) -> None:
        """The pool ``failed`` (the one a batch was given to) is taken down, once: a late
        failure of a pool replaced meanwhile leaves its successor alone."""
        with self._lock:
            if self._pool is not failed:
                return                      # taken down already, or a newer pool serves
            wait = self._failed()
            pool, self._pool = self._pool, None
        log.error("outbox: worker processes failed (%s: %s); examining files in this "
                  "process, workers tried again in %g s (failure %d)", type(exc).__name__,
                  exc, wait, self.failures)
        self._ready.clear()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
