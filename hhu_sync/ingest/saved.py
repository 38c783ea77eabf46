"""Uploads saved by ``hhu-sync pull`` → the store, by the docking's own path.

A saved upload goes through :func:`~hhu_sync.dock.readings.check_upload`, then
:meth:`Store.ingest`, then :func:`~hhu_sync.dock.readings.export_stored` (the exports
read back from the store, with its list checks and statuses): the very functions a
docking runs, so a file cannot pass a check a docking would fail. Only the
reading of the file and the choice of key are this module's own.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hhu_sync.dock.readings import UploadRefused, check_upload, export_stored
from hhu_sync.errors import HhuSyncError, TransferError
from hhu_sync.ingest.upload import IngestReport
from hhu_sync.transfer.codec import DEFAULT_LIMITS, peek_header

KeyLookup = Callable[[str], bytes | None]


@dataclass
class SavedResult:
    """What became of one file: a report, or the reason it was refused."""

    path: str
    upload_id: str = ""
    hhu_id: str = ""
    report: IngestReport | None = None
    refused: str = ""          # not stored: why (names the byte offset or the field)
    warning: str = ""          # stored, but something after the commit failed
    exports: list[str] = field(default_factory=list)


def read_saved(path: str | os.PathLike[str], limit: int = DEFAULT_LIMITS.max_file
               ) -> tuple[bytes, datetime]:
    """The file's bytes (at most ``limit``; one read more tells a longer file) and when it
    was saved: the time a pull took it from the HHU, which its readings may not follow."""
    # Non-blocking, so a FIFO given by mistake cannot hang the command; then only a
    # regular file is read (checked on the open descriptor, not by name).
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise TransferError("not a regular file: not read", offset=0)
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise TransferError(f"longer than the {limit}-byte limit of a transfer file",
                            offset=limit)
    return data, _saved_at(st.st_mtime)


def _saved_at(mtime: float) -> datetime:
    """The file's time as a datetime; one no datetime can hold (a year past 9999, set by
    whoever wrote the file) counts as the latest, which the caller caps at its now."""
    try:
        return datetime.fromtimestamp(mtime, UTC)
    except (ValueError, OverflowError, OSError):
        return datetime.max.replace(tzinfo=UTC) if mtime > 0 else datetime.min.replace(
            tzinfo=UTC)


def ingest_saved(store, path: str | os.PathLike[str], keys: KeyLookup, *,
                 now: datetime, exports: Path | None, sender: str,
                 catalog: Path | None = None) -> SavedResult:
    """Check and store one saved upload; never raises for its content (see ``refused``).

    ``now`` is the depot's clock: a file saved 'in the future' counts as received now."""
    result = SavedResult(str(path))
    try:
        data, saved_at = read_saved(path)
        header = peek_header(data)
        result.upload_id, result.hhu_id = header.bundle_id, header.source
        if header.kind != "readings":
            raise UploadRefused(f"a {header.kind} transfer, not a readings upload")
        key = keys(header.source)
        if key is None:
            raise UploadRefused(f"made by {header.source}, whose key is not held here")
        upload = check_upload(data, hhu_id=header.source, hhu_key=key,
                              upload_id=header.bundle_id, received_at=min(saved_at, now))
        result.report = store.ingest(upload, now.isoformat(timespec="seconds"))
    except OSError as exc:
        result.refused = exc.strerror or str(exc)
        return result
    except (UploadRefused, TransferError) as exc:
        result.refused = str(exc)
        return result
    except HhuSyncError as exc:                  # the store refused or is unavailable
        result.refused = f"not stored: {exc}"
        return result
    if exports is not None and not result.report.already_held:
        try:
            result.exports = export_stored(database=str(store.path),
                                           upload_id=header.bundle_id, folder=str(exports),
                                           sender=sender,
                                           catalog=str(catalog) if catalog else None)
        except (HhuSyncError, OSError) as exc:   # committed: the export can be redone
            result.warning = f"export not written: {exc} (run hhu-sync export)"
    return result
