"""Revoke a lost or stolen HHU: the one set of steps ``hhu-sync revoke`` and the web app
both take, so either leaves the depot in the same state and the same audit row.

The key leaves the key store first (kept under ``revoked/``): from then on the dock
refuses the HHU, whatever the database says. Then its work stops in one transaction
with the audit row (action ``hhu.revoke``: the dock before, what was cancelled after).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hhu_sync.keys.store import KeyStore
from hhu_sync.store.accounts import Change
from hhu_sync.store.base import Store


@dataclass(frozen=True)
class Revoked:
    hhu_id: str
    key_moved_to: Path
    counts: dict[str, int] | None     # None: no database to stop work in


def revoke_handheld(keystore: KeyStore, store: Store | None, hhu_id: str, now: str, *,
                    user: str) -> Revoked:
    """Raises :class:`~hhu_sync.errors.KeyStoreError` (not enrolled) or ValueError (a bad
    id) before anything changed; the store's errors after the key has moved."""
    dest = keystore.revoke(hhu_id)
    counts = None
    if store is not None:
        counts = store.revoke_hhu(hhu_id, now, change=Change(
            user, "hhu.revoke", hhu_id, after={"key_moved_to": dest.name}))
    return Revoked(hhu_id, dest, counts)
