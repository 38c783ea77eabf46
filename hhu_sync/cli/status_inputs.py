"""What `hhu-sync status` finds on disk: outbox files not yet taken, files rejected.

The database knows what was received; the folders know what is still there, including
what never reached the database (a file that could not be read, a symlink moved aside).
Both looks are bounded (so many entries listed, so many bytes read) and open only
regular files, without following links (``O_NOFOLLOW``, ``fstat`` on the descriptor):
whoever may write the outbox or ``rejected/`` cannot make ``status`` show another file.
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hhu_sync.cli.common import catalog_of
from hhu_sync.cli.humanize import first_line
from hhu_sync.config import Config
from hhu_sync.model.inputs import is_candidate_name, load_inputs
from hhu_sync.model.loader import MAX_INPUT_BYTES
from hhu_sync.model.problems import ProblemCode

SHOWN = 5                 # the most recent few of each kind
MAX_LISTED = 10_000       # entries counted at most in a folder
MAX_SCANNED = 100_000     # entries looked at, wanted or not: a folder of junk is not read
MAX_SUBFOLDERS = 1_000    # quick-send's per-HHU folders looked into
MAX_REASON_BYTES = 4096   # read of a reason file (its first line is shown)
REASON_SUFFIX = ".reason.txt"


def _listing(folders: list[Path], wanted: Callable[[str], bool]) -> tuple[int, list]:
    """(how many, the newest SHOWN as (mtime, path)) of regular files ``wanted`` by name."""
    found: list[tuple[float, Path]] = []
    scanned = 0
    for folder in folders:
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    scanned += 1
                    if len(found) >= MAX_LISTED or scanned > MAX_SCANNED:
                        break
                    if wanted(entry.name) and entry.is_file(follow_symlinks=False):
                        try:
                            found.append((entry.stat(follow_symlinks=False).st_mtime,
                                          Path(entry.path)))
                        except OSError:
                            continue
        except OSError:
            continue
    found.sort(reverse=True)
    return len(found), found[:SHOWN]


def _when(mtime: float) -> str | None:
    """The file's time, None when no datetime holds it: whoever wrote the file chose it
    (tmpfs takes year 33658), and a status look must not fail on a file."""
    try:
        return datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return None


def waiting_inputs(config: Config, library) -> dict[str, Any]:
    """Files in the outbox not yet taken: how many, and why the newest few wait.

    Only regular files are looked at (never a symlink, FIFO or device: ``O_NOFOLLOW`` and
    ``fstat`` on the open descriptor); each read is bounded.
    """
    outbox = config.paths.outbox
    folders = [outbox, outbox / "quick-send"]
    try:
        folders += [e for e in itertools.islice((outbox / "quick-send").iterdir(),
                                                MAX_SUBFOLDERS)
                    if e.is_dir() and not e.is_symlink()]
    except OSError:
        pass
    count, newest = _listing(folders, is_candidate_name)
    shown = []
    catalog = catalog_of(config) if newest else None
    for mtime, path in newest:
        shown.append({"name": str(path.relative_to(outbox)), "since": _when(mtime),
                      **_why_waiting(path, config, catalog, library)})
    return {"count": count, "files": shown}


def _why_waiting(path: Path, config: Config, catalog, library) -> dict[str, Any]:
    raw = _read_regular(path)
    if raw is None:
        return {"reason": "not a regular file, or unreadable", "schemes": []}
    try:
        result = load_inputs([path], catalog, library, contents={path: raw})
    except Exception as exc:  # noqa: BLE001 - a status look must never fail on a file
        return {"reason": f"cannot be checked: {type(exc).__name__}", "schemes": []}
    if not result.problems:
        return {"reason": "valid; waiting for the daemon to take it", "schemes": []}
    # The outbox processor waits for a list's schemes when these are its only problems.
    if all(p.code is ProblemCode.UNKNOWN_SCHEME for p in result.problems):
        names = sorted({p.subject for p in result.problems})
        return {"reason": f"meter list waiting for its schemes ({', '.join(names)}); "
                          f"refused {config.limits.scheme_wait_seconds:g} s after it arrived "
                          "unless they come", "schemes": names}
    return {"reason": f"to be refused: {first_line(str(result.problems[0]), 200)}",
            "schemes": []}


def _read_regular(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:   # a link to elsewhere
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)


def rejected_inputs(folder: Path) -> dict[str, Any]:
    """Files moved aside into ``rejected/``: how many, and the newest few with the first
    line of the reason written beside each."""
    count, newest = _listing([folder], lambda name: name.endswith(REASON_SUFFIX))
    files = []
    for mtime, path in newest:
        raw = _read_regular(path, MAX_REASON_BYTES) or b""
        files.append({"name": path.name[:-len(REASON_SUFFIX)], "since": _when(mtime),
                      "reason": first_line(raw.decode("utf-8", "replace"), 300)})
    return {"folder": str(folder), "count": count, "files": files}
