"""Durable, symlink-proof file writes: temp file, fsync, rename, fsync the folder.

Whatever hhu-sync acknowledges (a transfer file, an export, a key, a reason) has gone
through here, so a crash leaves either the old file or the new one, never half of one.

Some of the folders written into (``rejected/`` beside a shared outbox, ``exports/``
read by billing) may be reachable by people who should not be able to make the daemon
write elsewhere. So a temporary file has an unpredictable name and is created with
``O_CREAT|O_EXCL|O_NOFOLLOW`` (nothing planted at its name is ever opened or followed),
its mode is set on the descriptor at creation, and the folder is opened once with
``O_NOFOLLOW`` and every later step (create, rename, fsync) is relative to that
descriptor: a folder swapped for a symlink halfway through is refused, not followed.
The final rename replaces whatever has the final name, a symlink included, and never
writes through it.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import IO, Any

_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}
_TMP_TRIES = 8          # name collisions with 64 random bits: retried, and the loop ends
_MAX_NAME = 255         # bytes in one path component (NAME_MAX on Linux and macOS)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
DAEMON_DIR_MODE = 0o750   # archive/, rejected/, exports/ and below: the daemon's, read by its group


class UnsafePathError(OSError):
    """A path that should be a real folder or file is a symlink or something else."""


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | _DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_dir(folder: Path) -> int:
    """A descriptor on ``folder`` itself, refusing a symlink in its place."""
    try:
        return os.open(folder, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(folder):
            raise UnsafePathError(errno.ELOOP, "is a symlink, not a folder; refused",
                                  str(folder)) from None
        raise


def open_dir_under(folder: Path, root: Path) -> int:
    """A descriptor on ``folder`` reached from ``root`` through real folders only, to act
    relative to it: a folder on the way swapped for a symlink after a check cannot
    redirect the act elsewhere. ``root`` itself may be a configured symlink; a ``folder``
    outside ``root`` is opened as its own root. OSError (ELOOP) for a symlink on the way.
    """
    try:
        parts = Path(folder).relative_to(root).parts
    except ValueError:
        root, parts = Path(folder), ()
    dfd = os.open(root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        for part in parts:
            try:
                nfd = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC,
                              dir_fd=dfd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                raise UnsafePathError(errno.ELOOP, "reached through a symbolic link: not "
                                      "followed", str(folder)) from None
            os.close(dfd)
            dfd = nfd
    except BaseException:
        os.close(dfd)
        raise
    return dfd


def ensure_dir(path: str | os.PathLike[str], mode: int = 0o750) -> Path:
    """Make sure ``path`` is a real folder with at most ``mode``'s permissions.

    Missing folders (and missing parents) are made with ``mode`` exactly (not the umask's
    idea of it). An existing folder keeps its mode if that is stricter, and loses the
    bits ``mode`` does not grant if it is looser (when we own it): never loosened. A
    symlink, or anything not a folder, in its place is refused with
    :class:`UnsafePathError` (an ``OSError``, so callers that handle I/O errors handle it).
    """
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, mode)
        except FileExistsError:
            pass                      # made meanwhile by someone else: checked below
    fd = _open_dir(path)
    try:
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode):     # pragma: no cover - O_DIRECTORY refuses it
            raise UnsafePathError(errno.ENOTDIR, "not a folder", str(path))
        perm = stat.S_IMODE(st.st_mode)
        # setgid and sticky bits an admin set are kept (setgid: files keep the group)
        want = mode if path in missing else (perm & mode & 0o777) | (perm & 0o7000)
        if want != perm and st.st_uid == os.geteuid():
            os.fchmod(fd, want)
    finally:
        os.close(fd)
    return path


def user_path(path: str | os.PathLike[str]) -> Path:
    """A file path the person at the command line chose: its folders resolved.

    The writers here refuse a folder that is a symlink, which is right for the daemon's
    own folders but not for ``-o ~/exports/x.csv`` where ``~/exports`` is the user's own
    link. Resolving the folders first follows the user's links, at the user's word; the
    last name is kept, so a symlink there is still replaced, never written through.
    """
    path = Path(path).expanduser()
    return path.parent.resolve() / path.name


def _make_parent(folder: Path) -> None:
    """Create a missing parent (mode 0750); an existing one is used as it is."""
    if not os.path.lexists(folder):
        ensure_dir(folder, 0o750)


def _tmp_name(name: str) -> str:
    """``.NAME.<64 random bits>.tmp``, shortened so it fits in one path component."""
    token = secrets.token_hex(8)
    room = _MAX_NAME - len(token) - 6
    stem = name
    while len(stem.encode("utf-8", "surrogateescape")) > room:
        stem = stem[: max(1, len(stem) * 3 // 4)]
    return f".{stem}.{token}.tmp"


def _create_tmp(dir_fd: int, name: str, mode: int) -> tuple[int, str]:
    """A new file that nobody else has a name on: O_EXCL, O_NOFOLLOW, a random name."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    for _ in range(_TMP_TRIES):
        tmp = _tmp_name(name)
        try:
            fd = os.open(tmp, flags, mode, dir_fd=dir_fd)
        except FileExistsError:
            continue
        try:
            os.fchmod(fd, mode)       # exactly ``mode``, whatever the umask
        except BaseException:
            os.close(fd)
            _unlink_quietly(tmp, dir_fd)
            raise
        return fd, tmp
    raise FileExistsError(errno.EEXIST, f"no free temporary name after {_TMP_TRIES} tries",
                          name)


def _unlink_quietly(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _commit(dir_fd: int, tmp: str, name: str, replace: bool) -> None:
    """Give the temp file its final name: a rename, or a link that never replaces."""
    if replace:
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    else:
        try:
            os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                _unlink_quietly(tmp, dir_fd)
                raise
            # no hard links here (some network and FAT file systems): look, then rename
            try:
                os.lstat(name, dir_fd=dir_fd)
            except FileNotFoundError:
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            else:
                _unlink_quietly(tmp, dir_fd)
                raise FileExistsError(errno.EEXIST, "already exists", name) from None
        else:
            _unlink_quietly(tmp, dir_fd)
    os.fsync(dir_fd)


def atomic_write(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o640,
                 replace: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    With ``replace=False`` an existing ``path`` (a symlink included) is left alone and
    ``FileExistsError`` raised: the check and the write are one step.
    """
    path = Path(path)
    dir_fd = _open_dir(path.parent)
    try:
        fd, tmp = _create_tmp(dir_fd, path.name, mode)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            _unlink_quietly(tmp, dir_fd)
            raise
        os.close(fd)
        try:
            _commit(dir_fd, tmp, path.name, replace)
        except BaseException:
            _unlink_quietly(tmp, dir_fd)
            raise
    finally:
        os.close(dir_fd)


def copy_new_file(src: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                  mode: int = 0o640, src_dir_fd: int | None = None,
                  dest_dir_fd: int | None = None) -> None:
    """Copy ``src`` to a ``dest`` that must not exist yet (no symlink followed), durably.

    With ``src_dir_fd``/``dest_dir_fd`` the names are taken relative to those open
    folders (and the source opened with ``O_NOFOLLOW``): a caller that reached a folder
    safely keeps acting on that folder, whatever its path has become since."""
    src, dest = Path(src), Path(dest)
    if src_dir_fd is None:
        fh = open(src, "rb")  # noqa: SIM115 - closed below
    else:
        fh = open(os.open(src.name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK,
                          dir_fd=src_dir_fd), "rb")
    with fh:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
        dir_fd = _open_dir(dest.parent) if dest_dir_fd is None else os.dup(dest_dir_fd)
        try:
            fd = os.open(dest.name, flags, mode, dir_fd=dir_fd)
            try:
                os.fchmod(fd, mode)
                while chunk := fh.read(1 << 20):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                _unlink_quietly(dest.name, dir_fd)
                raise
            os.close(fd)
        finally:
            os.close(dir_fd)


class atomic_open:  # noqa: N801 - used like open()
    """``with atomic_open(path) as fh:`` streams to a temp file, then fsync and rename.

    On an exception the temp file is removed and ``path`` is left as it was. The temp
    file is made as :func:`atomic_write` makes it (random name, O_EXCL, O_NOFOLLOW).
    """

    def __init__(self, path: str | os.PathLike[str], mode: str = "w", *,
                 newline: str | None = "", perms: int = 0o640) -> None:
        if mode not in ("w", "wb"):
            raise ValueError(f"atomic_open writes a new file: mode 'w' or 'wb', not {mode!r}")
        self.path = Path(path)
        self.tmp: Path | None = None
        self._mode = mode
        self._perms = perms
        self._newline = newline if "b" not in mode else None
        self._fh: IO[Any] | None = None
        self._dir_fd: int | None = None

    def __enter__(self) -> IO[Any]:
        _make_parent(self.path.parent)
        self._dir_fd = _open_dir(self.path.parent)
        try:
            fd, tmp = _create_tmp(self._dir_fd, self.path.name, self._perms)
        except BaseException:
            os.close(self._dir_fd)
            raise
        self.tmp = self.path.with_name(tmp)
        kwargs: dict[str, Any]
        kwargs = {} if "b" in self._mode else {"encoding": "utf-8", "newline": self._newline}
        self._fh = os.fdopen(fd, self._mode, **kwargs)
        return self._fh

    def __exit__(self, exc_type, exc, tb) -> None:
        fh, dir_fd, tmp = self._fh, self._dir_fd, self.tmp
        assert fh is not None and dir_fd is not None and tmp is not None
        try:
            if exc_type is not None:
                fh.close()
                _unlink_quietly(tmp.name, dir_fd)
                return
            try:
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
                _commit(dir_fd, tmp.name, self.path.name, True)
            except BaseException:
                fh.close()
                _unlink_quietly(tmp.name, dir_fd)
                raise
        finally:
            os.close(dir_fd)


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _renameat2() -> Any:
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                   ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def rename_no_replace(src: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Rename ``src`` to ``dest`` unless ``dest`` exists (``FileExistsError``; a symlink
    counts): one step where the kernel has ``renameat2(RENAME_NOREPLACE)``, else a look
    then a rename. A rename, not a link: a watcher sees a file moved in, complete."""
    import ctypes

    fn = _renameat2()
    if fn is not None:
        rc = fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dest), _RENAME_NOREPLACE)
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(err, "already exists", str(dest))
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(src))
    if os.path.lexists(dest):     # no RENAME_NOREPLACE here: look, then rename
        raise FileExistsError(errno.EEXIST, "already exists", str(dest))
    os.rename(src, dest)
