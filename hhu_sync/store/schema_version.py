"""The schema version both backends keep in ``meta`` and the rule for opening a store.

One number for both: a migration moves SQLite and PostgreSQL databases to the same
version, so a daemon knows what it can open whichever store it is given.
"""

from __future__ import annotations

from hhu_sync.store.base import StoreError

#: the version this code reads and writes (meta key ``schema_version``); what each
#: version after the first added: hhu_sync.store.migrations.MIGRATIONS
SCHEMA_VERSION = "5"
SCHEMA_VERSION_KEY = "schema_version"


def version_number(version: str) -> int | None:
    """A schema version as a number to compare (None: not one any hhu-sync writes)."""
    return int(version) if version.isascii() and version.isdigit() else None


def version_refusal(where: str, found: str | None) -> StoreError | None:
    """The refusal to open a store whose schema is another version (newer or older), naming
    both and what to do; None when it is this code's (or the store is new: ``found``
    None)."""
    if found is None or found == SCHEMA_VERSION:
        return None
    number = version_number(found)
    if number is None:
        hint = "not a version any hhu-sync writes"
    elif number > int(SCHEMA_VERSION):
        hint = "newer: made by a later hhu-sync, which this one does not downgrade"
    else:
        hint = f"older: hhu-sync db upgrade moves it to {SCHEMA_VERSION}"
    return StoreError(f"{where}: schema version {found}, this hhu-sync uses {SCHEMA_VERSION} "
                      f"({hint})")
