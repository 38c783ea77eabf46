"""Storage behind a small interface; SQLite (WAL) is the embedded default.

The daemon's parts talk through a :class:`Store`, never through each other's insides, so
a shared server database can replace SQLite when several depots report to one office.
"""

from hhu_sync.store.base import ListState, StorageUnavailable, Store, StoreError
from hhu_sync.store.sqlite import SqliteStore, open_store

__all__ = ["ListState", "SqliteStore", "StorageUnavailable", "Store", "StoreError",
           "open_store"]
