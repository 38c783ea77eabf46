"""Encode and decode transfer files, strictly and within fixed bounds.

Layout (all integers big-endian)::

    0   8  magic  89 48 48 55 0D 0A 1A 0A   ("\\x89HHU\\r\\n\\x1a\\n")
    8   2  format major version (1)
    10  2  format minor version (0)
    12  4  H: header length
    16  8  P: payload length (as stored, after compression)
    24  H  header: msgpack map
    ..  P  payload: msgpack map, zlib-compressed when header["compression"] == "zlib"
    ..  32 SHA-256 of every byte before it
    ..  32 seal: HMAC-SHA256(HHU key, every byte before it)

Decoding checks sizes before it allocates, the digest before it parses, the seal
(when given the key) before it trusts, and refuses a newer major version by name. A
compressed payload is inflated a piece at a time and never past its declared size (itself
within a hard limit), and a bundle payload is checked field by field (see
:mod:`hhu_sync.transfer.shape`) before anyone walks it: whatever the bytes, decoding
raises :class:`TransferError` and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack

from hhu_sync.errors import TransferError
from hhu_sync.ids import is_safe_name, new_bundle_id
from hhu_sync.transfer.shape import check_payload

MAGIC = b"\x89HHU\r\n\x1a\n"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0
KINDS = ("quick_send", "meter_list", "readings")
COMPRESSIONS = ("none", "zlib")

_PREFIX = struct.Struct(">8sHHIQ")
PREFIX_SIZE = _PREFIX.size  # 24
DIGEST_SIZE = 32
SEAL_SIZE = 32
TRAILER_SIZE = DIGEST_SIZE + SEAL_SIZE
INFLATE_CHUNK = 64 * 1024     # compressed bytes fed to the inflater at a time
MAX_MANIFEST = 10_000         # entries in a header's table of contents


@dataclass(frozen=True)
class Limits:
    """Upper bounds enforced while decoding; every one is checked before allocation."""

    max_header: int = 64 * 1024
    max_payload: int = 64 * 1024 * 1024          # stored (compressed) size
    # after decompression: the hard limit whatever a header declares. A route of 10,000
    # meters is a few MB of msgpack; what a bomb may cost to refuse is this, not its size.
    max_expanded: int = 64 * 1024 * 1024
    # A byte of msgpack can be a new Python object of 64 bytes (``0x80``, an empty map):
    # the expanded size alone lets 64 MiB become 5 GB of dicts. So decoding also counts
    # what it builds: no array or map longer than ``max_items``, and at most
    # ``max_objects`` containers and values in all (a value of a map counts, its key,
    # interned by msgpack, does not). 100,000 visits of ten fields and 500,000 readings
    # fit; refusing a bomb costs at most this many objects.
    max_items: int = 100_000
    max_objects: int = 4_000_000

    @property
    def max_file(self) -> int:
        return PREFIX_SIZE + self.max_header + self.max_payload + TRAILER_SIZE


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class TransferHeader:
    kind: str
    bundle_id: str
    created: datetime
    source: str
    target: str
    compression: str
    expanded_size: int
    manifest: tuple[dict[str, Any], ...] = ()
    version: tuple[int, int] = (FORMAT_MAJOR, FORMAT_MINOR)


@dataclass(frozen=True)
class Transfer:
    header: TransferHeader
    payload: dict[str, Any]
    sealed: bool = field(default=False)  # True when the seal was checked with a key
    digest: bytes = b""


def _manifest_for(kind: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A short table of contents, readable without unpacking the payload."""
    if kind == "readings":
        return [{"type": "visits", "count": len(payload.get("visits", ()))}]
    items: list[dict[str, Any]] = []
    if isinstance(payload.get("meter_list"), dict):
        lst = payload["meter_list"]
        items.append({"type": "meter_list", "id": lst.get("id", ""),
                      "entries": len(lst.get("meters", ()))})
    for scheme in payload.get("schemes", ()):
        items.append({"type": "scheme", "id": scheme.get("id", "")})
    return items


def _deflate(body: bytes) -> bytes:
    """zlib at level 6 with a window and hash table sized to the body.

    ``zlib.compress`` sets up a 32 KiB window and a 64 KiB hash table for any input:
    for a Quick send of a kilobyte or two that set-up was a fifth of sealing it. A
    smaller window only narrows how far back matches are looked for, which a body
    shorter than the window does not need; the stream is standard zlib, and any
    inflater (ours included) reads it.
    """
    wbits = min(15, max(9, (len(body) - 1).bit_length()))
    deflater = zlib.compressobj(6, zlib.DEFLATED, wbits, max(1, min(8, wbits - 7)))
    return deflater.compress(body) + deflater.flush()


def encode_transfer(
    kind: str,
    payload: dict[str, Any],
    *,
    source: str,
    target: str,
    key: bytes,
    bundle_id: str | None = None,
    created: datetime | None = None,
    compress: bool = True,
) -> bytes:
    """Build a sealed transfer file. ``key`` is the target (or, for readings, source) HHU's key."""
    if kind not in KINDS:
        raise TransferError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    for what, value in (("source", source), ("target", target)):
        if not is_safe_name(value):
            raise TransferError(f"{what} {value!r} is not a valid HHU or depot id")
    bundle_id = bundle_id or new_bundle_id(created)
    if not is_safe_name(bundle_id):
        raise TransferError(f"bundle id {bundle_id!r} is not valid")
    created = (created or datetime.now(UTC)).astimezone(UTC)
    body = msgpack.packb(payload, use_bin_type=True)
    compression = "none"
    if compress:
        packed = _deflate(body)
        if len(packed) < len(body):
            body_stored, compression = packed, "zlib"
        else:
            body_stored = body
    else:
        body_stored = body
    header = {
        "kind": kind,
        "bundle_id": bundle_id,
        "created": created.isoformat(timespec="seconds"),
        "source": source,
        "target": target,
        "compression": compression,
        "expanded_size": len(body),
        "manifest": _manifest_for(kind, payload),
    }
    head = msgpack.packb(header, use_bin_type=True)
    limits = DEFAULT_LIMITS
    if (len(head) > limits.max_header or len(body_stored) > limits.max_payload
            or len(body) > limits.max_expanded):
        raise TransferError("bundle too large for the transfer format limits")
    prefix = _PREFIX.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR, len(head), len(body_stored))
    out = bytearray(prefix)
    out += head
    out += body_stored
    out += hashlib.sha256(out).digest()
    out += hmac.new(key, out, hashlib.sha256).digest()
    return bytes(out)


def _frame(data: bytes, limits: Limits) -> tuple[int, int, int, int]:
    """Check magic, version and lengths; return (major, minor, H, P)."""
    if len(data) < PREFIX_SIZE:
        if not MAGIC.startswith(bytes(data[: len(MAGIC)])):
            raise TransferError("not a transfer file (bad magic)", offset=0)
        raise TransferError(
            f"truncated: {len(data)} bytes, shorter than the {PREFIX_SIZE}-byte prefix",
            offset=len(data),
        )
    magic, major, minor, hlen, plen = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise TransferError("not a transfer file (bad magic)", offset=0)
    if major > FORMAT_MAJOR:
        raise TransferError(
            f"format version {major}.{minor} is newer than this hhu-sync reads "
            f"({FORMAT_MAJOR}.x); upgrade hhu-sync",
            offset=8,
        )
    if major < 1:
        raise TransferError(f"format version {major}.{minor} is not valid", offset=8)
    if hlen > limits.max_header:
        raise TransferError(f"header length {hlen} exceeds the limit {limits.max_header}",
                            offset=12)
    if plen > limits.max_payload:
        raise TransferError(f"payload length {plen} exceeds the limit {limits.max_payload}",
                            offset=16)
    expected = PREFIX_SIZE + hlen + plen + TRAILER_SIZE
    if len(data) < expected:
        raise TransferError(f"truncated: {len(data)} bytes of {expected}", offset=len(data))
    if len(data) > expected:
        raise TransferError(f"{len(data) - expected} unexpected bytes after the seal",
                            offset=expected)
    return major, minor, hlen, plen


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"extension type {code}")      # the format has none


class _ObjectBudget:
    """Counts the containers msgpack builds and their values; refuses past ``limit``.

    msgpack calls the hook as each array or map is finished, so with every container
    at most ``max_items`` long the objects alive when it refuses are bounded too."""

    __slots__ = ("left",)

    def __init__(self, limit: int) -> None:
        self.left = limit

    def __call__(self, value: Any) -> Any:
        self.left -= 1 + len(value)
        if self.left < 0:
            raise _TooManyObjects
        return value


class _TooManyObjects(Exception):
    pass


def _unpack_map(blob: bytes | bytearray, what: str, offset: int,
                use_list: bool = True, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    # What the budget counts (a container, and each value in one) is at most two for a
    # byte of msgpack: a blob of at most half the budget cannot exceed it, and is
    # unpacked without a call into Python for every array and map (a readings upload
    # has one a register).
    hooks: dict[str, Any] = {}
    if 2 * len(blob) > limits.max_objects:
        budget = _ObjectBudget(limits.max_objects)
        hooks = {"list_hook": budget, "object_hook": budget}
    try:
        value = msgpack.unpackb(blob, raw=False, strict_map_key=True, use_list=use_list,
                                ext_hook=_no_ext, max_array_len=limits.max_items,
                                max_map_len=limits.max_items, **hooks)
    except _TooManyObjects:
        raise TransferError(f"{what} holds more than {limits.max_objects} values",
                            offset=offset) from None
    except ValueError as exc:
        if "exceeds max_" in str(exc):      # msgpack's own bound on one array or map
            raise TransferError(f"{what} is not valid msgpack for a transfer file (an "
                                f"array or map of more than {limits.max_items} items)",
                                offset=offset) from None
        raise TransferError(f"{what} is not valid msgpack ({exc.__class__.__name__})",
                            offset=offset) from None
    except Exception as exc:  # msgpack raises several unrelated types
        raise TransferError(f"{what} is not valid msgpack ({exc.__class__.__name__})",
                            offset=offset) from None
    if not isinstance(value, dict):
        raise TransferError(f"{what} is not a map", offset=offset)
    return value


def _header_from(raw: dict[str, Any], version: tuple[int, int]) -> TransferHeader:
    off = PREFIX_SIZE

    def need(name: str, kind: type) -> Any:
        value = raw.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise TransferError(f"header field {name!r} missing or not a {kind.__name__}",
                                offset=off)
        return value

    kind = need("kind", str)
    if kind not in KINDS:
        raise TransferError(f"header field 'kind': unknown kind {kind!r}", offset=off)
    for name in ("bundle_id", "source", "target"):
        if not is_safe_name(need(name, str)):
            raise TransferError(f"header field {name!r}: {raw[name]!r} is not a valid id",
                                offset=off)
    compression = need("compression", str)
    if compression not in COMPRESSIONS:
        raise TransferError(f"header field 'compression': unknown {compression!r}", offset=off)
    try:
        created = datetime.fromisoformat(need("created", str))
    except ValueError:
        raise TransferError("header field 'created' is not an ISO 8601 time", offset=off) from None
    if created.tzinfo is None:       # a reader compares it with aware times: never guess
        raise TransferError("header field 'created' has no UTC offset", offset=off)
    expanded = need("expanded_size", int)
    if expanded < 1:          # a payload is a map: one byte at least
        raise TransferError(f"header field 'expanded_size': {expanded} is not a size "
                            "(a payload is at least 1 byte)", offset=off)
    manifest = raw.get("manifest", [])
    if (not isinstance(manifest, list) or len(manifest) > MAX_MANIFEST
            or not all(isinstance(m, dict) and all(
                isinstance(k, str) and isinstance(v, str | int | float | bool | None)
                for k, v in m.items()) for m in manifest)):
        raise TransferError("header field 'manifest' is not a list of flat maps",
                            offset=off)
    return TransferHeader(
        kind=kind, bundle_id=raw["bundle_id"], created=created, source=raw["source"],
        target=raw["target"], compression=compression, expanded_size=expanded,
        manifest=tuple(manifest), version=version,
    )


def _checked(data: bytes, key: bytes | None, limits: Limits) -> tuple[TransferHeader, int, int]:
    major, minor, hlen, plen = _frame(data, limits)
    end = PREFIX_SIZE + hlen + plen
    view = memoryview(data)
    if not hmac.compare_digest(hashlib.sha256(view[:end]).digest(),
                               bytes(view[end:end + DIGEST_SIZE])):
        raise TransferError("SHA-256 digest does not match: the file is damaged", offset=end)
    if key is not None:
        seal = hmac.new(key, view[:end + DIGEST_SIZE], hashlib.sha256).digest()
        if not hmac.compare_digest(seal, bytes(view[end + DIGEST_SIZE:])):
            raise TransferError(
                "seal does not match: wrong HHU key, or the file was altered",
                offset=end + DIGEST_SIZE,
            )
    raw = _unpack_map(bytes(view[PREFIX_SIZE:PREFIX_SIZE + hlen]), "header", PREFIX_SIZE,
                      limits=limits)
    return _header_from(raw, (major, minor)), hlen, plen


def _inflate(stored: bytes, declared: int, start: int) -> bytearray:
    """Inflate ``stored``, a piece at a time, refusing at the first byte past ``declared``.

    The output never holds more than ``declared + 1`` bytes and no piece of input is more
    than :data:`INFLATE_CHUNK`, so a bomb costs what it declares (already within the hard
    limit), not what it would expand to. Errors give the offset of the input piece.
    """
    inflater = zlib.decompressobj()
    out = bytearray()
    view = memoryview(stored)
    pos = 0                      # compressed bytes handed to the inflater so far
    while not inflater.eof:
        piece: bytes | memoryview = inflater.unconsumed_tail
        if not piece:
            if pos >= len(view):
                raise TransferError("payload is truncated: the zlib stream does not end",
                                    offset=start + pos)
            piece = view[pos:pos + INFLATE_CHUNK]
            pos += len(piece)
        try:
            out += inflater.decompress(piece, declared + 1 - len(out))
        except zlib.error:
            raise TransferError("payload does not decompress",
                                offset=start + pos - len(inflater.unconsumed_tail)) from None
        if len(out) > declared:
            raise TransferError(
                f"payload expands beyond its declared size of {declared} bytes",
                offset=start + pos - len(inflater.unconsumed_tail))
    if inflater.unused_data or pos < len(view):
        raise TransferError("unexpected bytes after the end of the zlib stream",
                            offset=start + pos - len(inflater.unused_data))
    return out


def peek_header(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> TransferHeader:
    """The header of a transfer file whose digest is good; the seal is not checked."""
    return _checked(data, None, limits)[0]


def decode_transfer(
    data: bytes, key: bytes | None = None, *, limits: Limits = DEFAULT_LIMITS,
    use_list: bool = True,
) -> Transfer:
    """Decode and check a transfer file; with ``key`` the seal must match too.

    ``use_list=False`` gives tuples for arrays: a third faster to build, for readers that
    only walk the payload once (ingest).
    """
    header, hlen, plen = _checked(data, key, limits)
    start = PREFIX_SIZE + hlen
    stored = bytes(memoryview(data)[start:start + plen])
    if header.expanded_size > limits.max_expanded:
        raise TransferError(
            f"payload would expand to {header.expanded_size} bytes, over the limit "
            f"{limits.max_expanded}", offset=PREFIX_SIZE)
    if header.compression == "zlib":
        body: bytes | bytearray = _inflate(stored, header.expanded_size, start)
    else:
        body = stored
    if len(body) != header.expanded_size:
        raise TransferError(
            f"payload is {len(body)} bytes, header says {header.expanded_size}", offset=start)
    payload = _unpack_map(body, "payload", start, use_list, limits)
    check_payload(header.kind, payload)
    digest = bytes(memoryview(data)[start + plen:start + plen + DIGEST_SIZE])
    return Transfer(header=header, payload=payload, sealed=key is not None, digest=digest)
