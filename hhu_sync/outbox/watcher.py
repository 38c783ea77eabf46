"""Watch the outbox; hand over only complete files, debounced, never the same twice.

watchdog reports several events per write, events before the writer has closed, and
kills its observer if a handler raises; so the handler only enqueues, a
:class:`ReadyFiles` tracker decides when a file is complete, the observer's liveness is
checked by the daemon, and a periodic rescan finds whatever the events missed.

A file is complete when it was closed after writing (inotify ``IN_CLOSE_WRITE``) or
renamed into the outbox, and then stayed quiet for the debounce time. A file found only
by a scan (no event: present at start, or an event lost) must have been untouched for
``scan_quiet`` seconds *and* be held open for writing by no process (looked up in /proc,
:mod:`hhu_sync.outbox.writers`); where that cannot be told, untouched for ``long_quiet``
seconds (``limits.scan_quiet_seconds``).

The scan never follows a symlink: a symlinked folder is not walked but handed over like
a file, to be moved aside unread; so are FIFOs, sockets and devices (at once: no writer
makes them complete). A folder that cannot be listed is logged once and skipped.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from hhu_sync.failpoints import failpoint
from hhu_sync.model.inputs import is_outbox_name
from hhu_sync.outbox.safe_open import printable
from hhu_sync.outbox.writers import FileKey, writing

log = logging.getLogger("hhu_sync.outbox")


def wanted(path: Path | str, root: Path) -> bool:
    """A name under ``root`` the outbox handles (not hidden, not a temporary file: see
    :func:`~hhu_sync.model.inputs.is_outbox_name`; an unknown type is handled: refused).

    Plain string work: it runs for every inotify event, thousands a second when back
    office drops a batch, on the thread that commits them."""
    prefix = os.path.join(os.fspath(root), "")
    raw = os.fspath(path)
    if not raw.startswith(prefix):
        return False
    parts = raw[len(prefix):].split(os.sep)
    return is_outbox_name(parts[-1]) and not any(p.startswith(".") or not p for p in parts)


class _Handler(FileSystemEventHandler):
    """Enqueue only: an exception here would stop the observer."""

    def __init__(self, events: queue.Queue) -> None:
        self.events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if event.is_directory:
            # A folder made or moved in (a new quick-send/<HHU>/, say) may already hold
            # files whose own events came before its watch: they are found by a scan.
            target = event.dest_path if kind == "moved" else event.src_path
            if kind in ("created", "moved") and target:
                self.events.put(("dir", os.fsdecode(target), time.monotonic()))
            return
        # Stamped here, not when the daemon gets round to it: a file closed while a batch
        # was being processed has been quiet since its event, not since the batch ended.
        if kind == "moved":
            if event.dest_path:    # empty: moved out of the watched tree (to archive/)
                self.events.put(("moved", os.fsdecode(event.dest_path), time.monotonic()))
        elif kind in ("closed", "created", "modified"):
            self.events.put((kind, os.fsdecode(event.src_path), time.monotonic()))


BUSY_RESCAN = 5.0    # seconds between scans while a found file is held open for writing


@dataclass
class _Pending:
    last_event: float
    complete: bool      # closed after writing, or moved in


class ReadyFiles:
    """Decides which outbox files are complete; pure bookkeeping, the clock is injected."""

    def __init__(self, root: Path, debounce: float, scan_quiet: float,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, long_quiet: float = 120.0,
                 writers: Callable[[set[FileKey]], tuple[set[FileKey], bool]] = writing,
                 ) -> None:
        self.root = root
        self.debounce = debounce
        self.scan_quiet = scan_quiet
        self.long_quiet = max(long_quiet, scan_quiet)
        self.clock = clock
        self.wall = wall
        self.writers = writers
        self.unlisted: set[str] = set()    # folders a scan could not list (logged once)
        self._pending: dict[Path, _Pending] = {}
        self.handled: set[Path] = set()   # done this run, until the path reappears by event
        self._scan_at: float | None = None   # a scan asked for (a folder came, or files
                                             # a scan found were still fresh)

    def note(self, kind: str, raw_path: str, at: float | None = None) -> None:
        """Record an event on ``raw_path`` seen at ``at`` (the clock's time; now if None).

        ``dir``: a folder appeared; the files in it are looked for by a scan."""
        if kind == "dir":
            self.scan_soon(0.0)
            return
        if not wanted(raw_path, self.root):
            return
        path = Path(raw_path)
        now = self.clock() if at is None else at
        entry = self._pending.get(path)
        complete = kind in ("closed", "moved")
        self.handled.discard(path)
        if entry is None:
            self._pending[path] = _Pending(now, complete)
        else:
            entry.last_event = max(entry.last_event, now)
            entry.complete = complete or (entry.complete and kind != "modified")

    def scan(self) -> int:
        """Pick up files no event told us about (at start, or after a lost event).

        Returns how many candidates were too fresh to take yet (still maybe written).
        """
        fresh = 0
        now_wall = self.wall()
        present: set[Path] = set()
        quiet: list[tuple[Path, os.stat_result]] = []
        for dirpath, dirnames, filenames in os.walk(self.root, onerror=self._unlisted):
            if dirpath != str(self.root):
                try:       # a sub-folder without read permission, for the chaos bench
                    failpoint("outbox.list_folder", PermissionError(
                        errno.EACCES, "Permission denied (failpoint)", dirpath))
                except PermissionError as exc:
                    self._unlisted(exc)
                    dirnames[:] = []
                    continue
            names = list(filenames)
            keep = []
            for d in dirnames:
                if d.startswith("."):
                    continue
                if os.path.islink(os.path.join(dirpath, d)):
                    names.append(d)     # not walked: handed over, to be moved aside
                else:
                    keep.append(d)
            dirnames[:] = keep
            for name in names:
                path = Path(dirpath) / name
                present.add(path)
                if path in self._pending or path in self.handled or not wanted(path, self.root):
                    continue
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):     # never complete by writing: now
                    self._take(path)
                elif now_wall - st.st_mtime >= self.scan_quiet:
                    quiet.append((path, st))
                else:
                    fresh += 1
        busy, sure = self.writers({(st.st_dev, st.st_ino) for _, st in quiet})
        later: float | None = None
        for path, st in quiet:
            age = now_wall - st.st_mtime
            if (st.st_dev, st.st_ino) in busy:
                # A writer holds it open: not complete. Its close event brings it in;
                # a scan looks again now and then (each one reads all of /proc).
                later = BUSY_RESCAN if later is None else min(later, BUSY_RESCAN)
            elif sure or age >= self.long_quiet:
                self._take(path)
            else:                          # cannot tell: wait for the long quiet
                wait = self.long_quiet - age
                later = wait if later is None else min(later, wait)
        # A handled file that has left the outbox needs no remembering: a long-running
        # daemon keeps as many entries as the outbox holds files, not every file it took.
        self.handled &= present
        # Files too fresh to take are looked at again once they can have gone quiet,
        # not at the next periodic scan (their close events may have come before a
        # folder's watch did).
        self._scan_at = None
        if fresh:
            self.scan_soon(self.scan_quiet)
        if later is not None:
            self.scan_soon(later)
        return fresh + (later is not None)

    def _take(self, path: Path) -> None:
        self._pending[path] = _Pending(self.clock() - self.debounce, True)

    def _unlisted(self, exc: OSError) -> None:
        """A folder os.walk cannot list (no permission): skipped, logged once. One whose
        path is longer than PATH_MAX can never be listed by its path: it is handed over,
        to be moved aside with a reason (through descriptors), not left for good."""
        if exc.errno == errno.ENAMETOOLONG and exc.filename:
            path = Path(os.fsdecode(exc.filename))
            if path not in self._pending and path not in self.handled:
                self._take(path)
            return
        where = printable(str(exc.filename or self.root))
        if where not in self.unlisted and len(self.unlisted) < 1000:
            self.unlisted.add(where)
            log.error("outbox: cannot list %s (%s); its files wait until it can be read",
                      where, exc.strerror)

    def scan_soon(self, delay: float) -> None:
        """Ask for a scan in ``delay`` seconds (the earliest asked for wins)."""
        at = self.clock() + delay
        self._scan_at = at if self._scan_at is None else min(self._scan_at, at)

    def scan_due(self) -> bool:
        """A scan asked for is due: scan now (:meth:`scan` clears the request)."""
        return self._scan_at is not None and self.clock() >= self._scan_at

    def ready(self) -> list[Path]:
        """Complete, quiet files, oldest first; they leave the pending set."""
        now = self.clock()
        out = [p for p, e in self._pending.items()
               if e.complete and now - e.last_event >= self.debounce]
        out.sort(key=lambda p: (self._pending[p].last_event, str(p)))
        for p in out:
            del self._pending[p]
        return out

    def due_in(self) -> float | None:
        """Seconds until the next complete file is quiet enough to take (None: none)."""
        lasts = [e.last_event for e in self._pending.values() if e.complete]
        if not lasts:
            return None
        return max(0.0, min(lasts) + self.debounce - self.clock())

    def requeue(self, path: Path, after: float = 0.0) -> None:
        """Look at a file again later (a list waiting for its schemes): after the debounce
        time, or ``after`` seconds when longer (storage backing off)."""
        self._pending[path] = _Pending(self.clock() + max(0.0, after - self.debounce), True)

    def done(self, path: Path) -> None:
        self.handled.add(path)
        if len(self.handled) > 100_000:   # bounded memory in a long run
            self.handled.clear()

    @property
    def pending(self) -> int:
        return len(self._pending)


MOVE_PAIRING_S = 0.02


def _shorten_move_pairing() -> None:
    """watchdog holds an unpaired IN_MOVED_FROM for 0.5 s to pair it with its IN_MOVED_TO,
    and every later event waits behind it. Each file we move to archive/ is such an event
    (its destination is not watched), so at 300 files/s every event arrived half a second
    late. The kernel delivers both halves of a rename in the same read: 20 ms is plenty."""
    try:
        from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper
    except ImportError:   # another watchdog version or platform: nothing to shorten
        return
    if getattr(InotifyMoveEventGrouper, "delay", 0) > MOVE_PAIRING_S:
        InotifyMoveEventGrouper.delay = MOVE_PAIRING_S


class OutboxWatcher:
    """A watchdog observer on the outbox, restartable when it dies."""

    def __init__(self, root: Path, events: queue.Queue) -> None:
        self.root = root
        self.events = events
        self.observer: BaseObserver | None = None
        self.restarts = 0

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _shorten_move_pairing()
        try:
            # A file renamed in from outside the outbox (written elsewhere, then moved
            # in: the usual way to drop a file whole) has no rename source under the
            # watch; by default watchdog reports it as *created*, which says nothing
            # about completeness. Full events report it as moved in, as it is.
            # (watchdog types Observer by the keywords every platform's class takes.)
            observer = Observer(generate_full_events=True)  # type: ignore[call-arg]
        except TypeError:   # not inotify: such files are found by the periodic scan
            observer = Observer()
        # Ask the kernel only for what decides completeness: a close after writing or a
        # rename in (one event per file). Writes, creations and our own reads would
        # triple the events to dispatch; a file written again after its close is caught
        # when it is read (its mtime is younger than the debounce: deferred), and a file
        # that only appears (a hard link, a symlink, a FIFO) is found by the periodic
        # scan. watchdog does not follow symlinked folders (``follow_symlink`` defaults
        # to False); were an event to come from one, the file is still opened only
        # through real folders (safe_open).
        observer.schedule(_Handler(self.events), str(self.root), recursive=True,
                          event_filter=[FileClosedEvent, FileMovedEvent,
                                        DirCreatedEvent, DirMovedEvent])
        observer.daemon = True
        observer.start()
        self.observer = observer

    def alive(self) -> bool:
        return self.observer is not None and self.observer.is_alive()

    def supervise(self) -> bool:
        """Restart a dead observer; True when it had to (the caller should rescan)."""
        if self.alive():
            return False
        log.error("outbox observer stopped; restarting it")
        self.stop()
        self.restarts += 1
        self.start()
        return True

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            if self.observer.is_alive():
                self.observer.join(timeout=5)
            self.observer = None
