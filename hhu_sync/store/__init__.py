"""Storage behind a small interface; SQLite (WAL) is the embedded default, PostgreSQL
(hhu_sync.store.postgres) the shared one; :func:`open_store` takes either's name.

The daemon's parts talk through a :class:`Store`, never through each other's insides, so
a shared server database can replace SQLite when several depots report to one office.
"""

from hhu_sync.store.base import ListState, StorageUnavailable, Store, StoreError
from hhu_sync.store.opening import open_store
from hhu_sync.store.sqlite import SqliteStore

__all__ = ["ListState", "SqliteStore", "StorageUnavailable", "Store", "StoreError",
           "open_store"]
