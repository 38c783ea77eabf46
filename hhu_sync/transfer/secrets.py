"""Meter passwords inside transfer files, encrypted to the target HHU.

AES-256-GCM with a key derived from the HHU key by HKDF-SHA256 (salt: the bundle id,
info: a fixed label), so a password is never in clear on disk or on the wire and a
ciphertext cannot be moved to another bundle, HHU or secret name (they are the AAD).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hhu_sync.errors import TransferError

ALGORITHM = "A256GCM-HKDF-SHA256"
_INFO = b"hhu-sync meter-password v1"


@lru_cache(maxsize=8)    # a bundle's passwords share one derived key: derive it once
def _aead(hhu_key: bytes, bundle_id: str) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=bundle_id.encode(), info=_INFO)
    return AESGCM(hkdf.derive(hhu_key))


def _aad(bundle_id: str, target: str, name: str) -> bytes:
    return "\x1f".join((bundle_id, target, name)).encode()


def encrypt_password(hhu_key: bytes, *, bundle_id: str, target: str, name: str,
                     password: str, nonce: bytes | None = None) -> dict[str, Any]:
    """The encrypted form stored in a payload: ``{"alg", "nonce", "ct"}``."""
    nonce = nonce or os.urandom(12)
    ct = _aead(hhu_key, bundle_id).encrypt(nonce, password.encode("utf-8"),
                                           _aad(bundle_id, target, name))
    return {"alg": ALGORITHM, "nonce": nonce, "ct": ct}


def decrypt_password(hhu_key: bytes, enc: Any, *, bundle_id: str, target: str,
                     name: str) -> str:
    """Recover a password on the HHU; refuses anything altered or moved."""
    if (not isinstance(enc, dict) or enc.get("alg") != ALGORITHM
            or not isinstance(enc.get("nonce"), bytes) or len(enc["nonce"]) != 12
            or not isinstance(enc.get("ct"), bytes)):
        raise TransferError(f"password {name!r}: not an encrypted password record")
    try:
        plain = _aead(hhu_key, bundle_id).decrypt(enc["nonce"], enc["ct"],
                                                  _aad(bundle_id, target, name))
    except InvalidTag:
        raise TransferError(f"password {name!r} does not decrypt with this HHU's key") from None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:     # sealed by a key holder, but not a password we made
        raise TransferError(f"password {name!r} is not UTF-8 text") from None
