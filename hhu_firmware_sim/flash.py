"""The simulated HHU's flash: a folder with a byte budget that survives power cuts.

Layout under the flash folder::

    flash.json                 capacity (bytes); written once
    bundles/<id>.bin           committed bundles (complete, digest checked)
    bundles/<id>.json          their size and SHA-256
    partial/<id>.part          bundle bytes received so far (resumable)
    partial/<id>.json          expected size, SHA-256 and the bytes known durable
    uploads/<id>.hhux          readings uploads waiting for the dock

Only data files (``.bin``, ``.part``, ``.hhux``) count against the capacity; the small
JSON side files are bookkeeping a real device keeps in its file table. Every whole-file
write goes temp + fsync + rename + fsync(folder), so a crash leaves the old or the new
file, never half of one. A partial grows by appends; its side file records how many
bytes were fsynced, and on opening the ``.part`` is cut back to that, so a torn tail
after a crash is never mistaken for received data.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hhu_sync.ids import RULE as ID_RULE
from hhu_sync.ids import is_safe_name

DEFAULT_CAPACITY = 64 * 2**20
_TMP_PREFIX = ".tmp-"


class FlashError(Exception):
    """The flash cannot do what was asked (bad id, unknown object, corrupt state)."""


class FlashFullError(FlashError):
    """Storing this would exceed the flash capacity; nothing was written."""

    def __init__(self, needed: int, free: int) -> None:
        super().__init__(f"flash full: need {needed} bytes, {free} free")
        self.needed = needed
        self.free = free


@dataclass(frozen=True)
class BundleEntry:
    """A committed bundle as the flash lists it."""

    bundle_id: str
    size: int
    sha256: bytes


@dataclass(frozen=True)
class PartialEntry:
    """A bundle still being received: ``held`` of ``size`` bytes are durable."""

    bundle_id: str
    size: int
    sha256: bytes
    held: int


@dataclass(frozen=True)
class UploadEntry:
    """A readings upload waiting for the dock."""

    upload_id: str
    size: int
    sha256: bytes


def check_id(object_id: str) -> str:
    """Refuse ids that break the identifier rule the depot and the link share (the dock
    chooses them; each becomes a file name here)."""
    if not is_safe_name(object_id):
        raise FlashError(f"invalid object id {object_id!r}: use {ID_RULE}")
    return object_id


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a crash leaves either the old or the new file."""
    # A random name made with O_EXCL|O_NOFOLLOW: nothing planted at it is followed.
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with open(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _sha256_file(path: Path, limit: int | None = None) -> hashlib._Hash:
    """Hash a file (or its first ``limit`` bytes) without loading it whole."""
    digest = hashlib.sha256()
    remaining = limit
    with open(path, "rb") as fh:
        while remaining is None or remaining > 0:
            want = 1 << 20 if remaining is None else min(1 << 20, remaining)
            chunk = fh.read(want)
            if not chunk:
                break
            digest.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
    return digest


class PartialWriter:
    """Appends received bundle bytes; ``checkpoint()`` makes them count after a crash.

    Why not fsync every frame: at 1 KiB frames that is thousands of fsyncs per MiB.
    A real device checkpoints its file table now and then; bytes after the last
    checkpoint are simply received again on resume.
    """

    def __init__(self, store: FlashStore, entry: PartialEntry) -> None:
        self._store = store
        self.bundle_id = entry.bundle_id
        self.size = entry.size
        self.sha256 = entry.sha256
        self.durable = entry.held
        self.written = entry.held
        self._digest = _sha256_file(store._part_path(entry.bundle_id), entry.held)
        self._fh: BinaryIO | None = open(store._part_path(entry.bundle_id), "r+b")
        self._fh.truncate(entry.held)
        self._fh.seek(entry.held)

    def write(self, offset: int, data: bytes) -> None:
        """Append ``data``, which must start where the last write ended."""
        if self._fh is None:
            raise FlashError(f"partial {self.bundle_id} is closed")
        if offset != self.written:
            raise FlashError(f"partial {self.bundle_id}: write at {offset}, held {self.written}")
        if self.written + len(data) > self.size:
            raise FlashError(f"partial {self.bundle_id}: data beyond declared size {self.size}")
        self._fh.write(data)  # space for the whole bundle was reserved on opening
        self._digest.update(data)
        self.written += len(data)

    def checkpoint(self) -> None:
        """fsync the appended bytes, then record them as held."""
        if self._fh is None or self.written == self.durable:
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._store._write_partial_meta(self.bundle_id, self.size, self.sha256, self.written)
        self.durable = self.written

    def complete(self) -> bool:
        """True once every declared byte was written."""
        return self.written == self.size

    def digest_ok(self) -> bool:
        """Whether the bytes written so far hash to the declared SHA-256."""
        return self._digest.copy().digest() == self.sha256

    def close(self, *, checkpoint: bool = True) -> None:
        """Stop writing; ``checkpoint=False`` models a power cut (RAM buffers lost)."""
        if self._fh is None:
            return
        if checkpoint:
            self.checkpoint()
        self._fh.close()
        self._fh = None

    def commit(self) -> BundleEntry:
        """Verify the whole SHA-256 and move the partial to the committed bundles."""
        if not self.complete():
            raise FlashError(f"partial {self.bundle_id}: {self.written}/{self.size} bytes")
        if not self.digest_ok():
            raise FlashError(f"partial {self.bundle_id}: digest mismatch")
        self.checkpoint()
        self.close()
        return self._store._commit_partial(self.bundle_id, self.size, self.sha256)


class FlashStore:
    """A flash folder with a capacity; all state lives on disk, none in this object."""

    def __init__(self, root: str | os.PathLike[str], capacity: int | None = None) -> None:
        self.root = Path(root)
        for sub in ("bundles", "partial", "uploads"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        meta = self.root / "flash.json"
        if capacity is None and meta.exists():
            capacity = int(json.loads(meta.read_text())["capacity"])
        if capacity is None:
            capacity = DEFAULT_CAPACITY
        if capacity < 0:
            raise FlashError("capacity must be >= 0")
        self.capacity = capacity
        if not meta.exists() or json.loads(meta.read_text()).get("capacity") != capacity:
            write_atomic(meta, json.dumps({"capacity": capacity}).encode())
        self._recover()

    # --- paths and bookkeeping ------------------------------------------------------------

    def _bin_path(self, bundle_id: str) -> Path:
        return self.root / "bundles" / f"{check_id(bundle_id)}.bin"

    def _part_path(self, bundle_id: str) -> Path:
        return self.root / "partial" / f"{check_id(bundle_id)}.part"

    def _upload_path(self, upload_id: str) -> Path:
        return self.root / "uploads" / f"{check_id(upload_id)}.hhux"

    def _recover(self) -> None:
        """Finish or undo what a crash interrupted: stale temps, torn partial tails."""
        for sub in ("bundles", "partial", "uploads"):
            for tmp in (self.root / sub).glob(f"{_TMP_PREFIX}*"):
                tmp.unlink()
        if (self.root / "flash.json").exists():
            for tmp in self.root.glob(f"{_TMP_PREFIX}*"):
                tmp.unlink()
        for meta in (self.root / "partial").glob("*.json"):
            bundle_id = meta.stem
            if self._bin_path(bundle_id).exists():  # crashed after commit rename
                meta.unlink()
                continue
            part = self._part_path(bundle_id)
            info = json.loads(meta.read_text())
            if not part.exists() or part.stat().st_size < info["held"]:
                part.touch()
                info["held"] = 0
                write_atomic(meta, json.dumps(info).encode())
            with open(part, "r+b") as fh:
                fh.truncate(info["held"])
        for part in (self.root / "partial").glob("*.part"):
            if not part.with_suffix(".json").exists():
                part.unlink()  # never recorded: nothing held
        for meta in (self.root / "bundles").glob("*.json"):
            if not meta.with_suffix(".bin").exists():
                meta.unlink()
        for data in (self.root / "bundles").glob("*.bin"):
            if not data.with_suffix(".json").exists():  # crashed before the side file
                self._write_bundle_meta(data.stem, data.stat().st_size,
                                        _sha256_file(data).digest())
        fsync_dir(self.root / "partial")

    def _write_partial_meta(self, bundle_id: str, size: int, sha256: bytes, held: int) -> None:
        info = {"size": size, "sha256": sha256.hex(), "held": held}
        write_atomic(self.root / "partial" / f"{bundle_id}.json", json.dumps(info).encode())

    def _write_bundle_meta(self, bundle_id: str, size: int, sha256: bytes) -> None:
        info = {"size": size, "sha256": sha256.hex()}
        write_atomic(self.root / "bundles" / f"{bundle_id}.json", json.dumps(info).encode())

    def _data_files(self) -> Iterator[Path]:
        yield from (self.root / "bundles").glob("*.bin")
        yield from (self.root / "partial").glob("*.part")
        yield from (self.root / "uploads").glob("*.hhux")

    def used(self) -> int:
        """Bytes held by data files (committed, partial, uploads)."""
        return sum(p.stat().st_size for p in self._data_files() if p.exists())

    def free(self) -> int:
        """Bytes that can still be stored."""
        return max(0, self.capacity - self.used())

    def _reserve(self, nbytes: int) -> None:
        free = self.free()
        if nbytes > free:
            raise FlashFullError(nbytes, free)

    # --- committed bundles ---------------------------------------------------------------

    def bundles(self) -> list[BundleEntry]:
        """Committed bundles, by id."""
        out = []
        for meta in sorted((self.root / "bundles").glob("*.json")):
            info = json.loads(meta.read_text())
            out.append(BundleEntry(meta.stem, int(info["size"]), bytes.fromhex(info["sha256"])))
        return out

    def bundle(self, bundle_id: str) -> BundleEntry | None:
        """The committed bundle ``bundle_id``, or None."""
        meta = self._bin_path(bundle_id).with_suffix(".json")
        if not meta.exists():
            return None
        info = json.loads(meta.read_text())
        return BundleEntry(bundle_id, int(info["size"]), bytes.fromhex(info["sha256"]))

    def read_bundle(self, bundle_id: str) -> bytes:
        """The bytes of a committed bundle."""
        path = self._bin_path(bundle_id)
        if not path.exists():
            raise FlashError(f"no committed bundle {bundle_id}")
        return path.read_bytes()

    def store_bundle(self, bundle_id: str, data: bytes) -> BundleEntry:
        """Commit a whole bundle in one go (tests, seeding)."""
        self._reserve(len(data))
        sha = hashlib.sha256(data).digest()
        write_atomic(self._bin_path(bundle_id), data)
        self._write_bundle_meta(bundle_id, len(data), sha)
        return BundleEntry(bundle_id, len(data), sha)

    def delete_bundle(self, bundle_id: str) -> None:
        """Remove a committed bundle (the device is done with it)."""
        for path in (self._bin_path(bundle_id), self._bin_path(bundle_id).with_suffix(".json")):
            if path.exists():
                path.unlink()
        fsync_dir(self.root / "bundles")

    def _commit_partial(self, bundle_id: str, size: int, sha256: bytes) -> BundleEntry:
        os.replace(self._part_path(bundle_id), self._bin_path(bundle_id))
        fsync_dir(self.root / "bundles")
        self._write_bundle_meta(bundle_id, size, sha256)
        (self.root / "partial" / f"{bundle_id}.json").unlink()
        fsync_dir(self.root / "partial")
        return BundleEntry(bundle_id, size, sha256)

    # --- partial bundles -----------------------------------------------------------------

    def partials(self) -> list[PartialEntry]:
        """Bundles being received, with the bytes durably held."""
        out = []
        for meta in sorted((self.root / "partial").glob("*.json")):
            info = json.loads(meta.read_text())
            out.append(PartialEntry(meta.stem, int(info["size"]),
                                    bytes.fromhex(info["sha256"]), int(info["held"])))
        return out

    def partial(self, bundle_id: str) -> PartialEntry | None:
        """The partial ``bundle_id``, or None."""
        meta = self.root / "partial" / f"{check_id(bundle_id)}.json"
        if not meta.exists():
            return None
        info = json.loads(meta.read_text())
        return PartialEntry(bundle_id, int(info["size"]), bytes.fromhex(info["sha256"]),
                            int(info["held"]))

    def open_partial(self, bundle_id: str, size: int, sha256: bytes) -> PartialWriter:
        """Start or resume receiving a bundle.

        A partial for the same size and digest resumes at its held bytes; a different
        one is a different object under the same id, so it restarts from zero. Raises
        FlashFullError when the bytes still missing do not fit.
        """
        existing = self.partial(bundle_id)
        if existing and (existing.size, existing.sha256) != (size, sha256):
            self.discard_partial(bundle_id)
            existing = None
        held = existing.held if existing else 0
        self._reserve(size - held)
        if existing is None:
            self._part_path(bundle_id).touch()
            self._write_partial_meta(bundle_id, size, sha256, 0)
            fsync_dir(self.root / "partial")
            existing = PartialEntry(bundle_id, size, sha256, 0)
        return PartialWriter(self, existing)

    def discard_partial(self, bundle_id: str) -> None:
        """Drop a partial (digest mismatch, replaced offer)."""
        for path in (self.root / "partial" / f"{check_id(bundle_id)}.json",
                     self._part_path(bundle_id)):
            if path.exists():
                path.unlink()
        fsync_dir(self.root / "partial")

    # --- readings uploads ----------------------------------------------------------------

    def uploads(self) -> list[UploadEntry]:
        """Uploads waiting for the dock, by id."""
        out = []
        for path in sorted((self.root / "uploads").glob("*.hhux")):
            data = path.read_bytes()
            out.append(UploadEntry(path.stem, len(data), hashlib.sha256(data).digest()))
        return out

    def store_upload(self, upload_id: str, data: bytes) -> UploadEntry:
        """Keep a readings upload until the dock acknowledges it."""
        path = self._upload_path(upload_id)
        if path.exists():
            raise FlashError(f"upload {upload_id} already stored")
        self._reserve(len(data))
        write_atomic(path, data)
        return UploadEntry(upload_id, len(data), hashlib.sha256(data).digest())

    def read_upload(self, upload_id: str) -> bytes:
        """The bytes of a waiting upload."""
        path = self._upload_path(upload_id)
        if not path.exists():
            raise FlashError(f"no upload {upload_id}")
        return path.read_bytes()

    def has_upload(self, upload_id: str) -> bool:
        """Whether ``upload_id`` is still waiting."""
        return self._upload_path(upload_id).exists()

    def delete_upload(self, upload_id: str) -> None:
        """Forget an upload: only after the dock acknowledged its durable commit."""
        path = self._upload_path(upload_id)
        if path.exists():
            path.unlink()
            fsync_dir(path.parent)

    # --- listing -------------------------------------------------------------------------

    def describe(self) -> dict:
        """Everything on the flash, as plain data (for ``hhu-sim flash --json``)."""
        return {
            "root": str(self.root),
            "capacity": self.capacity,
            "used": self.used(),
            "free": self.free(),
            "bundles": [{"id": b.bundle_id, "size": b.size, "sha256": b.sha256.hex()}
                        for b in self.bundles()],
            "partial": [{"id": p.bundle_id, "size": p.size, "held": p.held,
                         "sha256": p.sha256.hex()} for p in self.partials()],
            "uploads": [{"id": u.upload_id, "size": u.size, "sha256": u.sha256.hex()}
                        for u in self.uploads()],
        }
