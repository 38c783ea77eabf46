"""The daemon's health file: what `hhu-sync status` says of a running daemon's store.

``<database>.daemon.health`` (beside the lock file) holds the daemon's
:class:`~hhu_sync.store.pending.StoreHealth` as JSON: whether its store is open, and
while it is not, since when, how many openings failed and the latest fault. `status`
reads it because it cannot ask the database itself when the database is what is down.
Written whole (temp, fsync, rename) at every change, removed at shutdown; read bounded,
and only values of the expected types are kept (whoever can write the folder could
plant one).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from hhu_sync.fsutil import atomic_write
from hhu_sync.store.pending import StoreHealth, StoreState

log = logging.getLogger(__name__)

MAX_HEALTH_BYTES = 8192
_TEXT_CHARS = 400
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "state": str, "since": str, "opened": bool, "attempts": int, "error": str,
    "retry_in_s": (int, float)}


def health_path(database: Path) -> Path:
    return database.with_name(database.name + ".daemon.health")


def write_health(database: Path, health: StoreHealth) -> None:
    """Replace the file with ``health`` (a folder it cannot write is logged, once a
    change: the daemon serves on without it)."""
    try:
        atomic_write(health_path(database), json.dumps(health.as_dict()).encode())
    except OSError as exc:
        log.error("cannot write the health file %s (%s): status will not show the "
                  "store's state", health_path(database), exc.strerror or exc)


def remove_health(database: Path) -> None:
    try:
        os.unlink(health_path(database))
    except OSError:
        pass


def read_health(database: Path) -> dict[str, Any] | None:
    """The store's health as the daemon last wrote it; None without a (readable) file."""
    try:
        fd = os.open(health_path(database), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        raw = os.read(fd, MAX_HEALTH_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(raw) > MAX_HEALTH_BYTES:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("state") not in (
            StoreState.OPEN, StoreState.UNAVAILABLE, StoreState.REFUSED):
        return None
    kept: dict[str, Any] = {}
    for key, kind in _FIELDS.items():
        value = data.get(key)
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            kept[key] = value[:_TEXT_CHARS] if isinstance(value, str) else value
        else:
            kept[key] = None
    return kept
