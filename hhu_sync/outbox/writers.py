"""Which files some process holds open for writing, from /proc.

A file found by a scan has had no close event: its writer may still be at it, pausing
longer than any quiet time. On Linux the kernel says who holds what: every
``/proc/PID/fd/N`` is a link to an open file (``stat`` on it gives that file's device and
inode) and ``/proc/PID/fdinfo/N`` gives the flags it was opened with. Where /proc is
missing, or a process's descriptors may not be looked at (another user's, when the daemon
is not root), the answer is "cannot tell" and the caller waits for a long quiet instead.
"""

from __future__ import annotations

import os
from pathlib import Path

FileKey = tuple[int, int]     # st_dev, st_ino
PROC = Path("/proc")


def writing(keys: set[FileKey], proc: Path = PROC) -> tuple[set[FileKey], bool]:
    """Those of ``keys`` some process holds open for writing, and whether every process
    could be looked at (False: an absent key proves nothing)."""
    busy: set[FileKey] = set()
    if not keys:
        return busy, True
    try:
        pids = [e.name for e in os.scandir(proc) if e.name.isdigit()]
    except OSError:
        return busy, False
    complete = True
    for pid in pids:
        fd_dir = proc / pid / "fd"
        try:
            fds = os.listdir(fd_dir)
        except FileNotFoundError:       # the process ended meanwhile
            continue
        except OSError:                 # not ours to look at
            complete = False
            continue
        for fd in fds:
            try:
                st = os.stat(fd_dir / fd)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in keys and key not in busy and _opened_for_writing(proc / pid, fd):
                busy.add(key)
    return busy, complete


def _opened_for_writing(pid_dir: Path, fd: str) -> bool:
    try:
        with open(pid_dir / "fdinfo" / fd, "rb") as fh:
            info = fh.read(4096)
    except OSError:
        return True        # cannot tell: assume the worst, the scan looks again later
    for line in info.splitlines():
        if line.startswith(b"flags:"):
            flags = int(line.split()[1], 8)
            return flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)
    return True
