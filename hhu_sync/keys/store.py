"""Key store on disk: enrol HHUs, read keys and secrets, refuse unsafe permissions."""

from __future__ import annotations

import errno
import os
import secrets
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hhu_sync.errors import KeyStoreError
from hhu_sync.fsutil import atomic_write, ensure_dir, fsync_dir, open_dir_under
from hhu_sync.ids import check_name

KEY_BYTES = 32
_MAX_KEY_FILE = 256
_MAX_SECRET = 256


PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def write_private_file(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` atomically with mode 0600; refuse to replace unless ``overwrite``.

    Without ``overwrite`` the new file is linked in only if the name is free (one step,
    so a file or symlink that appears meanwhile is not replaced either).
    """
    try:
        atomic_write(path, data, mode=PRIVATE_FILE, replace=overwrite)
    except FileExistsError:
        raise KeyStoreError(f"{path} already exists (use --force to replace it)") from None


def _check_private(path: Path, mode: int) -> None:
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyStoreError(
            f"{path}: permissions {stat.filemode(mode)} let others read it; run chmod 600 {path}"
        )


def _read_small(path: Path, limit: int, what: str, fd: int | None = None) -> bytes:
    """Read at most ``limit`` bytes; the checks are of the file read (its descriptor:
    ``fd`` when the key store opened it already, and this takes it over)."""
    if fd is None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise KeyStoreError(f"{path}: no such {what}") from None
        except OSError as exc:
            raise KeyStoreError(f"{path}: cannot read {what}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyStoreError(f"{path}: {what} is not a regular file")
        _check_private(path, st.st_mode)
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise KeyStoreError(f"{path}: cannot read {what}: {exc.strerror}") from None
    if len(data) > limit:
        raise KeyStoreError(f"{path}: {what} is larger than {limit} bytes")
    return data


def load_key_file(path: str | os.PathLike[str], fd: int | None = None) -> bytes:
    """Read a key file (64 hex digits) and return the 32-byte key."""
    path = Path(path)
    text = _read_small(path, _MAX_KEY_FILE, "key file", fd).strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise KeyStoreError(f"{path}: not a key file (expected 64 hex digits)") from None
    if len(key) != KEY_BYTES:
        raise KeyStoreError(f"{path}: key is {len(key)} bytes, expected {KEY_BYTES}")
    return key


def _load_secret(path: Path, fd: int | None = None) -> str:
    data = _read_small(path, _MAX_SECRET, "secret", fd)
    try:
        return data.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError:
        raise KeyStoreError(f"{path}: secret is not UTF-8 text") from None


@dataclass(frozen=True)
class KeyStore:
    """A key store folder. Creating the object touches nothing on disk."""

    root: Path
    # path -> (stat signature, value): a key or secret is read again only when its file
    # changes (a new inode, mode, size or time), so the outbox does not reopen the same
    # key file for every scheme it packs; a revoked key is gone at the next stat.
    _cache: dict = field(default_factory=dict, compare=False, repr=False, hash=False)

    def _cached(self, path: Path, load):
        fd = self._open(path)
        st = os.fstat(fd)
        sig = (st.st_ino, st.st_dev, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        hit = self._cache.get(path)
        if hit is not None and hit[0] == sig:
            os.close(fd)
            return hit[1]
        value = load(path, fd)       # takes the descriptor over (closes it)
        self._cache[path] = (sig, value)
        return value

    def _open(self, path: Path) -> int:
        """The key or secret file itself, reached from the root through real folders and
        never a symlink (``hhus/`` swapped for a link to someone's folder would make the
        depot seal with their key, or send their password): refused, not followed.
        FileNotFoundError when it is not there."""
        try:
            dfd = open_dir_under(path.parent, self.root)
        except FileNotFoundError:
            self._cache.pop(path, None)
            raise
        except OSError as exc:
            raise KeyStoreError(f"{path.parent}: {exc.strerror}; refused") from None
        try:
            return os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                           | getattr(os, "O_CLOEXEC", 0), dir_fd=dfd)
        except FileNotFoundError:
            self._cache.pop(path, None)
            raise
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise KeyStoreError(f"{path}: is a symbolic link; refused") from None
            raise KeyStoreError(f"{path}: cannot read: {exc.strerror}") from None
        finally:
            os.close(dfd)

    def _folder(self, name: str) -> Path:
        """``root/name``, the root included, made (or tightened to) 0700: never a symlink."""
        ensure_dir(self.root, PRIVATE_DIR)
        return ensure_dir(self.root / name, PRIVATE_DIR)

    def key_path(self, hhu_id: str) -> Path:
        return self.root / "hhus" / f"{check_name(hhu_id, 'HHU id')}.key"

    def secret_path(self, name: str) -> Path:
        return self.root / "secrets" / f"{check_name(name, 'secret name')}.secret"

    def enroll(self, hhu_id: str, *, force: bool = False) -> Path:
        """Make a fresh random key for ``hhu_id``; return the key file's path."""
        path = self.key_path(hhu_id)
        self._folder("hhus")
        write_private_file(path, secrets.token_bytes(KEY_BYTES).hex().encode() + b"\n",
                           overwrite=force)
        return path

    def revoke(self, hhu_id: str) -> Path:
        """Make a lost or stolen HHU useless to the depot: its key leaves the store.

        The key file is moved (not deleted) to ``revoked/ID.key.TIME`` for the audit trail;
        from then on the dock treats the HHU as unknown, nothing is packed for it, and
        nothing it uploads can be verified. Enrolling the id again makes a new key.
        """
        path = self.key_path(hhu_id)
        if not path.exists():
            raise KeyStoreError(f"{hhu_id} is not enrolled (no key at {path})")
        folder = self._folder("revoked")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        dest = folder / f"{hhu_id}.key.{stamp}"
        os.replace(path, dest)
        fsync_dir(folder)
        fsync_dir(path.parent)
        return dest

    def snapshot(self) -> KeySnapshot:
        """Keys and secrets read once each, for a batch (see :class:`KeySnapshot`)."""
        return KeySnapshot(self)

    def hhu_key(self, hhu_id: str) -> bytes | None:
        """The key of an enrolled HHU, or None when it is not enrolled."""
        try:
            return self._cached(self.key_path(hhu_id), load_key_file)
        except FileNotFoundError:
            return None

    def enrolled(self) -> list[str]:
        folder = self.root / "hhus"
        return sorted(p.stem for p in folder.glob("*.key")) if folder.is_dir() else []

    def set_secret(self, name: str, value: str, *, force: bool = False) -> Path:
        if not value or len(value.encode()) > _MAX_SECRET:
            raise KeyStoreError(f"secret {name!r} must be 1 to {_MAX_SECRET} bytes")
        path = self.secret_path(name)
        self._folder("secrets")
        write_private_file(path, value.encode("utf-8"), overwrite=force)
        return path

    def secret(self, name: str) -> str:
        """A meter password by name; raises KeyStoreError naming the secret if missing."""
        path = self.secret_path(name)
        try:
            return self._cached(path, _load_secret)
        except FileNotFoundError:
            raise KeyStoreError(
                f"secret {name!r} is not in the key store ({path}); add it with "
                f"'hhu-sync secret set {name}'"
            ) from None


class KeySnapshot:
    """A key store's keys and secrets looked at once each, for one batch of work.

    Packing a batch of outbox files asks for the same HHU key and meter passwords for
    every file; each look is a stat of its file. A snapshot asks the store once per
    name (the store still checks the file then) and keeps the answer, a missing key or
    secret included, for as long as the batch lasts.
    """

    def __init__(self, store: KeyStore) -> None:
        self._store = store
        self._keys: dict[str, bytes | None] = {}
        self._secrets: dict[str, str | KeyStoreError] = {}

    def hhu_key(self, hhu_id: str) -> bytes | None:
        if hhu_id not in self._keys:
            self._keys[hhu_id] = self._store.hhu_key(hhu_id)
        return self._keys[hhu_id]

    def secret(self, name: str) -> str:
        if name not in self._secrets:
            try:
                self._secrets[name] = self._store.secret(name)
            except KeyStoreError as exc:
                self._secrets[name] = exc
        found = self._secrets[name]
        if isinstance(found, KeyStoreError):
            raise found
        return found
