"""Mutual authentication (HMAC-SHA256 over the handshake transcript) and HELLO info coding.

    dock_mac = HMAC(K, b"hhu-link/1 dock proof\\x00" || HELLO || CHALLENGE || AUTH[:-32])
    hhu_mac  = HMAC(K, b"hhu-link/1 hhu proof\\x00"  || HELLO || CHALLENGE || AUTH || WELCOME[:-32])

where each name stands for the frame *body* (type byte + fields, no CRC, no COBS). HELLO
carries the dock nonce, CHALLENGE the HHU nonce and the HHU id, so both MACs bind the HHU
id and both nonces; the labels separate the two directions. The key never goes on the wire.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TypeVar

import msgpack

from .errors import RemoteProtocolError
from .events import BundleInfo, HelloInfo, UploadInfo

DOCK_LABEL = b"hhu-link/1 dock proof\x00"
HHU_LABEL = b"hhu-link/1 hhu proof\x00"
NONCE_SIZE = 16
MAC_SIZE = 32


def mac(key: bytes, label: bytes, *parts: bytes) -> bytes:
    h = hmac.new(key, label, hashlib.sha256)
    for p in parts:
        h.update(p)
    return h.digest()


def check_mac(key: bytes, label: bytes, got: bytes, *parts: bytes) -> bool:
    return hmac.compare_digest(mac(key, label, *parts), got)


def hello_to_wire(hello: HelloInfo) -> bytes:
    """msgpack array: [hhu_id, firmware, free_flash, battery_pct,
    [[bundle_id, state, size, held], ...], [[upload_id, size, sha256(bin)], ...]]"""
    return msgpack.packb(
        [
            hello.hhu_id,
            hello.firmware,
            hello.free_flash,
            hello.battery_pct,
            [[b.bundle_id, b.state, b.size, b.held] for b in hello.bundles],
            [[u.upload_id, u.size, bytes(u.sha256)] for u in hello.uploads],
        ],
        use_bin_type=True,
    )


def hello_from_wire(raw: bytes) -> HelloInfo:
    try:
        v = msgpack.unpackb(raw, raw=False, use_list=True, strict_map_key=True)
        hhu_id, firmware, flash, batt, bundles, uploads = v
        info = HelloInfo(
            hhu_id=_typed(hhu_id, str),
            firmware=_typed(firmware, str),
            free_flash=_typed(flash, int),
            battery_pct=_typed(batt, int),
            bundles=tuple(
                BundleInfo(_typed(b[0], str), _typed(b[1], str), _typed(b[2], int),
                           _typed(b[3], int))
                for b in bundles
            ),
            uploads=tuple(
                UploadInfo(_typed(u[0], str), _typed(u[1], int), _typed(u[2], bytes))
                for u in uploads
            ),
        )
    except RemoteProtocolError:
        raise
    except Exception as exc:  # msgpack raises many types; any is the peer's fault
        raise RemoteProtocolError(f"WELCOME: bad hello info ({exc.__class__.__name__})") from None
    return info


_T = TypeVar("_T")


def _typed(value: object, typ: type[_T]) -> _T:
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise RemoteProtocolError(f"WELCOME: bad hello info field {value!r}")
    return value
