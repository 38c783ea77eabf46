"""The daemon's lock file: one daemon per database, and `status` knows whether it runs.

``<database>.daemon.lock`` is held with ``flock`` while a daemon serves the database and
holds its pid and start time. Two daemons on one database would race on one outbox (the
same file accepted twice, moved twice), so the second refuses to start, naming the first.
The lock, not the file, decides: a daemon killed with SIGKILL leaves its file behind, but
the kernel freed its flock, so the file is recognised as stale.

The content is written whole before the file has its name (temp, fsync, rename), so a
reader never sees half of it. The temp file is locked before the rename, and whoever
locks the file checks that the name still leads to the inode it locked (another daemon
may have renamed a new file over it, or removed it at shutdown): else it tries again.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import secrets
import stat
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hhu_sync.errors import HhuSyncError

log = logging.getLogger(__name__)

MAX_LOCK_BYTES = 4096      # a planted huge file is not read whole
_ATTEMPTS = 20             # each a name that moved while we locked it: bounded


class DaemonRunning(HhuSyncError):
    """Another daemon serves this database."""

    def __init__(self, path: Path, holder: DaemonInfo) -> None:
        self.holder = holder
        pid = f"pid {holder.pid}" if holder.pid is not None else "pid unknown"
        since = f", since {holder.since}" if holder.since else ""
        super().__init__(f"another hhu-sync daemon ({pid}{since}) serves this database "
                         f"(lock {path}); stop it first: two daemons would race on one "
                         "outbox")


@dataclass(frozen=True)
class DaemonInfo:
    running: bool
    pid: int | None = None
    since: str | None = None

    def as_dict(self, path: Path) -> dict:
        return {"running": self.running, "pid": self.pid, "since": self.since,
                "lock": str(path)}


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".daemon.lock")


def _open(path: Path, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o640)


PID_MAX = 4_194_304        # Linux's PID_MAX_LIMIT: a larger "pid" is not one
_SINCE_CHARS = 40          # an ISO time with offset and seconds fits


def _content(fd: int) -> DaemonInfo:
    """What a locked file says (its holder runs); unreadable or implausible parts are None.

    Whoever can write the folder may hold a lock on a file of their own, so the content
    is hostile: JSON nested thousands deep (RecursionError, not ValueError), a pid of
    4,000 digits, a ``since`` with an escape sequence or a newline for the log line and
    the error that names the holder. Only a plausible pid and an ISO time are kept."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        doc = json.loads(os.read(fd, MAX_LOCK_BYTES).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return DaemonInfo(True)
    pid = doc.get("pid") if isinstance(doc, dict) else None
    since = doc.get("since") if isinstance(doc, dict) else None
    return DaemonInfo(True, pid if type(pid) is int and 0 < pid <= PID_MAX else None,
                      since if _is_time(since) else None)


def _is_time(value: object) -> bool:
    if not isinstance(value, str) or len(value) > _SINCE_CHARS or not value.isascii():
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return value.isprintable()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _lock_briefly_shared_or_not(fd: int, tries: int = 5) -> None:
    """The exclusive lock, tried a few times: a `status` holds a shared lock for a moment
    to look, and that is not a daemon. Raises EWOULDBLOCK while one still holds it."""
    for attempt in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt == tries - 1:
                raise
            time.sleep(0.02)


class DaemonLock:
    """Held from :meth:`acquire` to :meth:`release` by the one daemon of a database."""

    def __init__(self, database: Path) -> None:
        self.path = lock_path(database)
        self._fd: int | None = None

    def acquire(self, now: datetime | None = None) -> None:
        """Take the lock or raise :class:`DaemonRunning` naming the daemon that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(_ATTEMPTS):
            try:
                fd = _open(self.path, os.O_RDWR | os.O_CREAT)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.EISDIR):
                    raise
                self._move_aside()        # a symlink or a folder no daemon made
                continue
            try:
                _lock_briefly_shared_or_not(fd)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise
                holder = _content(fd)
                os.close(fd)
                raise DaemonRunning(self.path, holder) from None
            if not _same_file(fd, self.path):     # replaced or removed meanwhile
                os.close(fd)
                continue
            try:
                self._fd = self._publish(now or datetime.now(UTC))
            finally:
                os.close(fd)         # the old inode: its name now leads to ours
            return
        # An OSError, as a folder the daemon cannot write is: it runs on, logged (whoever
        # keeps replanting the name must not be able to stop it).
        raise OSError(errno.EAGAIN, f"replaced {_ATTEMPTS} times while being locked",
                      str(self.path))

    def _move_aside(self) -> None:
        """Move what holds the lock's name (a symlink or a folder: planted, since a daemon
        makes neither) to an unpredictable name beside it, kept, not deleted. Left there,
        it made every daemon run without the lock (two could serve one outbox) and
        ``status`` say none runs. The rename takes whatever is at the name at that instant:
        should that be another daemon's lock just published, it is linked back."""
        aside = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.foreign")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return                        # gone meanwhile: the next attempt creates it
        if stat.S_ISREG(os.stat(aside, follow_symlinks=False).st_mode):
            try:
                os.link(aside, self.path, follow_symlinks=False)   # a regular file: a lock
            except FileExistsError:
                return
            os.unlink(aside)
            return
        log.warning("daemon lock %s was a symlink or a folder, which no daemon makes: "
                    "moved aside to %s", self.path, aside.name)

    def _publish(self, now: datetime) -> int:
        """Write pid and start time to a locked temp file and rename it over the lock."""
        doc = {"pid": os.getpid(), "since": now.isoformat(timespec="seconds")}
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
        fd = _open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, json.dumps(doc).encode() + b"\n")
            os.fsync(fd)
            os.rename(tmp, self.path)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        try:
            dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass                      # the lock holds either way; durability is a nicety
        return fd

    def release(self) -> None:
        """Remove the file (still locked, so nobody takes a name about to vanish), unlock."""
        if self._fd is None:
            return
        try:
            if _same_file(self._fd, self.path):
                self.path.unlink(missing_ok=True)
        except OSError:
            pass                      # left behind: the free flock tells it is stale
        finally:
            os.close(self._fd)
            self._fd = None


def daemon_info(database: Path) -> DaemonInfo:
    """Whether a daemon serves ``database`` now: its lock file is held (never created)."""
    try:
        fd = _open(lock_path(database), os.O_RDONLY)
    except OSError:
        return DaemonInfo(False)      # none, or not one a daemon made (a symlink)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return _content(fd)
            return DaemonInfo(False)
        return DaemonInfo(False)      # free: a daemon that was killed left it behind
    finally:
        os.close(fd)
