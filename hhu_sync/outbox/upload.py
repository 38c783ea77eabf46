"""A scheme or meter list uploaded from the browser: into the outbox like any other file.

The upload is written into the configured outbox folder, durably (a hidden temporary
name, fsync, renamed to its own name without ever replacing a file, fsync the folder),
and then handled by the outbox processor like a file back office dropped there: same
checks, same archive/ and rejected/ folders, same ``inputs`` rows. Who handles it:

- a daemon serves the database (its lock is held, in this process or another): its
  watcher sees the file moved in and processes it; we wait for its outcome in the store;
- no daemon: we take the daemon lock for the moment it takes and run the processor on
  the file here (one processor per outbox, always), then let the lock go.

The outcome is the processor's: accepted, rejected with its reason (each problem with
its line and field), a duplicate of what was received before, or waiting (a list
waiting for its schemes; a daemon busy longer than we wait): the outbox page shows the
rest when it comes.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hhu_sync.config import Config
from hhu_sync.daemon_lock import DaemonLock, DaemonRunning, daemon_info
from hhu_sync.errors import HhuSyncError
from hhu_sync.fsutil import atomic_write, fsync_dir, rename_no_replace
from hhu_sync.model.inputs import SUFFIXES, is_outbox_name
from hhu_sync.model.loader import MAX_INPUT_BYTES
from hhu_sync.store.base import Store

MAX_NAME_BYTES = 160      # the archive adds "-N", rejected/ ".reason.txt": room for both
WAIT_S = 15.0             # for a daemon's outcome; after that the outbox page tells
NAME_TRIES = 100          # "name.toml", "name-2.toml", ... then refused
#: ``FILE[:LINE]: FIELD: MESSAGE``; a CSV list's field is ``row N`` or ``row N, column C``
#: (its header row's problems too: a column missing from it, one unknown)
_PROBLEM = re.compile(r"^(?P<file>[^\n]*?)(?::(?P<line>\d+))?: "
                      r"(?P<field>row \d+(?:, column [^:\n]+)?|[^\s:]+): (?P<message>.+)$")


class UploadRefused(HhuSyncError):
    """The upload is not taken (nothing was written): ``status`` 400, 409 or 413."""

    def __init__(self, field_name: str, message: str, status: int = 400) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.status = status


@dataclass(frozen=True)
class UploadResult:
    name: str              # the name it was given in the outbox
    sha256: str
    status: str            # accepted | rejected | duplicate | waiting (| error: audit only)
    kind: str = ""
    reason: str = ""
    moved_to: str = ""
    problems: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "status": self.status,
                "kind": self.kind, "reason": self.reason, "moved_to": self.moved_to,
                "problems": self.problems}


def problems_of(reason: str) -> list[dict[str, Any]]:
    """The reason's ``FILE:LINE: field: message`` lines, each as its parts (a line of
    another shape is left out: the reason is shown whole beside them)."""
    out = []
    for text in reason.splitlines():
        m = _PROBLEM.match(text)
        if m:
            out.append({"line": int(m["line"]) if m["line"] else None, "field": m["field"],
                        "message": m["message"]})
    return out


def clean_name(raw: str) -> str:
    """The name an upload gets in the outbox: its last path part only (a browser may
    send ``C:\\x\\a.toml``, an attacker ``../../a.toml``); refused with no control or
    format characters, no leading dot (hidden: the outbox would never see it), a
    scheme's or a list's suffix, at most :data:`MAX_NAME_BYTES` bytes."""
    name = re.split(r"[/\\]", raw)[-1].strip()
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name):
        raise UploadRefused("filename", "control characters are not allowed in a file name")
    if not name or name in (".", ".."):
        raise UploadRefused("filename", "no file name given")
    if name.startswith("."):
        raise UploadRefused("filename", "a file name must not start with a dot")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise UploadRefused("filename", f"longer than {MAX_NAME_BYTES} bytes")
    if os.path.splitext(name)[1].lower() not in SUFFIXES or not is_outbox_name(name):
        raise UploadRefused("filename", "a scheme (.toml) or a meter list (.csv or .toml)")
    return name


def check_content(data: bytes) -> None:
    if len(data) > MAX_INPUT_BYTES:
        raise UploadRefused("file", f"larger than the outbox takes ({MAX_INPUT_BYTES} bytes)",
                            413)
    if not data:
        raise UploadRefused("file", "the file is empty")


def drop(outbox: Path, name: str, data: bytes) -> Path:
    """Write ``data`` into ``outbox`` as ``name`` (or ``name-2`` ... when taken), durably,
    never over another file; the path returned is under ``outbox`` as configured."""
    os.makedirs(outbox, exist_ok=True)       # as the daemon makes it: back office's mode
    real = outbox.resolve()                  # a configured symlink to the shared folder
    stem, suffix = os.path.splitext(name)
    hidden = real / f".upload-{secrets.token_hex(8)}{suffix}.part"   # the watcher skips it
    atomic_write(hidden, data, replace=False)
    try:
        for n in range(1, NAME_TRIES + 1):
            candidate = name if n == 1 else f"{stem}-{n}{suffix}"
            try:
                rename_no_replace(hidden, real / candidate)
            except FileExistsError:
                continue
            fsync_dir(real)
            return outbox / candidate
    except BaseException:
        hidden.unlink(missing_ok=True)
        raise
    hidden.unlink(missing_ok=True)
    raise UploadRefused("filename", f"{name} and {NAME_TRIES - 1} variants of it are in the "
                        "outbox already", 409)


def _from_row(name: str, sha: str, row: dict[str, Any]) -> UploadResult:
    return UploadResult(name, sha, row["status"], row["kind"], row["reason"],
                        row["moved_to"], problems_of(row["reason"]))


def _duplicate(name: str, sha: str, seen: dict[str, Any]) -> UploadResult:
    reason = (f"{name}: the same content was already received as {seen['name']} at "
              f"{seen['received_at']} ({seen['status']}); not processed again")
    if seen["reason"]:
        reason += "\n" + seen["reason"]
    return UploadResult(name, sha, "duplicate", seen["kind"], reason, "",
                        problems_of(seen["reason"]))


class Handover:
    """Hands a dropped file to whoever processes this outbox and waits for the outcome."""

    def __init__(self, config: Config, store: Store, *, wait_s: float = WAIT_S,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.store = store
        self.wait_s = wait_s
        self.clock = clock
        self.sleep = sleep

    def take(self, raw_name: str, data: bytes,
             dropped: Callable[[UploadResult], None] = lambda result: None) -> UploadResult:
        """Check, drop and settle one upload; :class:`UploadRefused` before anything is
        written, the store's and the file system's errors as they come. ``dropped`` is
        called once for every file that reached the outbox, with its outcome (status
        ``error`` when settling it failed: the file is in the outbox all the same)."""
        name = clean_name(raw_name)
        check_content(data)
        sha = hashlib.sha256(data).hexdigest()
        seen = self.store.inputs_seen([sha]).get(sha)
        path = drop(self.config.paths.outbox, name, data)
        try:
            result = self.settle(path, sha, seen)
        except BaseException as exc:
            dropped(UploadResult(path.name, sha, "error", reason=type(exc).__name__))
            raise
        dropped(result)
        return result

    def settle(self, path: Path, sha: str, seen: dict[str, Any] | None) -> UploadResult:
        database = self.config.paths.database
        # One upload at a time handled here, per database: a second one must not take
        # the first's hold of the daemon lock for a daemon and wait for it in vain (its
        # file stranded in the outbox); it waits its turn and handles its own file.
        with _here_lock(database):
            return self._settle(path, sha, seen)

    def _settle(self, path: Path, sha: str, seen: dict[str, Any] | None) -> UploadResult:
        database = self.config.paths.database
        if not daemon_info(database).running:
            lock = DaemonLock(database)
            try:
                lock.acquire()
            except (DaemonRunning, OSError):
                pass                        # one started meanwhile, or we cannot tell
            else:
                try:
                    return self._here(path, sha)
                finally:
                    lock.release()
        return self._await(path, sha, seen)

    def _here(self, path: Path, sha: str) -> UploadResult:
        """No daemon: this outbox's processor, here, on this one file."""
        from hhu_sync.keys import KeyStore
        from hhu_sync.model.catalog import load_catalog
        from hhu_sync.outbox.processor import OutboxProcessor

        p = self.config.paths
        processor = OutboxProcessor(self.config, self.store, load_catalog(p.catalog),
                                    KeyStore(p.keystore), workers=0)
        deadline = self.clock() + self.wait_s
        try:
            while True:
                self.sleep(self.config.limits.debounce_seconds)  # quiet, as any file
                outcome = processor.process(path)
                if outcome.status != "deferred" or outcome.detail != "still being written" \
                        or self.clock() >= deadline:
                    break
        finally:
            processor.close()
        if outcome.status == "duplicate":
            seen = self.store.inputs_seen([sha]).get(sha)
            if seen is not None:
                return _duplicate(path.name, sha, seen)
        if outcome.status in ("accepted", "rejected", "duplicate"):
            return UploadResult(path.name, sha, outcome.status, outcome.kind,
                                "" if outcome.status == "accepted" else outcome.detail,
                                str(outcome.moved_to or ""), problems_of(
                                    "" if outcome.status == "accepted" else outcome.detail))
        return UploadResult(path.name, sha, "waiting", outcome.kind,
                            outcome.detail or outcome.status)

    def _await(self, path: Path, sha: str, seen: dict[str, Any] | None) -> UploadResult:
        """A daemon processes it: its outcome is in the store (or the file has moved).
        A list whose only problems are schemes the library lacks is answered at once:
        the daemon holds it (up to ``scheme_wait_seconds``) without a word in the store,
        and the browser must not wait for nothing."""
        if seen is None:
            waiting = self._waits_for_schemes(path)
            if waiting is not None:
                return UploadResult(path.name, sha, "waiting", "meter_list", waiting)
        deadline = self.clock() + self.wait_s
        gone_at: float | None = None
        while self.clock() < deadline:
            row = self.store.inputs_seen([sha]).get(sha)
            if seen is None and row is not None:
                return _from_row(path.name, sha, row)
            if not os.path.lexists(path):
                if seen is not None:
                    return _duplicate(path.name, sha, seen)
                gone_at = gone_at if gone_at is not None else self.clock()
                if self.clock() - gone_at > 2.0:    # set aside without a row (quarantined)
                    return UploadResult(path.name, sha, "rejected", reason=(
                        f"{path.name}: set aside in rejected/ for a person to look at"))
            self.sleep(0.1)
        return UploadResult(path.name, sha, "waiting", reason=(
            f"{path.name} is in the outbox; the daemon has not handled it yet"))


    def _waits_for_schemes(self, path: Path) -> str | None:
        """Why the daemon will hold the list (its reason, as the outbox processor words
        it), or None: it has other problems, or none, or cannot be read here."""
        from hhu_sync.model.catalog import load_catalog
        from hhu_sync.model.inputs import load_inputs
        from hhu_sync.model.problems import ProblemCode

        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_INPUT_BYTES + 1)
            catalog = load_catalog(self.config.paths.catalog)
            found = load_inputs([path], catalog, self.store.library(), {path: raw})
        except Exception:  # noqa: BLE001 - a look ahead only: the daemon's outcome decides
            return None
        problems = found.problems
        if not problems or not all(p.code is ProblemCode.UNKNOWN_SCHEME for p in problems):
            return None
        names = ", ".join(sorted({p.subject or "" for p in problems}))
        return (f"{path.name}: in the outbox, waiting for the schemes it names ({names}): "
                f"taken when they come, refused "
                f"{self.config.limits.scheme_wait_seconds:g} s after it arrived if not")


_HERE_LOCKS: dict[str, threading.Lock] = {}
_HERE_LOCKS_GUARD = threading.Lock()


def _here_lock(database: Path) -> threading.Lock:
    """This process's lock for uploads handled against ``database``."""
    key = str(Path(database).resolve())
    with _HERE_LOCKS_GUARD:
        return _HERE_LOCKS.setdefault(key, threading.Lock())
