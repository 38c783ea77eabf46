"""Open only regular files that live in the outbox; say what anything else is, unread.

Whoever may write the outbox must not be able to make the daemon read other files: a
symlink ``outbox/k.csv`` to an HHU key once put the key's first line into a rejection
reason. So a name is never checked and then opened (the name can change in between):
each folder on the way is opened with ``O_NOFOLLOW|O_DIRECTORY`` relative to the one
before, the file itself with ``O_NOFOLLOW|O_NONBLOCK|O_NOCTTY`` (a FIFO or a device can
neither block nor become our terminal), and what was opened is judged by ``fstat`` on
the open descriptor. A second name on the file (a hard link from elsewhere) is refused
too, unless that name is in archive/ or rejected/: then it is our own move, interrupted
between its link and its unlink, and the processor finishes it.

Texts built from a file (its name, a parser's message quoting its bytes) go through
:func:`safe_text`: control characters escaped, length capped.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import stat
from pathlib import Path

from hhu_sync.failpoints import failpoint
from hhu_sync.fsutil import open_dir_under
from hhu_sync.safetext import escape_controls

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
FILE_FLAGS = (os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
              | _CLOEXEC)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
PATH_MAX = 4096       # longer paths cannot be used by name (ENAMETOOLONG)
EXCERPT = 80          # characters of a file's own text a reason may quote, at most
MAX_ARCHIVE_DAYS = 31    # newest day folders of archive/ looked through for our own link


class Refused(Exception):
    """Not read: ``reason`` says what it is; ``aside`` is the name to move aside (the
    file itself, or the symlinked folder it was reached through)."""

    def __init__(self, reason: str, aside: Path, already: Path | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.aside = aside
        self.already = already     # its other name in rejected/: a move aside to finish


def describe(mode: int) -> str:
    """What a non-regular file is, in a person's words."""
    for test, what in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a regular file"


def open_regular(path: Path, root: Path, archive: Path | None = None,
                 rejected: Path | None = None) -> tuple[int, os.stat_result]:
    """An open descriptor on ``path`` and its fstat, when it is a regular file reached
    from ``root`` through real folders only; :class:`Refused` (unread) otherwise.

    OSError (FileNotFoundError: gone) for the rest. ``root`` itself may be a configured
    symlink; nothing below it is followed.
    """
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        root, parts = path.parent, (path.name,)
    if not parts:
        raise Refused("is the outbox folder itself", path)
    dfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    try:
        for n, part in enumerate(parts[:-1]):
            try:
                nfd = os.open(part, DIR_FLAGS, dir_fd=dfd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                folder = root.joinpath(*parts[:n + 1])
                mode = os.stat(part, dir_fd=dfd, follow_symlinks=False).st_mode
                raise Refused(f"lies under {part}, {describe(mode)}, not a folder of the "
                              "outbox: not followed", folder) from None
            os.close(dfd)
            dfd = nfd
        name = parts[-1]
        before = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if not stat.S_ISREG(before.st_mode):
            # Decided before any open: a FIFO or a device is not even opened.
            deep = (" whose path is longer than PATH_MAX (4096 bytes)"
                    if len(os.fsencode(path)) > PATH_MAX else "")
            raise Refused(f"is {describe(before.st_mode)}{deep}: not read", path)
        try:
            # a file back office left mode 000 (root would read it anyway)
            failpoint("outbox.open_denied", PermissionError(errno.EACCES, "Permission "
                                                            "denied (failpoint)", str(path)))
            fd = os.open(name, FILE_FLAGS, dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:     # swapped for a symlink since the stat
                raise Refused("is a symbolic link: not read", path) from None
            raise
    finally:
        os.close(dfd)
    st = os.fstat(fd)
    try:
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"is {describe(st.st_mode)}: not read", path)
        if st.st_nlink > 1 and linked_in(path.name, st, archive_days(archive)) is None:
            other = linked_in(path.name, st, [rejected] if rejected else [])
            if other is not None:        # our own move aside, interrupted: finish it
                raise Refused("already set aside", path, already=other)
            raise Refused(f"has {st.st_nlink} names (a hard link to a file elsewhere): "
                          "not read", path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def open_folder(folder: Path, root: Path) -> int:
    """A descriptor on ``folder`` reached from ``root`` through real folders only, for
    acting *relative* to it (link, unlink, rename): see :func:`fsutil.open_dir_under`."""
    return open_dir_under(folder, root)


def archive_days(archive: Path | None) -> list[Path]:
    """The newest :data:`MAX_ARCHIVE_DAYS` day folders of archive/."""
    if archive is None:
        return []
    try:
        days = sorted((Path(e.path) for e in os.scandir(archive)
                       if e.is_dir(follow_symlinks=False)), reverse=True)
    except OSError:
        return []
    return days[:MAX_ARCHIVE_DAYS]


def linked_in(name: str, st: os.stat_result, folders: list[Path]) -> Path | None:
    """The file's other name in one of ``folders`` (where our own move would have put
    it: ``NAME`` or ``NAME-N``), or None."""
    same = (st.st_dev, st.st_ino)
    stem, suffix = os.path.splitext(name)
    for pattern in (None, f"{glob.escape(stem)}-*{glob.escape(suffix)}"):
        for folder in folders:   # the name itself first: one stat per folder, cheap
            candidates = ([os.path.join(folder, name)] if pattern is None
                          else glob.glob(os.path.join(glob.escape(str(folder)), pattern)))
            for other in candidates:
                try:
                    o = os.stat(other, follow_symlinks=False)
                except OSError:
                    continue
                if (o.st_dev, o.st_ino) == same:
                    return Path(other)
    return None


_HALF = EXCERPT // 2
# A quote opens a quoted excerpt only where one can begin: after a start, a blank or an
# opening bracket, and before a non-blank ("Expected '=' after a key ... (at end of
# document)" quotes one character; the second ' closes it and opens nothing).
_LONG_QUOTE = re.compile(r"(?:(?<=[\s(\[{:=,])|^)"
                         r"(?:('(?!\s)(?:[^'\\]|\\.){" + str(_HALF) + r",}('|$))"
                         r"|(\"(?!\s)(?:[^\"\\]|\\.){" + str(_HALF) + r",}(\"|$)))")


def safe_text(text: str, limit: int = 4 * EXCERPT) -> str:
    """One line of at most ``limit`` characters: control characters escaped (a newline
    in a name cannot forge a log line), quoted excerpts of a file shortened to half of
    :data:`EXCERPT`, bytes that are no UTF-8 (a name's) escaped."""
    text = _LONG_QUOTE.sub(lambda m: m.group()[:_HALF] + "…" + m.group()[0],
                           text[:16 * limit])
    return printable(text, limit)


def printable(text: str, limit: int = 1024) -> str:
    """``text`` with control characters and undecodable bytes escaped, capped: what may
    go into a log line, a reason file or the database (a name from the disk may hold
    bytes that are no UTF-8, which neither a UTF-8 file nor SQLite takes)."""
    text = escape_controls(text)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")   # lone surrogates
    return text if len(text) <= limit else text[:limit - 1] + "…"
