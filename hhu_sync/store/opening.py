"""A store named by a URL: ``sqlite:///path`` (or a plain path) or ``postgresql://...``.

The password of a PostgreSQL URL is never in the configuration: libpq reads it from
``PGPASSFILE`` (or ``~/.pgpass``) by itself.

Besides opening a store, the reads a worker process makes on its own connection (the
export worker's rows of one upload) are here, for either backend, so that nothing
outside this package knows which backend a URL names.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hhu_sync.export.rows import ExportRow
from hhu_sync.profile.series import ChannelSeries
from hhu_sync.store import sqlite as sqlite_backend
from hhu_sync.store.base import StorageUnavailable, StoreError
from hhu_sync.store.depots import DEFAULT_DEPOT
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


def backend_of(url_or_path: str | Path) -> str:
    """``sqlite`` or ``postgresql``: which backend a store's name opens."""
    return "sqlite" if sqlite_path(url_or_path) is not None else "postgresql"


#: How many uploads one daemon commits at once, by backend. SQLite admits one writer to
#: a file at a time (a second committer would only wait on the file's lock). PostgreSQL
#: takes many: with two, one upload's server work (its COPY, the index updates, the
#: settlement) runs on one core while the next upload's statements are made and sent,
#: instead of the committer waiting on every round trip (bench/ingest.py; three gained
#: nothing more on two cores: docs/benchmarks.md). Two commits of one list, or of one
#: reading's key, are ordered by the server's locks, as two depots' commits are.
COMMITTERS = {"sqlite": 1, "postgresql": 2}


def committers_for(url_or_path: str | Path) -> int:
    """How many threads commit uploads into the store of this name (:data:`COMMITTERS`)."""
    return COMMITTERS[backend_of(url_or_path)]


def shown_store(url_or_path: str | Path) -> str:
    """A store's name as messages show it: a SQLite file's absolute path; a PostgreSQL
    URL's user, host, port and database, never a password (nor any other option)."""
    path = sqlite_path(url_or_path)
    if path is not None:
        return str(path.absolute())
    parts = urlsplit(str(url_or_path))
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    user = f"{parts.username}@" if parts.username else ""
    return f"postgresql://{user}{parts.hostname or ''}{port}{parts.path}"


def open_store(url_or_path: str | Path, *, depot: str = DEFAULT_DEPOT,
               open_wait_s: float | None = None, call_wait_s: float | None = None
               ) -> SqliteStore | PostgresStore:
    """The store ``url_or_path`` names: SQLite for a path or ``sqlite:///path`` (as
    before), PostgreSQL for ``postgresql://user@host[:port]/db``. A database the driver
    cannot use at all is a :class:`StoreError` (one line for a command), whichever.
    ``depot``: the depot its writes name (the configuration's ``[depot] id``).
    ``open_wait_s``: how long a PostgreSQL server may take to answer the opening;
    ``call_wait_s``: how long a call waits for one of its connections (else 30 s)."""
    path = sqlite_path(url_or_path)
    if path is not None:
        try:
            return SqliteStore(path, depot=depot)
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from None
        except OSError as exc:       # its folder cannot be made or reached (yet)
            raise StorageUnavailable(f"{path}: {exc.strerror or exc}") from None
    from hhu_sync.store.postgres import PostgresStore  # psycopg only when asked for
    if call_wait_s is None:
        return PostgresStore(str(url_or_path), depot=depot, open_wait_s=open_wait_s)
    return PostgresStore(str(url_or_path), depot=depot, timeout_s=call_wait_s,
                         open_wait_s=open_wait_s)


# -- a worker process's reads, on a connection of its own ---------------------------------

def read_export_rows(url_or_path: str | Path, *, upload_id: str | None = None,
                     catalog: str | Path | None = None) -> list[ExportRow]:
    """The export rows of the store (of one upload), read on a connection of the
    caller's own (read-only on SQLite): for the export worker, while the daemon keeps
    the store open for writing."""
    path = sqlite_path(url_or_path)
    if path is not None:
        return sqlite_backend.read_export_rows(path, upload_id=upload_id, catalog=catalog)
    from hhu_sync.store.postgres import read_export_rows as pg_rows
    return pg_rows(str(url_or_path), upload_id=upload_id, catalog=catalog)


def read_upload_interval_series(url_or_path: str | Path, upload_id: str
                                ) -> tuple[list[tuple[str, ChannelSeries]], list[tuple]]:
    """The intervals an upload stored, as ``(meter, series)``, and its VEE findings, on
    a connection of the caller's own (see :func:`read_export_rows`)."""
    path = sqlite_path(url_or_path)
    if path is not None:
        return sqlite_backend.read_upload_interval_series(path, upload_id)
    from hhu_sync.store.postgres import read_upload_interval_series as pg_series
    return pg_series(str(url_or_path), upload_id)



class _SqliteUploadReads:
    """The SQLite store's :func:`upload_reads`: both reads on one read-only connection of
    their own (one opened and closed an export, not one a read)."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self.db = db

    def export_rows(self, upload_id: str, *, catalog: str | Path | None = None
                    ) -> list[ExportRow]:
        try:
            return sqlite_backend.upload_export_rows(self.db, upload_id, catalog=catalog)
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"{self.path}: {exc}") from None

    def interval_series(self, upload_id: str
                        ) -> tuple[list[tuple[str, ChannelSeries]], list[tuple]]:
        try:
            return sqlite_backend.upload_interval_series_of(self.db, upload_id)
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"{self.path}: {exc}") from None


@contextmanager
def upload_reads(url_or_path: str | Path) -> Iterator[Any]:
    """The export worker's reads of one upload (``export_rows(upload_id, catalog=)``,
    then ``interval_series(upload_id)``: :func:`read_export_rows` and
    :func:`read_upload_interval_series`'s answers). On PostgreSQL both on one
    connection, in one read-only snapshot: one connection an export, not two (a
    backend the server starts each time), and the rows and intervals of one moment."""
    path = sqlite_path(url_or_path)
    if path is not None:
        db = sqlite_backend.read_only_connection(path)
        try:
            yield _SqliteUploadReads(path, db)
        finally:
            db.close()
        return
    from hhu_sync.store.postgres import upload_reads as pg_reads
    with pg_reads(str(url_or_path)) as reads:
        yield reads
