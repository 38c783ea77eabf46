"""Durable file writes: temp file, fsync, rename, fsync the folder.

Whatever hhu-sync acknowledges (a transfer file, an export, a key) has gone through
here, so a crash leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


class atomic_open:  # noqa: N801 - used like open()
    """``with atomic_open(path) as fh:`` streams to a temp file, then fsync and rename.

    On an exception the temp file is removed and ``path`` is left as it was.
    """

    def __init__(self, path: str | os.PathLike[str], mode: str = "w", *,
                 newline: str | None = "") -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._mode = mode
        self._newline = newline if "b" not in mode else None
        self._fh = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kwargs = {} if "b" in self._mode else {"encoding": "utf-8", "newline": self._newline}
        self._fh = open(self.tmp, self._mode, **kwargs)  # noqa: SIM115
        return self._fh

    def __exit__(self, exc_type, exc, tb) -> None:
        fh = self._fh
        if exc_type is not None:
            fh.close()
            self.tmp.unlink(missing_ok=True)
            return
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        os.replace(self.tmp, self.path)
        fsync_dir(self.path.parent)
