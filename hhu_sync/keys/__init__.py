"""The key store: per-HHU link/seal keys and named meter-password secrets.

Layout of the key store folder::

    hhus/<HHU-ID>.key        64 hex digits (a 32-byte key) and a newline, mode 0600
    secrets/<NAME>.secret    a meter password as UTF-8 text, mode 0600

Keys never leave this folder in clear: transfer files carry an HMAC made with the HHU
key, and meter passwords encrypted to the HHU (see :mod:`hhu_sync.transfer.secrets`).
"""

from __future__ import annotations

from hhu_sync.keys.store import (
    KEY_BYTES,
    KeyStore,
    load_key_file,
    write_private_file,
)

__all__ = ["KEY_BYTES", "KeyStore", "load_key_file", "write_private_file"]
