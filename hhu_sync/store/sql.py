"""What the backend-neutral statement code needs of a database connection.

The ingest checks and the export's joins are written once, in SQL both SQLite and
PostgreSQL run (``?`` parameters; the PostgreSQL backend translates them), and take any
connection with ``execute``: ``sqlite3.Connection`` as it is, or the PostgreSQL
backend's adapter (hhu_sync.store.postgres).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class Rows(Protocol):
    """A statement's result, as both drivers' cursors give it."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class SqlConnection(Protocol):
    """A connection the shared statements run on (``?`` parameters)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Rows: ...
    def executemany(self, sql: str, parameters: Any, /) -> Rows: ...
