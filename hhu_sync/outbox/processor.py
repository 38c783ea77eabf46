"""Decide what one outbox file is, queue what it asks for, and move it aside.

A file is read whole (bounded), hashed, validated with the same code as ``hhu-sync
validate`` and sealed for its HHU (all that by :mod:`hhu_sync.outbox.examine`, in worker
processes when a backlog builds up), recorded with what it queues in one transaction, and
only then moved to archive/ (accepted) or rejected/ (with ``NAME.reason.txt`` beside it).
Nothing is deleted, nothing is processed twice: the content hash is the key.

Layout of the outbox:

    outbox/*.toml, *.csv                  schemes (into the library) and meter lists
    outbox/quick-send/<HHU-ID>/*.toml     a scheme to send to that HHU now (Quick send)
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from hhu_sync.config import Config
from hhu_sync.errors import KeyStoreError
from hhu_sync.failpoints import failpoint
from hhu_sync.fsutil import DAEMON_DIR_MODE, atomic_write, copy_new_file, ensure_dir, fsync_dir
from hhu_sync.keys import KeyStore
from hhu_sync.keys.store import KeySnapshot
from hhu_sync.model.catalog import Catalog
from hhu_sync.model.meterlist import MeterList
from hhu_sync.model.problems import ProblemCode
from hhu_sync.model.scheme import Scheme, SchemeRecord
from hhu_sync.outbox.backoff import Backoff
from hhu_sync.outbox.examine import Context, Examined, Examiner
from hhu_sync.outbox.mover import ArchiveMover, Changed, Move, Signature, signature
from hhu_sync.outbox.safe_open import open_folder, printable, safe_text
from hhu_sync.packing import Packer
from hhu_sync.store.base import StorageUnavailable, StoreError

log = logging.getLogger("hhu_sync.outbox")


@dataclass
class _Plan:
    """A valid file waiting for the batch's transaction."""

    path: Path
    sha: str
    kind: str
    scheme: Scheme | SchemeRecord | None     # a plan carries one of these two
    mlist: MeterList | None
    target_hhu: str | None
    hhu: str | None
    read_as: Signature
    dest: Path | None = None
    bundle: tuple[str, str, bytes] | None = None   # (HHU, bundle id, sealed file)
    content_sha: str = ""      # the bytes' own hash (``sha``: the idempotency key)


@dataclass(frozen=True)
class Outcome:
    path: Path
    status: str          # accepted | rejected | duplicate | deferred | gone | failed
    kind: str = ""
    detail: str = ""
    moved_to: Path | None = None
    delivery_id: int | None = None


MOVE_TRIES = 3        # a failed move to archive/ is tried again this often, then left
STUCK_FIRST_RETRY = 30.0     # a file left (not even movable aside) is tried again after
STUCK_MAX_RETRY = 3600.0     # ... this, doubling per failure up to this cap
MAX_PROBLEMS = 20     # problems listed in a reason; the rest are counted


def reason_text(reason: str) -> str:
    """A reason as stored and written beside the file: each line one safe line."""
    return "\n".join(safe_text(line) for line in reason.splitlines() or [""])


def problems_text(problems) -> str:
    lines = [safe_text(str(p)) for p in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"... and {len(problems) - MAX_PROBLEMS} more problems")
    return "\n".join(lines)


def _unread_key(path: Path) -> str:
    """The inputs row of a file rejected unread (no content to hash): its name and
    identity on disk, so that people see it with the other rejections."""
    try:
        st = os.lstat(path)
        ident = f"{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}"
    except OSError:
        ident = ""
    return hashlib.sha256(b"unread\0" + os.fsencode(path) + b"\0" + ident.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _on_disk(folder: Path) -> Callable[[str], bool]:
    """Whether a name is taken in ``folder``: the file, or a reason written for it."""
    return lambda name: (os.path.lexists(folder / name)
                         or os.path.lexists(folder / f"{name}{REASON}"))


_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


def _move(path: Path, dest: Path, expect: Signature | None = None, *,
          src_root: Path | None = None, dst_root: Path | None = None) -> None:
    """Move ``path`` to ``dest``, never over another file; the caller fsyncs the folders.

    A hard link to ``dest``, then the outbox name unlinked. A rename would do the same
    in one call, but a rename out of the outbox is an ``IN_MOVED_FROM`` for the watcher:
    one more event per accepted file for watchdog's threads to read, hold for pairing
    and drop, while back office's close events wait in the same queue. An unlink is no
    event the watcher asks for, and a link can never replace a file already archived
    under that name. A crash between the two leaves both names on one file, which the
    processor recognises at restart (see :func:`_same_file`) and finishes by the unlink.
    A file system without hard links gets the rename; another file system, a copy.

    Nothing is followed: a symlink is moved as the link (never its target), and only a
    regular file is ever copied. Both folders are opened once, through real folders only
    from ``src_root`` (the outbox) and ``dst_root`` (above archive/ or rejected/), and
    every step acts relative to them: a folder swapped for a symlink after a check can
    neither bring a file from elsewhere nor receive one. ``expect`` (the signature of
    what was checked) is compared with the archived name before the outbox name goes: a
    file changed since it was checked is not archived as checked (:class:`Changed`; it
    stays in the outbox).
    """
    sfd = open_folder(path.parent, src_root or path.parent)
    try:
        dfd = open_folder(dest.parent, dst_root or dest.parent)
        try:
            _move_at(sfd, path, dfd, dest, expect)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def _sig_at(dfd: int, name: str) -> Signature | None:
    try:
        return signature(os.stat(name, dir_fd=dfd, follow_symlinks=False))
    except OSError:
        return None


def _same_at(sfd: int, src: str, dfd: int, dst: str) -> bool:
    try:
        x = os.stat(src, dir_fd=sfd, follow_symlinks=False)
        y = os.stat(dst, dir_fd=dfd, follow_symlinks=False)
    except OSError:
        return False
    return (x.st_dev, x.st_ino) == (y.st_dev, y.st_ino)


def _move_at(sfd: int, path: Path, dfd: int, dest: Path, expect: Signature | None) -> None:
    src, dst = path.name, dest.name
    try:
        os.link(src, dst, src_dir_fd=sfd, dst_dir_fd=dfd, follow_symlinks=False)
    except FileExistsError:
        if not _same_at(sfd, src, dfd, dst):
            raise
    except OSError as exc:
        if exc.errno != errno.EXDEV and exc.errno not in _NO_LINKS:
            raise
        if _sig_at(dfd, dst) is not None:        # a rename or a copy would replace it
            raise FileExistsError(errno.EEXIST, "destination exists", str(dest)) from None
        if exc.errno != errno.EXDEV:
            os.rename(src, dst, src_dir_fd=sfd, dst_dir_fd=dfd)
            return
        if not stat.S_ISREG(os.stat(src, dir_fd=sfd, follow_symlinks=False).st_mode):
            raise OSError(errno.EXDEV, "not a regular file: not copied across file systems",
                          str(path)) from None
        copy_new_file(path, dest, src_dir_fd=sfd, dest_dir_fd=dfd)   # O_EXCL|O_NOFOLLOW
        # A copy is a new inode: what must not have changed is the file it was made from.
        if expect is not None and (_sig_at(sfd, src) != expect
                                   or os.stat(dst, dir_fd=dfd).st_size != expect[1]):
            os.unlink(dst, dir_fd=dfd)
            raise Changed(errno.EAGAIN, "changed after it was checked", str(path)) from None
        os.unlink(src, dir_fd=sfd)
        return
    if expect is not None and (_sig_at(dfd, dst) != expect or _names(dfd, dst) > 2):
        # Changed since the check, or given a name elsewhere since (whose maker could
        # rewrite the archived copy at will): not archived as checked. Read again, a file
        # with a name elsewhere is refused as a hard link.
        os.unlink(dst, dir_fd=dfd)      # our own new name; the outbox name keeps the file
        raise Changed(errno.EAGAIN, "changed after it was checked", str(path))
    os.unlink(src, dir_fd=sfd)


def _names(dfd: int, name: str) -> int:
    """How many names the file has (ours: the outbox's and the archive's)."""
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False).st_nlink
    except OSError:
        return 0


def unlink_in(path: Path, root: Path) -> None:
    """Unlink ``path`` relative to its folder reached from ``root`` through real folders
    only (finishing an interrupted move): never a file elsewhere through a swapped folder."""
    fd = open_folder(path.parent, root)
    try:
        os.unlink(path.name, dir_fd=fd)
        os.fsync(fd)
    finally:
        os.close(fd)


def _sig(path: Path) -> Signature | None:
    try:
        return signature(os.lstat(path))
    except OSError:
        return None


def _same_file(a: Path, b: Path) -> bool:
    """Both names on one file (a move interrupted between its link and its unlink)."""
    try:
        x, y = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return (x.st_dev, x.st_ino) == (y.st_dev, y.st_ino)


STORAGE_GONE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}

NAME_MAX = 255
TEMP_ROOM = 40     # what atomic_write's temporary name adds to the reason file's
REASON = ".reason.txt"


def fit_name(name: str) -> str:
    """``name``, or a shortened one (a prefix, a hash of the whole name, the suffix) when
    ``NAME-99999.reason.txt`` would not fit in a folder entry (ENAMETOOLONG)."""
    raw = os.fsencode(name)
    room = NAME_MAX - len(REASON) - 6 - TEMP_ROOM   # "-NNNNN" from _free_name
    if len(raw) <= room:
        return name
    stem, suffix = os.path.splitext(raw)
    if len(suffix) > 16:
        suffix = b""
    tag = b"~" + hashlib.sha256(raw).hexdigest()[:12].encode()
    return os.fsdecode(stem[:room - len(tag) - len(suffix)] + tag + suffix)


def _free_name(folder: Path, name: str, taken: Callable[[str], bool]) -> Path:
    """``folder/name``, or ``folder/stem-2.ext`` ... when taken: never overwrite."""
    name = fit_name(name)
    stem, suffix = os.path.splitext(name)
    candidate, n = name, 2
    while taken(candidate):
        candidate = f"{stem}-{n}{suffix}"
        n += 1
    return folder / candidate


def real_folders(path: Path, root: Path) -> None:
    """OSError (ELOOP) unless every folder between ``root`` and ``path`` is a real folder:
    a link made through a symlinked folder would take the file it points at. (Checked
    through descriptors, so a path longer than PATH_MAX is checked too.)"""
    os.close(open_folder(path.parent, root))


def move_aside(path: Path, folder: Path, reason: str | None = None,
               dest: Path | None = None, within: Path | None = None,
               anchor: Path | None = None) -> Path:
    """Move ``path`` into ``folder`` (its reason written first, beside it); durable.

    ``within``: the outbox, whose folders on the way to ``path`` must all be real ones;
    ``anchor``: the folder above the daemon's own (``folder``'s parent unless given), from
    which ``folder`` must be reached through real folders, at the move itself.
    """
    failpoint("outbox.move_aside", PermissionError(errno.EACCES, "Permission denied "
                                                   "(failpoint)", str(path)))
    try:
        failpoint("outbox.rejected_full", OSError(errno.ENOSPC, "No space left on device "
                                                  "(failpoint)", str(folder)))
        if within is not None:
            real_folders(path, within)
        ensure_dir(folder, DAEMON_DIR_MODE)
        dest = dest or _free_name(folder, path.name, _on_disk(folder))
        if reason is not None:
            atomic_write(dest.with_name(dest.name + REASON),
                         reason.encode("utf-8", "backslashreplace") + b"\n")
        _move(path, dest, src_root=within, dst_root=anchor or folder.parent)
        fsync_dir(folder)
        fd = open_folder(path.parent, within or path.parent)   # its path may be too long
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno in STORAGE_GONE:
            # A full or failing disk is no fault of this file, nor of the next: the whole
            # outbox waits, backed off, one log line per state change (not per file).
            raise StorageUnavailable(f"{folder}: {exc.strerror}") from exc
        raise
    return dest


class OutboxProcessor:
    def __init__(self, config: Config, store, catalog: Catalog, keystore: KeyStore,
                 packer: Packer | None = None, clock=time.monotonic,
                 wall=time.time, workers: int = 0) -> None:
        self.config = config
        self.store = store
        self.catalog = catalog
        self.keystore = keystore
        self.packer = packer or Packer(store, keystore, config.depot_id)
        self.outbox = config.paths.outbox
        self.clock = clock
        self.wall = wall
        self._waiting: dict[Path, float] = {}   # lists waiting for their schemes
        self.mover = ArchiveMover(partial(_move, src_root=self.outbox,
                                          dst_root=config.paths.archive.parent))
        self.backoff = Backoff(clock)
        self.stuck: dict[Path, Signature | None] = {}   # not even movable aside: left
        self._stuck_retry: dict[Path, tuple[float, int]] = {}   # retry at, failures so far
        self._move_tries: dict[Path, int] = {}    # archive moves handed back, per file
        self.failures = 0                         # files whose handling raised
        self._writes = 0                          # store writes that succeeded
        self._names: tuple[Path, set[str]] | None = None    # see _archive_names
        ctx = Context(self.outbox, catalog, keystore, self.packer, store.library,
                      config.limits.debounce_seconds, wall=lambda: self.wall(),
                      archive=config.paths.archive, rejected=config.paths.rejected)
        p = config.paths
        self.examiner = Examiner(ctx, workers=workers, store_url=store.url, catalog=p.catalog,
                                 depot_id=config.depot_id)

    def _archive_folder(self) -> Path:
        return self.config.paths.archive / datetime.now(UTC).strftime("%Y-%m-%d")

    def _archive_names(self, folder: Path) -> set[str]:
        """Names taken in today's archive folder: listed once, then every name given out.

        Only hhu-sync writes into archive/, so this is exact without a look at the disk
        per file; such looks were slow besides, each one waiting on the folder while the
        mover renamed into it.
        """
        if self._names is None or self._names[0] != folder:
            archive = self.config.paths.archive
            try:
                ensure_dir(archive, DAEMON_DIR_MODE)     # refuses a symlink in its place
                ensure_dir(folder, DAEMON_DIR_MODE)
                fd = open_folder(folder, archive.parent)   # both real folders, now
                try:
                    names = set(os.listdir(fd))
                finally:
                    os.close(fd)
            except OSError as exc:
                # archive/ unusable (a symlink in its place, no room): no fault of the
                # files, which wait in the outbox while it is backed off, as for a full disk.
                raise StorageUnavailable(f"archive folder {archive} cannot be used: "
                                         f"{printable(str(exc))}") from exc
            self._names = (folder, names)
        return self._names[1]

    def _reject(self, path: Path, sha: str, kind: str, reason: str,
                aside: Path | None = None) -> Outcome:
        """Move the file (or ``aside``, the name it was reached through) to rejected/
        with its reason beside it; record the reason when the file was read."""
        reason = reason_text(reason)
        dest = move_aside(aside or path, self.config.paths.rejected, reason,
                          within=self.outbox)
        if sha:
            self.store.record_input(sha, printable(path.name), kind, "rejected", reason,
                                    printable(str(dest)), _now())
            self._writes += 1
        log.warning("rejected %s: %s", printable(path.name), reason.splitlines()[0])
        return Outcome(path, "rejected", kind, reason, dest)

    def _quarantine(self, path: Path, exc: BaseException) -> Outcome:
        """A file whose handling raised: set aside, once; the daemon goes on."""
        self.failures += 1
        # A traceback only for what is a bug here; a refusal by the system is one line.
        log.error("outbox: handling %s failed: %s: %s", printable(path.name),
                  type(exc).__name__, safe_text(str(exc)),
                  exc_info=None if isinstance(exc, OSError) else exc)
        if not os.path.lexists(path):
            return Outcome(path, "gone")
        reason = (f"{path.name}: could not be handled ({type(exc).__name__}: {exc}); "
                  "set aside for a person to look at")
        try:
            return self._reject(path, "", "unknown", reason)
        except FileNotFoundError:
            return Outcome(path, "gone")
        except StorageUnavailable:
            raise
        except Exception as again:  # noqa: BLE001 - cannot even move it: leave it, for now
            wait = self._leave(path)
            log.error("outbox: cannot move %s aside either (%s); left where it is, tried "
                      "again in %.0f s or when it changes", printable(path.name),
                      safe_text(str(again)), wait)
            return Outcome(path, "failed", "", reason_text(reason))

    def _leave(self, path: Path) -> float:
        """Remember a file that could not be moved (a full or broken rejected/ is seldom
        for good): not looked at again until it changes or its wait ends, the wait
        doubling per failure up to :data:`STUCK_MAX_RETRY`. Returns the wait."""
        self.stuck[path] = _sig(path)
        failures = self._stuck_retry.get(path, (0.0, 0))[1] + 1
        wait = min(STUCK_MAX_RETRY, STUCK_FIRST_RETRY * 2 ** min(failures - 1, 16))
        self._stuck_retry[path] = (self.clock() + wait, failures)
        while len(self.stuck) > 10_000:                   # bounded in a long run
            oldest = next(iter(self.stuck))
            self.stuck.pop(oldest)
            self._stuck_retry.pop(oldest, None)
        while len(self._stuck_retry) > 20_000:            # ... the waits of those retried
            self._stuck_retry.pop(next(iter(self._stuck_retry)))
        return wait

    def stuck_retry_in(self, path: Path) -> float:
        """Seconds until a file left by :meth:`_leave` is worth handing over again."""
        at = self._stuck_retry.get(Path(path), (self.clock(), 0))[0]
        return max(0.0, at - self.clock())

    def _still_left(self, path: Path) -> bool:
        """A file left earlier, unchanged and still within its wait."""
        if path not in self.stuck:
            return False
        if self.stuck[path] != _sig(path):     # changed: a new file, a fresh start
            self._stuck_retry.pop(path, None)
        elif self.stuck_retry_in(path) > 0:
            return True
        del self.stuck[path]          # changed, or its wait is over: tried again
        return False

    def _finish_aside(self, path: Path, other: Path) -> Outcome:
        """Linked into rejected/, then the daemon stopped before the unlink: unlink."""
        if not _same_file(path, other):
            return Outcome(path, "deferred", "", "changed since it was looked at")
        real_folders(path, self.outbox)
        unlink_in(path, self.outbox)
        log.info("finished moving %s aside to %s", printable(path.name),
                 printable(str(other)))
        return Outcome(path, "rejected", "unknown", "recovered", other)

    def moves_to_retry(self) -> list[Path]:
        """Files whose move to archive/ failed, to be looked at again: each at most
        :data:`MOVE_TRIES` times, then left (logged) for a wait that doubles, rather than
        tried in a loop."""
        out = []
        for path in self.mover.failed():
            n = self._move_tries[path] = self._move_tries.get(path, 0) + 1
            if n <= MOVE_TRIES:
                out.append(path)
            elif n == MOVE_TRIES + 1:
                wait = self._leave(path)
                self._move_tries.pop(path, None)     # a fresh round after the wait
                log.error("outbox: %s could not be moved to archive/ in %d tries; left in "
                          "the outbox, tried again in %.0f s (it is recorded: only the "
                          "move is finished)", printable(path.name), MOVE_TRIES, wait)
                out.append(path)     # handed over now, it is "failed" until its wait ends
        if len(self._move_tries) > 10_000:
            self._move_tries.clear()
        return out

    def process(self, path: Path) -> Outcome:
        """Handle one complete file, moved when this returns. Never raises for bad input;
        the file moves (``failed``: not even a move aside was possible; it is left)."""
        outcome = self.process_batch([path])[0]
        self.mover.flush()
        return outcome

    def close(self) -> None:
        """Finish the moves still pending (at shutdown); stop the workers."""
        self.examiner.close()
        if not self.mover.close():
            log.error("outbox: moves to archive/ still pending at shutdown; they are "
                      "finished at the next start")

    def process_batch(self, paths: list[Path]) -> list[Outcome]:
        """Handle several files with one transaction and one folder fsync for the lot.

        Outcomes come back in the order of ``paths``. When the store is unavailable
        (disk full), files not yet finished stay in the outbox as ``deferred``.
        """
        return self._guarded(paths, None)

    def process_many(self, paths: list[Path], batch: int = 32,
                     stop: Callable[[], bool] = lambda: False) -> Iterator[list[Outcome]]:
        """Handle ``paths`` in batches, each batch examined while the one before it is
        committed; yields each batch's outcomes after its commit.

        When ``stop`` turns true no further batch is started; the files of the batches
        not yet yielded are simply not handled (they stay in the outbox).
        """
        chunks = [paths[i:i + batch] for i in range(0, len(paths), batch)]
        if not chunks:
            return
        if not self.backoff.allowed():     # storage away: not even read until the wait ends
            yield [self._deferred(p) for p in paths]
            return
        pending = self.examiner.submit(chunks[0], backlog=len(paths))
        for n, chunk in enumerate(chunks):
            examined = pending()
            if n + 1 < len(chunks) and not stop():
                pending = self.examiner.submit(chunks[n + 1], backlog=len(paths))
            yield self._guarded(chunk, examined)
            if stop():
                return

    def retry_in(self) -> float:
        """Seconds before deferred files are worth handing over again."""
        return self.backoff.retry_in()

    def _deferred(self, path: Path, why: str = "storage unavailable") -> Outcome:
        return Outcome(Path(path), "deferred" if os.path.lexists(path) else "gone", "", why)

    def _guarded(self, paths: list[Path], examined: list[Examined] | None) -> list[Outcome]:
        """The batch, and whatever goes wrong with it kept to the file it went wrong on."""
        if not self.backoff.allowed():
            return [self._deferred(p) for p in paths]
        writes = self._writes
        try:
            outcomes = self._process_batch(paths, examined)
        except StorageUnavailable as exc:
            self.backoff.failed(exc)
            return [self._deferred(p, str(exc)) for p in paths]
        except Exception as exc:  # noqa: BLE001 - one file's fault: find it, file by file
            log.error("outbox: a batch of %d files failed (%s); handling them one by one",
                      len(paths), type(exc).__name__)
            outcomes = [self._alone(Path(p)) for p in paths]
        if self._writes > writes:
            self.backoff.succeeded()
        return outcomes

    def _alone(self, path: Path) -> Outcome:
        try:
            return self._process_batch([path])[0]
        except StorageUnavailable as exc:
            self.backoff.failed(exc)
            return self._deferred(path, str(exc))
        except Exception as exc:  # noqa: BLE001 - quarantined, the daemon goes on
            return self._quarantine(path, exc)

    def _process_batch(self, paths: list[Path],
                       examined: list[Examined] | None = None) -> list[Outcome]:
        paths = [Path(p) for p in paths]
        outcomes: dict[Path, Outcome] = {}
        if self.stuck:            # left after a failure: not tried again until it changes
            for p in paths:
                if self._still_left(p):
                    outcomes[p] = Outcome(p, "failed", "", "left: could not be moved aside")
            if outcomes:
                if examined is not None:
                    examined = [e for e in examined if e.path not in outcomes]
                rest = [p for p in paths if p not in outcomes]
                if rest:
                    outcomes.update(zip(rest, self._process_batch(rest, examined),
                                        strict=True))
                return [outcomes[p] for p in paths]
        if examined is None:
            examined = self.examiner.submit(paths)()
        # The store first: while it is away (a database down) nothing of the batch is
        # moved, not even a file that is set aside unread; all of it waits in the outbox.
        seen = self.store.inputs_seen(sorted({item.sha for item in examined if item.sha}))
        found: list[Examined] = []
        for item in examined:
            try:
                if item.status == "deferred":     # the key store away: like storage
                    raise StorageUnavailable(safe_text(item.detail))
                if item.status == "gone":
                    outcomes[item.path] = Outcome(item.path, "gone")
                elif item.status == "fresh":
                    outcomes[item.path] = Outcome(item.path, "deferred", "",
                                                  "still being written")
                elif item.status == "refused" and item.already is not None:
                    outcomes[item.path] = self._finish_aside(item.path, item.already)
                elif item.status in ("unreadable", "refused"):
                    outcomes[item.path] = self._reject(
                        item.path, _unread_key(item.aside or item.path), "unknown",
                        f"{item.path.name}: {item.detail}", aside=item.aside)
                else:
                    found.append(item)
            except StorageUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - quarantined at this file
                outcomes[item.path] = self._quarantine(item.path, exc)
        plans: list[_Plan] = []
        shas: dict[str, Path] = {}
        keys = self.keystore.snapshot()
        for item in found:
            try:
                result = self._examine(item, seen.get(item.sha), shas, keys)
            except StorageUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - quarantined at this file
                result = self._quarantine(item.path, exc)
            if isinstance(result, Outcome):
                outcomes[item.path] = result
            else:
                plans.append(result)
        if plans:
            for plan, outcome in zip(plans, self._commit(plans), strict=True):
                outcomes[plan.path] = outcome
        return [outcomes[p] for p in paths]

    def _examine(self, item: Examined, seen: dict | None, shas: dict[str, Path],
                 keys: KeySnapshot) -> Outcome | _Plan:
        """Decide on one checked file; reject it at once, or plan its acceptance."""
        path, sha = item.path, item.sha
        if sha in shas:
            reason = (f"{path.name}: the same content as {shas[sha].name}, received with it; "
                      "not processed again")
            return self._duplicate(path, sha, "", reason_text(reason),
                                   printable(shas[sha].name))
        if seen is not None:
            return self._seen_before(path, sha, seen)
        if item.status == "misplaced":
            return self._reject(path, "", "quick_send", item.detail)
        if item.problems:
            if self._should_wait(path, item.problems):
                return Outcome(path, "deferred", "meter_list",
                               "waiting for the schemes it names")
            self._waiting.pop(path, None)
            return self._reject(path, sha, item.declared or "unknown",
                                problems_text(item.problems))
        self._waiting.pop(path, None)
        plan = self._plan(item, keys)
        if isinstance(plan, _Plan):
            shas[sha] = path
            if item.bundle is not None and item.bundle[0] == plan.hhu:
                plan.bundle = item.bundle
            elif plan.hhu:
                log.warning("%s: not packed yet (packed when %s docks): %s", printable(path.name),
                            plan.hhu, item.detail or "not sealed")
        return plan

    def _should_wait(self, path: Path, problems) -> bool:
        """A list may arrive before its schemes: wait a while before refusing it."""
        if not all(p.code is ProblemCode.UNKNOWN_SCHEME for p in problems):
            return False
        if path not in self._waiting:   # once, when it starts waiting (status shows it too)
            log.info("%s: meter list waits up to %g s for its schemes: %s", path.name,
                     self.config.limits.scheme_wait_seconds,
                     "; ".join(sorted({p.message for p in problems})))
        first = self._waiting.setdefault(path, self.clock())
        return self.clock() - first < self.config.limits.scheme_wait_seconds

    def _seen_before(self, path: Path, sha: str, seen: dict) -> Outcome:
        moved_to = Path(seen["moved_to"]) if seen["moved_to"] else None
        if seen["status"] == "accepted" and moved_to and _same_file(path, moved_to):
            # Linked into the archive, then the daemon stopped before the unlink.
            unlink_in(path, self.outbox)
            log.info("finished moving %s to %s", printable(path.name), printable(str(moved_to)))
            return Outcome(path, "accepted", seen["kind"], "recovered", moved_to)
        if seen["status"] == "accepted" and moved_to and not moved_to.exists():
            self.mover.flush()   # its move may be pending still: let it finish first
            if not path.exists():
                return Outcome(path, "gone")
            if not moved_to.exists():
                # Recorded, then the daemon stopped (or the move failed) before the
                # move: finish the move only.
                dest = move_aside(path, moved_to.parent, dest=moved_to, within=self.outbox,
                                  anchor=self.config.paths.archive.parent)
                if self._names is not None and self._names[0] == dest.parent:
                    self._names[1].add(dest.name)    # listed before it came back
                log.info("finished moving %s to %s", printable(path.name), printable(str(dest)))
                return Outcome(path, "accepted", seen["kind"], "recovered", dest)
        reason = (f"{path.name}: the same content was already received as {seen['name']} "
                  f"at {seen['received_at']} ({seen['status']}); not processed again")
        return self._duplicate(path, sha, seen["kind"], reason_text(reason),
                               seen["name"])

    def _duplicate(self, path: Path, sha: str, kind: str, reason: str, of: str) -> Outcome:
        """Set the file aside in rejected/ with its reason, and record it (the outbox
        page lists it, "duplicate of ``of``"); the content's own row stays as it was."""
        dest = move_aside(path, self.config.paths.rejected, reason, within=self.outbox)
        self.store.record_duplicate(sha, printable(path.name), kind, reason,
                                    printable(str(dest)), of, _now())
        self._writes += 1
        log.warning("duplicate %s", printable(path.name))
        return Outcome(path, "duplicate", kind, reason, dest)

    def _plan(self, item: Examined, keys: KeySnapshot) -> Outcome | _Plan:
        path, sha, target_hhu = item.path, item.sha, item.target_hhu
        scheme, mlist = item.scheme, item.mlist
        if target_hhu and scheme is None:
            return self._reject(path, sha, "quick_send",
                                f"{path.name}: a Quick send carries one scheme, not a meter list")
        kind = ("quick_send" if target_hhu else "scheme") if scheme else "meter_list"
        hhu = target_hhu or (mlist.hhu if mlist else None)
        try:
            key = keys.hhu_key(hhu) if hhu else None
        except KeyStoreError as exc:     # the key store's fault, not the file's: it waits
            raise StorageUnavailable(f"key store unavailable: {safe_text(str(exc))}") from exc
        if hhu and key is None:
            return self._reject(path, sha, kind,
                                f"{path.name}: {hhu} is not enrolled; run 'hhu-sync enroll {hhu}'")
        if mlist and not mlist.hhu and not mlist.remote \
                and mlist.crew not in self.config.hhus.values():
            return self._reject(path, sha, kind, f"{path.name}: list.crew: no HHU of crew "
                                f"{mlist.crew!r} in the configuration's [[hhus]]")
        assert item.read_as is not None         # an examined file was stat'ed
        return _Plan(path, sha, kind, scheme, mlist, target_hhu, hhu, item.read_as,
                     content_sha=item.content_sha or sha)

    def _commit(self, plans: list[_Plan]) -> list[Outcome]:
        """Record every plan (with its sealed file) in one transaction, then move the files.

        The order is what makes a crash harmless: a file recorded but not yet moved is
        recognised by its hash at restart and only moved (see :meth:`_seen_before`).
        """
        folder = self._archive_folder()
        names = self._archive_names(folder)
        for plan in plans:
            plan.dest = _free_name(folder, plan.path.name, names.__contains__)
            names.add(plan.dest.name)
        now = _now()
        items = [dict(sha256=p.sha, name=printable(p.path.name), kind=p.kind,
                      moved_to=printable(str(p.dest)),
                      now=now, scheme=p.scheme, mlist=p.mlist, quick_send_hhu=p.target_hhu,
                      bundle=p.bundle)
                 for p in plans]
        try:
            deliveries: list[int | None | Outcome] = list(self.store.accept_inputs(items))
            self._writes += 1
        except StorageUnavailable:
            raise
        except StoreError:
            # One of them cannot be taken (a list id already held): find it, one by one.
            deliveries = []
            for plan, item in zip(plans, items, strict=True):
                try:
                    deliveries.append(self.store.accept_input(**item))
                    self._writes += 1
                except StorageUnavailable:
                    raise
                except StoreError as exc:
                    deliveries.append(self._reject(plan.path, plan.sha, plan.kind,
                                                   f"{plan.path.name}: {exc}"))
        outcomes: list[Outcome] = []
        moves: list[Move] = []
        for plan, delivery in zip(plans, deliveries, strict=True):
            if isinstance(delivery, Outcome):
                outcomes.append(delivery)
                continue
            assert plan.dest is not None            # named above, before the transaction
            moves.append(Move(plan.path, plan.dest, plan.read_as))
            subject = plan.scheme or plan.mlist
            assert subject is not None
            what = subject.id
            log.info("accepted %s: %s %s%s (sha256 %s)", printable(plan.path.name), plan.kind,
                     what, f" for {plan.hhu}" if plan.hhu else "", plan.content_sha)
            outcomes.append(Outcome(plan.path, "accepted", plan.kind, what, plan.dest, delivery))
        self.mover.submit(moves)   # committed: queued now; the renames follow
        return outcomes
