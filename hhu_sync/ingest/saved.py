"""Uploads saved by ``hhu-sync pull`` → the store, by the docking's own path.

A saved upload goes through :func:`~hhu_sync.dock.readings.check_upload`, then
:meth:`Store.ingest`, then :func:`~hhu_sync.dock.readings.export_stored` (the exports
read back from the store, with its list checks and statuses): the very functions a
docking runs, so a file cannot pass a check a docking would fail. Only the
reading of the file and the choice of key are this module's own.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hhu_sync.dock.readings import UploadRefused, check_upload, export_stored
from hhu_sync.errors import HhuSyncError, TransferError
from hhu_sync.ingest.upload import IngestReport
from hhu_sync.transfer.codec import DEFAULT_LIMITS, SEAL_SIZE, TransferHeader, peek_header

KeyLookup = Callable[[str], bytes | None]


class Refusal(enum.Enum):
    """Why a saved file was not stored: what a caller decides by (``refused`` is for people).

    Only :attr:`BAD_SEAL` means a key was used and did not match, so only then is the
    key worth naming; :attr:`NO_KEY` means none was found for the file's maker."""

    UNREADABLE = "unreadable"          # the system refused to open or read it
    NOT_A_FILE = "not_a_file"          # not a regular file (a FIFO, a device): not read
    TOO_LARGE = "too_large"            # longer than a transfer file may be
    NOT_A_TRANSFER = "not_a_transfer"  # bad magic, truncated, damaged digest or header
    NOT_READINGS = "not_readings"      # a transfer file of another kind (a Quick send)
    NO_KEY = "no_key"                  # its maker's key is not held here
    BAD_SEAL = "bad_seal"              # the seal does not match the key used
    BAD_PAYLOAD = "bad_payload"        # sealed, but the payload or a field is not valid
    OTHER_CONTENT = "other_content"    # its upload id is held with other bytes
    NOT_STORED = "not_stored"          # the store refused it or is unavailable


class _Refused(Exception):
    def __init__(self, code: Refusal, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class SavedResult:
    """What became of one file: a report, or the reason it was refused."""

    path: str
    upload_id: str = ""
    hhu_id: str = ""
    report: IngestReport | None = None
    refused: str = ""          # not stored: why (names the byte offset or the field)
    refusal: Refusal | None = None    # not stored: the code of ``refused``
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
            raise SavedFileError(Refusal.NOT_A_FILE, "not a regular file: not read", offset=0)
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise SavedFileError(Refusal.TOO_LARGE,
                             f"longer than the {limit}-byte limit of a transfer file",
                             offset=limit)
    return data, _saved_at(st.st_mtime)


class SavedFileError(TransferError):
    """A saved file refused before its bytes were looked at; ``code`` says why."""

    def __init__(self, code: Refusal, message: str, offset: int | None = None) -> None:
        super().__init__(message, offset=offset)
        self.code = code


def _seal_matches(data: bytes, key: bytes) -> bool:
    """Whether the seal (the last bytes, over every byte before them) is ``key``'s: asked
    only of a file whose frame and digest :func:`peek_header` found good, and only after
    a refusal, to tell a wrong key from a bad payload."""
    view = memoryview(data)
    seal = hmac.new(key, view[:-SEAL_SIZE], hashlib.sha256).digest()
    return hmac.compare_digest(seal, bytes(view[-SEAL_SIZE:]))


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
        result.report, header = _check_and_store(store, path, keys, now, result)
    except _Refused as exc:
        result.refused, result.refusal = str(exc), exc.code
        return result
    if exports is not None and not result.report.already_held:
        try:
            result.exports = export_stored(database=store.url,
                                           upload_id=header.bundle_id, folder=str(exports),
                                           sender=sender,
                                           catalog=str(catalog) if catalog else None)
        except (HhuSyncError, OSError) as exc:   # committed: the export can be redone
            result.warning = f"export not written: {exc} (run hhu-sync export)"
    return result


def _check_and_store(store, path: str | os.PathLike[str], keys: KeyLookup, now: datetime,
                     result: SavedResult) -> tuple[IngestReport, TransferHeader]:
    """Read, check and store one file; raises :class:`_Refused` with the stage's code."""
    try:
        data, saved_at = read_saved(path)
    except OSError as exc:
        raise _Refused(Refusal.UNREADABLE, exc.strerror or str(exc)) from None
    except SavedFileError as exc:
        raise _Refused(exc.code, str(exc)) from None
    try:
        header = peek_header(data)
    except TransferError as exc:
        raise _Refused(Refusal.NOT_A_TRANSFER, str(exc)) from None
    result.upload_id, result.hhu_id = header.bundle_id, header.source
    if header.kind != "readings":
        raise _Refused(Refusal.NOT_READINGS,
                       f"a {header.kind} transfer, not a readings upload")
    key = keys(header.source)
    if key is None:
        raise _Refused(Refusal.NO_KEY, f"made by {header.source}, whose key is not held here")
    try:
        upload = check_upload(data, hhu_id=header.source, hhu_key=key,
                              upload_id=header.bundle_id, received_at=min(saved_at, now))
    except UploadRefused as exc:
        code = Refusal.BAD_PAYLOAD if _seal_matches(data, key) else Refusal.BAD_SEAL
        raise _Refused(code, str(exc)) from None
    try:
        return store.ingest(upload, now.isoformat(timespec="seconds")), header
    except UploadRefused as exc:                 # held under its id with other bytes
        raise _Refused(Refusal.OTHER_CONTENT, str(exc)) from None
    except (HhuSyncError, OSError) as exc:       # the store refused or is unavailable
        raise _Refused(Refusal.NOT_STORED, f"not stored: {exc}") from None
