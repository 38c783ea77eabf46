"""Decide what one outbox file is, queue what it asks for, and move it aside.

A file is read whole (bounded), hashed, validated with the same code as ``hhu-sync
validate``, recorded with what it queues in one transaction, and only then moved to
archive/ (accepted) or rejected/ (with ``NAME.reason.txt`` beside it). Nothing is deleted,
nothing is processed twice: the content hash is the key.

Layout of the outbox:

    outbox/*.toml, *.csv                  schemes (into the library) and meter lists
    outbox/quick-send/<HHU-ID>/*.toml     a scheme to send to that HHU now (Quick send)
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hhu_sync.config import Config
from hhu_sync.dock.packer import Packer, PackError
from hhu_sync.fsutil import atomic_write, fsync_dir
from hhu_sync.ids import is_safe_name
from hhu_sync.keys import KeyStore
from hhu_sync.model.catalog import Catalog
from hhu_sync.model.inputs import load_inputs
from hhu_sync.model.loader import MAX_INPUT_BYTES
from hhu_sync.outbox.mover import ArchiveMover, Move, Signature, signature
from hhu_sync.store.base import StorageUnavailable, StoreError

log = logging.getLogger("hhu_sync.outbox")
QUICK_SEND = "quick-send"


@dataclass
class _Plan:
    """A valid file waiting for the batch's transaction."""

    path: Path
    sha: str
    kind: str
    scheme: object
    mlist: object
    target_hhu: str | None
    hhu: str | None
    read_as: Signature
    dest: Path | None = None
    bundle: tuple[str, str, bytes] | None = None   # (HHU, bundle id, sealed file)


@dataclass(frozen=True)
class Outcome:
    path: Path
    status: str          # accepted | rejected | duplicate | deferred | gone
    kind: str = ""
    detail: str = ""
    moved_to: Path | None = None
    delivery_id: int | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _unique(folder: Path, name: str, taken: set[Path] = frozenset()) -> Path:
    """``folder/name``, or ``folder/stem-2.ext`` ... when taken: never overwrite."""
    candidate = folder / name
    stem, suffix = os.path.splitext(name)
    n = 2
    while (candidate in taken or candidate.exists()
           or candidate.with_name(candidate.name + ".reason.txt").exists()):
        candidate = folder / f"{stem}-{n}{suffix}"
        n += 1
    return candidate


def _move(path: Path, dest: Path) -> None:
    """Rename, or copy and remove across file systems; the caller fsyncs the folders."""
    try:
        os.replace(path, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copy2(path, dest)
        with open(dest, "rb") as fh:
            os.fsync(fh.fileno())
        path.unlink()


def move_aside(path: Path, folder: Path, reason: str | None = None,
               dest: Path | None = None) -> Path:
    """Move ``path`` into ``folder`` (its reason written first, beside it); durable."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = dest or _unique(folder, path.name)
    if reason is not None:
        atomic_write(dest.with_name(dest.name + ".reason.txt"), reason.encode("utf-8") + b"\n")
    _move(path, dest)
    fsync_dir(folder)
    fsync_dir(path.parent)
    return dest


class OutboxProcessor:
    def __init__(self, config: Config, store, catalog: Catalog, keystore: KeyStore,
                 packer: Packer | None = None, clock=time.monotonic,
                 wall=time.time) -> None:
        self.config = config
        self.store = store
        self.catalog = catalog
        self.keystore = keystore
        self.packer = packer or Packer(store, keystore, config.depot_id)
        self.outbox = config.paths.outbox
        self.clock = clock
        self.wall = wall
        self._waiting: dict[Path, float] = {}   # lists waiting for their schemes
        self.mover = ArchiveMover(_move)

    def _archive_folder(self) -> Path:
        return self.config.paths.archive / datetime.now(UTC).strftime("%Y-%m-%d")

    def _reject(self, path: Path, sha: str, kind: str, reason: str) -> Outcome:
        dest = move_aside(path, self.config.paths.rejected, reason)
        if sha:
            self.store.record_input(sha, path.name, kind, "rejected", reason, str(dest), _now())
        log.warning("rejected %s: %s", path.name, reason.splitlines()[0])
        return Outcome(path, "rejected", kind, reason, dest)

    def process(self, path: Path) -> Outcome:
        """Handle one complete file, moved when this returns. Never raises for bad input;
        the file always moves."""
        outcome = self.process_batch([path])[0]
        self.mover.flush()
        return outcome

    def close(self) -> None:
        """Finish the moves still pending (at shutdown)."""
        if not self.mover.close():
            log.error("outbox: moves to archive/ still pending at shutdown; they are "
                      "finished at the next start")

    def process_batch(self, paths: list[Path]) -> list[Outcome]:
        """Handle several files with one transaction and one folder fsync for the lot.

        Outcomes come back in the order of ``paths``. When the store is unavailable
        (disk full), files not yet finished stay in the outbox as ``deferred``.
        """
        try:
            return self._process_batch(paths)
        except StorageUnavailable as exc:
            log.error("outbox: storage unavailable, files stay in the outbox: %s", exc)
            return [Outcome(Path(p), "deferred" if Path(p).exists() else "gone", "",
                            str(exc)) for p in paths]

    def _process_batch(self, paths: list[Path]) -> list[Outcome]:
        outcomes: dict[Path, Outcome] = {}
        reads: list[tuple[Path, bytes, str, Signature]] = []
        for raw_path in paths:
            path = Path(raw_path)
            result = self._read(path)
            if isinstance(result, Outcome):
                outcomes[path] = result
            else:
                reads.append((path, *result))
        seen = self.store.inputs_seen(sorted({r[2] for r in reads}))
        plans: list[_Plan] = []
        shas: dict[str, Path] = {}
        for path, raw, sha, read_as in reads:
            result = self._examine(path, raw, sha, read_as, seen.get(sha), shas)
            if isinstance(result, Outcome):
                outcomes[path] = result
            else:
                plans.append(result)
        if plans:
            for plan, outcome in zip(plans, self._commit(plans), strict=True):
                outcomes[plan.path] = outcome
        return [outcomes[Path(p)] for p in paths]

    def _read(self, path: Path) -> Outcome | tuple[bytes, str, Signature]:
        """The file's bytes, their hash and the file's signature (to move only the file
        that was read), or why it cannot be taken now."""
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_INPUT_BYTES + 1)
                st = os.fstat(fh.fileno())
                written = st.st_mtime
        except FileNotFoundError:
            return Outcome(path, "gone")
        except OSError as exc:
            return self._reject(path, "", "unknown", f"{path.name}: cannot read: {exc.strerror}")
        age = self.wall() - written
        if 0 <= age < self.config.limits.debounce_seconds:
            # Written again after the close that made it ready (a writer that reopened
            # it): not complete until it has been quiet for the debounce time.
            return Outcome(path, "deferred", "", "still being written")
        return raw, hashlib.sha256(raw).hexdigest(), signature(st)

    def _examine(self, path: Path, raw: bytes, sha: str, read_as: Signature,
                 seen: dict | None, shas: dict[str, Path]) -> Outcome | _Plan:
        """Check one file's content; reject it at once, or plan its acceptance."""
        if sha in shas:
            reason = (f"{path.name}: the same content as {shas[sha].name}, received with it; "
                      "not processed again")
            return Outcome(path, "duplicate", "", reason,
                           move_aside(path, self.config.paths.rejected, reason))
        if seen is not None:
            return self._seen_before(path, sha, seen)
        target_hhu = self._quick_send_target(path)
        if isinstance(target_hhu, Outcome):
            return target_hhu
        inputs = load_inputs([path], self.catalog, self.store.library(), {path: raw})
        if inputs.problems:
            if self._should_wait(path, inputs.problems):
                return Outcome(path, "deferred", "meter_list",
                               "waiting for the schemes it names")
            self._waiting.pop(path, None)
            return self._reject(path, sha, "unknown",
                                "\n".join(str(p) for p in inputs.problems))
        self._waiting.pop(path, None)
        plan = self._plan(path, sha, inputs, target_hhu, read_as)
        if isinstance(plan, _Plan):
            shas[sha] = path
            self._seal(plan)
        return plan

    def _seal(self, plan: _Plan) -> None:
        """Seal the transfer file for a named HHU now, to commit it with its delivery.
        A list for a crew is sealed when the first HHU of the crew docks."""
        if not plan.hhu:
            return
        try:
            packed = self.packer.seal("quick_send" if plan.target_hhu else "meter_list",
                                      plan.hhu, scheme=plan.scheme, mlist=plan.mlist)
        except PackError as exc:
            log.warning("%s: not packed yet (packed when %s docks): %s", plan.path.name,
                        plan.hhu, exc)
            return
        plan.bundle = (plan.hhu, packed.bundle_id, packed.data)

    def _quick_send_target(self, path: Path) -> str | None | Outcome:
        try:
            rel = path.relative_to(self.outbox)
        except ValueError:
            return None
        if rel.parts[0] != QUICK_SEND:
            return None
        if len(rel.parts) != 3 or not is_safe_name(rel.parts[1]):
            return self._reject(path, "", "quick_send",
                                f"{rel}: a Quick send goes in {QUICK_SEND}/<HHU-ID>/NAME.toml")
        return rel.parts[1]

    def _should_wait(self, path: Path, problems) -> bool:
        """A list may arrive before its schemes: wait a while before refusing it."""
        if not all(p.message.startswith("unknown scheme id") for p in problems):
            return False
        first = self._waiting.setdefault(path, self.clock())
        return self.clock() - first < self.config.limits.scheme_wait_seconds

    def _seen_before(self, path: Path, sha: str, seen: dict) -> Outcome:
        moved_to = Path(seen["moved_to"]) if seen["moved_to"] else None
        if seen["status"] == "accepted" and moved_to and not moved_to.exists():
            self.mover.flush()   # its move may be pending still: let it finish first
            if not path.exists():
                return Outcome(path, "gone")
            if not moved_to.exists():
                # Recorded, then the daemon stopped (or the move failed) before the
                # move: finish the move only.
                dest = move_aside(path, moved_to.parent, dest=moved_to)
                log.info("finished moving %s to %s", path.name, dest)
                return Outcome(path, "accepted", seen["kind"], "recovered", dest)
        reason = (f"{path.name}: the same content was already received as {seen['name']} "
                  f"at {seen['received_at']} ({seen['status']}); not processed again")
        dest = move_aside(path, self.config.paths.rejected, reason)
        log.warning("duplicate %s", path.name)
        return Outcome(path, "duplicate", seen["kind"], reason, dest)

    def _plan(self, path: Path, sha: str, inputs, target_hhu: str | None,
              read_as: Signature) -> Outcome | _Plan:
        scheme = next(iter(inputs.schemes.values()), None)
        mlist = next(iter(inputs.lists.values()), None)
        if target_hhu and scheme is None:
            return self._reject(path, sha, "quick_send",
                                f"{path.name}: a Quick send carries one scheme, not a meter list")
        kind = ("quick_send" if target_hhu else "scheme") if scheme else "meter_list"
        hhu = target_hhu or (mlist.hhu if mlist else None)
        if hhu and self.keystore.hhu_key(hhu) is None:
            return self._reject(path, sha, kind,
                                f"{path.name}: {hhu} is not enrolled; run 'hhu-sync enroll {hhu}'")
        if mlist and not mlist.hhu and mlist.crew not in self.config.hhus.values():
            return self._reject(path, sha, kind, f"{path.name}: list.crew: no HHU of crew "
                                f"{mlist.crew!r} in the configuration's [[hhus]]")
        return _Plan(path, sha, kind, scheme, mlist, target_hhu, hhu, read_as)

    def _commit(self, plans: list[_Plan]) -> list[Outcome]:
        """Record every plan (with its sealed file) in one transaction, then move the files.

        The order is what makes a crash harmless: a file recorded but not yet moved is
        recognised by its hash at restart and only moved (see :meth:`_seen_before`).
        """
        folder = self._archive_folder()
        folder.mkdir(parents=True, exist_ok=True)
        taken = self.mover.reserved()
        for plan in plans:
            plan.dest = _unique(folder, plan.path.name, taken)
            taken.add(plan.dest)
        now = _now()
        items = [dict(sha256=p.sha, name=p.path.name, kind=p.kind, moved_to=str(p.dest),
                      now=now, scheme=p.scheme, mlist=p.mlist, quick_send_hhu=p.target_hhu,
                      bundle=p.bundle)
                 for p in plans]
        try:
            deliveries: list[int | None | Outcome] = list(self.store.accept_inputs(items))
        except StorageUnavailable:
            raise
        except StoreError:
            # One of them cannot be taken (a list id already held): find it, one by one.
            deliveries = []
            for plan, item in zip(plans, items, strict=True):
                try:
                    deliveries.append(self.store.accept_input(**item))
                except StorageUnavailable:
                    raise
                except StoreError as exc:
                    deliveries.append(self._reject(plan.path, plan.sha, plan.kind,
                                                   f"{plan.path.name}: {exc}"))
        outcomes: list[Outcome] = []
        moves: list[Move] = []
        for plan, delivery in zip(plans, deliveries, strict=True):
            if isinstance(delivery, Outcome):
                outcomes.append(delivery)
                continue
            moves.append(Move(plan.path, plan.dest, plan.read_as))
            what = plan.scheme.id if plan.scheme else plan.mlist.id
            log.info("accepted %s: %s %s%s", plan.path.name, plan.kind, what,
                     f" for {plan.hhu}" if plan.hhu else "")
            outcomes.append(Outcome(plan.path, "accepted", plan.kind, what, plan.dest, delivery))
        self.mover.submit(moves)   # committed: queued now; the renames follow
        return outcomes
