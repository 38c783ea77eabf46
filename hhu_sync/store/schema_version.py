"""The schema version both backends keep in ``meta`` and the rule for opening a store.

One number for both: a migration moves SQLite and PostgreSQL databases to the same
version, so a daemon knows what it can open whichever store it is given.
"""

from __future__ import annotations

from hhu_sync.store.base import StoreError

#: the version this code reads and writes (meta key ``schema_version``)
SCHEMA_VERSION = "1"
SCHEMA_VERSION_KEY = "schema_version"


def version_refusal(where: str, found: str | None) -> StoreError | None:
    """The refusal to open a store whose schema is another version (newer or older), naming
    both; None when it is this code's (or the store is new: ``found`` None)."""
    if found is None or found == SCHEMA_VERSION:
        return None
    return StoreError(f"{where}: schema version {found}, this hhu-sync uses {SCHEMA_VERSION}")
