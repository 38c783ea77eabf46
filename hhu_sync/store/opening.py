"""A store named by a URL: ``sqlite:///path`` (or a plain path) or ``postgresql://...``.

The password of a PostgreSQL URL is never in the configuration: libpq reads it from
``PGPASSFILE`` (or ``~/.pgpass``) by itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hhu_sync.store.base import StoreError
from hhu_sync.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from hhu_sync.store.postgres import PostgresStore

_SQLITE = "sqlite://"


def sqlite_path(url_or_path: str | Path) -> Path | None:
    """The file a SQLite store's name means (``sqlite:///var/db`` is ``/var/db``), None
    for a PostgreSQL URL."""
    if isinstance(url_or_path, Path):
        return url_or_path
    if url_or_path.startswith(("postgresql://", "postgres://")):
        return None
    if url_or_path.startswith(_SQLITE):
        rest = url_or_path[len(_SQLITE):]
        if not rest.startswith("/"):
            raise StoreError(f"store URL {url_or_path!r}: a SQLite URL is sqlite:///path "
                             "(three slashes, then the file's path)")
        return Path(rest)
    if "://" in url_or_path:
        raise StoreError(f"store URL {url_or_path.split('://')[0]}://...: not a store "
                         "this hhu-sync knows (sqlite:///path or postgresql://user@host/db)")
    return Path(url_or_path)


def open_store(url_or_path: str | Path) -> SqliteStore | PostgresStore:
    """The store ``url_or_path`` names: SQLite for a path or ``sqlite:///path`` (as
    before), PostgreSQL for ``postgresql://user@host[:port]/db``."""
    path = sqlite_path(url_or_path)
    if path is not None:
        return SqliteStore(path)
    from hhu_sync.store.postgres import PostgresStore  # psycopg only when asked for
    return PostgresStore(str(url_or_path))
