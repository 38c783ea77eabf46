"""Move accepted outbox files to archive/ after their commit, off the processing path.

Once a file's delivery is committed it is queued: moving the file to archive/ is
housekeeping, and on a busy outbox each move waits on the folder that back office is
still writing into. A single thread does the moves and the folder fsyncs, so the next
batch is read and checked meanwhile.

Nothing here can lose a file:

- a move is only submitted after the commit, and a crash before it is finished leaves
  the file in the outbox, recognised by its hash at restart and only moved then;
- each file is moved only if it is still the file that was read (same inode, size and
  modification time), checked again on the archived name before the outbox name goes:
  a file rewritten in place after it was read stays in the outbox and is handed back
  (:meth:`failed`) to be read again as the new content it is;
- a move that fails is counted, logged and handed back (:meth:`failed`) so the daemon
  looks at the file again.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hhu_sync.fsutil import fsync_dir
from hhu_sync.outbox.safe_open import printable

log = logging.getLogger("hhu_sync.outbox")

Signature = tuple[int, int, int]   # inode, size, mtime in ns


def signature(st: os.stat_result) -> Signature:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class Changed(OSError):
    """The file linked into archive/ is not the file that was checked: not archived."""


@dataclass(frozen=True)
class Move:
    source: Path
    dest: Path
    read_as: Signature


class ArchiveMover:
    """One background thread moving files in the order their batches were committed."""

    GROUPS_PER_FSYNC = 8   # batches whose moves share one round of folder fsyncs

    def __init__(self, move: Callable[[Path, Path, Signature | None], None]) -> None:
        self._move = move
        self._jobs: queue.Queue[list[Move] | None] = queue.Queue()
        self._idle = threading.Condition()
        self._outstanding = 0
        self._failed: list[Path] = []
        self._reserved: set[Path] = set()   # destinations of moves not yet done
        self._thread: threading.Thread | None = None
        self.moved = 0
        self.skipped = 0
        self.errors = 0

    def submit(self, moves: list[Move]) -> None:
        if not moves:
            return
        with self._idle:
            self._outstanding += 1
            self._reserved.update(m.dest for m in moves)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="outbox-mover",
                                                daemon=True)
                self._thread.start()
        self._jobs.put(moves)

    def reserved(self) -> set[Path]:
        """Destinations still to be moved into: a new file must not be given one."""
        with self._idle:
            return set(self._reserved)

    def idle(self) -> bool:
        with self._idle:
            return self._outstanding == 0

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until every submitted move is done and durable; False on time-out."""
        with self._idle:
            return self._idle.wait_for(lambda: self._outstanding == 0, timeout)

    def failed(self) -> list[Path]:
        """Files whose move failed since the last call (to be looked at again)."""
        with self._idle:
            out, self._failed = self._failed, []
        return out

    def close(self, timeout: float = 60.0) -> bool:
        done = self.flush(timeout)
        if self._thread is not None and self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(timeout)
        self._thread = None
        return done

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            groups = [first]
            while len(groups) < self.GROUPS_PER_FSYNC:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)   # finish these first, then stop
                    break
                groups.append(more)
            failed: list[Path] = []
            folders: set[Path] = set()
            for group in groups:
                for move in group:
                    if self._one(move):
                        folders.update((move.dest.parent, move.source.parent))
                    elif os.path.lexists(move.source):
                        failed.append(move.source)
            for folder in folders:
                try:
                    fsync_dir(folder)
                except OSError as exc:
                    self.errors += 1
                    log.error("outbox: cannot fsync %s: %s", folder, exc)
            with self._idle:
                self._failed += failed
                self._outstanding -= len(groups)
                for group in groups:
                    self._reserved.difference_update(m.dest for m in group)
                self._idle.notify_all()

    def _one(self, move: Move) -> bool:
        """Move one file if it is still the file that was read; True when moved."""
        now = _sig(move.source)
        if now != move.read_as:
            self.skipped += 1
            if now is not None:
                log.warning("%s changed after it was read; left in the outbox to be read "
                            "again", printable(move.source.name))
            return False
        try:
            self._move(move.source, move.dest, move.read_as)
        except OSError as exc:
            if isinstance(exc, Changed):
                self.skipped += 1
                log.warning("%s changed after it was read; left in the outbox to be read "
                            "again", printable(move.source.name))
                return False
            self.errors += 1
            log.error("outbox: cannot move %s to %s: %s (it will be tried again)",
                      printable(move.source.name), move.dest.parent,
                      printable(str(exc)))
            return False
        self.moved += 1
        return True


def _sig(path: Path) -> Signature | None:
    try:
        return signature(os.lstat(path))
    except OSError:
        return None
