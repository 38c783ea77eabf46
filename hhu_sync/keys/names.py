"""Whose key a key file holds, told from its name as the key store names key files.

The store keeps ``hhus/ID.key`` and moves a revoked one to ``revoked/ID.key.TIME``
(:meth:`~hhu_sync.keys.store.KeyStore.revoke`): a command given either as ``--key-file``
must take ID, not ``ID.key``, or every upload of that HHU looks like another's.
"""

from __future__ import annotations

import os
from pathlib import Path

KEY_SUFFIX = ".key"


def hhu_id_of_key_file(path: str | os.PathLike[str]) -> str:
    """The HHU id of a key file: its name up to ``.key`` (and whatever the store added
    after it); a name without ``.key`` loses only its last suffix, as before."""
    name = Path(path).name
    if name.endswith(KEY_SUFFIX):
        return name[:-len(KEY_SUFFIX)]
    head, found, _ = name.rpartition(KEY_SUFFIX + ".")
    if found and head:
        return head
    return Path(name).stem
