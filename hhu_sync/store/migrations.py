"""Schema versions, looked at and moved forward: ``hhu-sync db status`` and ``db upgrade``.

One version number for both backends (:mod:`hhu_sync.store.schema_version`): a step
from one version to the next is written once per backend, in one :class:`Migration`,
and applied in one transaction that also writes the new number, so a database is at
one version or the next, never between. A store is opened only at this code's version
(a daemon refuses any other, naming both); ``db upgrade`` is what moves an older one
here, and it refuses to move a newer one back. Looking (``db status``) creates and
changes nothing, whatever the version found.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hhu_sync.store.base import StorageUnavailable, StoreError
from hhu_sync.store.opening import open_store, shown_store, sqlite_path
from hhu_sync.store.schema_version import SCHEMA_VERSION, SCHEMA_VERSION_KEY, version_number
from hhu_sync.store.sqlite_upgrades import DEPOT_INDEXES, DEPOT_TABLES, add_depot_columns


@dataclass(frozen=True)
class Migration:
    """One step, ``from_version`` to ``to_version``: what it does (for the log and
    ``db upgrade``'s output) and its statements on each backend's connection (a
    ``sqlite3.Connection``; a psycopg connection), run inside the step's transaction."""

    from_version: str
    to_version: str
    what: str
    sqlite: Callable[[sqlite3.Connection], None]
    postgres: Callable[[Any], None]


def _remote_claims_ddl(integer: str, text: str, real: str) -> list[str]:
    """Version 2's table, in each backend's types (as schema.sql and
    postgres_schema.sql make it for a new store)."""
    return [
        f"CREATE TABLE IF NOT EXISTS remote_claims (delivery_id {integer} NOT NULL, "
        f"seq {integer} NOT NULL, serial {text} NOT NULL, port {text} NOT NULL, "
        f"runner {text} NOT NULL, state {text} NOT NULL, lease_until {real} NOT NULL, "
        f"claimed_at {text} NOT NULL, takeovers {integer} NOT NULL DEFAULT 0, "
        f"outcome {text}, attempts {integer} NOT NULL DEFAULT 0, upload_id {text}, "
        f"notes {text} NOT NULL DEFAULT '', finished_at {text}, "
        "PRIMARY KEY (delivery_id, seq))",
        "CREATE INDEX IF NOT EXISTS remote_claims_runner ON remote_claims (runner, state)",
        "CREATE INDEX IF NOT EXISTS remote_claims_port ON remote_claims "
        "(delivery_id, port, state)",
    ]


def _claims_on_sqlite(db: sqlite3.Connection) -> None:
    for statement in _remote_claims_ddl("INTEGER", "TEXT", "REAL"):
        db.execute(statement)


def _claims_on_postgres(conn: Any) -> None:
    for statement in _remote_claims_ddl("bigint", "ctext", "double precision"):
        conn.execute(statement)


def _depots_on_postgres(conn: Any) -> None:
    for table in DEPOT_TABLES:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS depot ctext NOT NULL "
                     "DEFAULT ''")
    for index in DEPOT_INDEXES:
        conn.execute(index)


def _nothing_on_sqlite(db: sqlite3.Connection) -> None:
    """A step only PostgreSQL needs: SQLite's store makes its own at open."""


#: version 5: the claims on a port in every run, for the rule that one depot at a time
#: talks to a port whichever list it runs
_LIVE_CLAIMS_INDEX = ("CREATE INDEX IF NOT EXISTS remote_claims_live ON remote_claims "
                      "(port, state, lease_until)")


def _live_claims_on_sqlite(db: sqlite3.Connection) -> None:
    db.execute(_LIVE_CLAIMS_INDEX)


def _live_claims_on_postgres(conn: Any) -> None:
    conn.execute(_LIVE_CLAIMS_INDEX)


def _site_index_on_postgres(conn: Any) -> None:
    conn.execute("CREATE INDEX IF NOT EXISTS list_entries_site ON list_entries "
                 "(lower(site), serial)")


#: every step from a version to the next, oldest first. Version 1 is the first numbered
#: one (what SQLite databases made before it lack, SqliteStore adds at open).
MIGRATIONS: tuple[Migration, ...] = (
    Migration("1", "2", "remote_claims: per-meter claims of remote runs shared by "
              "several depots (issue 17)", _claims_on_sqlite, _claims_on_postgres),
    Migration("2", "3", "sessions, uploads, the audit log and HHUs say which depot made "
              "them: a depot column on each (rows made before hold '', not recorded) and "
              "indexes of sessions and uploads by depot",
              add_depot_columns, _depots_on_postgres),
    Migration("3", "4", "meters found by site ignoring case on PostgreSQL: an index of "
              "list_entries (lower(site), serial) (SQLite's NOCASE index is made at open)",
              _nothing_on_sqlite, _site_index_on_postgres),
    Migration("4", "5", "remote_claims by port across runs: an index of (port, state, "
              "lease_until), so two depots running two lists never talk to one gateway "
              "at once (issue 17)", _live_claims_on_sqlite, _live_claims_on_postgres),
)

#: the tables ``db status`` counts the rows of (the store's own; meta is the version)
COUNTED = ("inputs", "schemes", "lists", "list_entries", "deliveries", "hhus", "sessions",
           "uploads", "visits", "readings", "intervals", "events", "exceptions",
           "vee_findings", "users", "audit", "remote_claims")


@dataclass(frozen=True)
class SchemaState:
    """What a store holds, read without changing it."""

    store: str                    # its name as shown (no password)
    backend: str                  # sqlite | postgresql
    held: str | None              # its schema version; None: no schema yet (empty)
    known: str = SCHEMA_VERSION   # the version this code reads and writes
    counts: dict[str, int] = field(default_factory=dict)   # rows, per table it has

    @property
    def verdict(self) -> str:
        """``current``, ``empty`` (no schema: opening or ``db upgrade`` makes it),
        ``older`` (``db upgrade`` moves it), ``newer`` or ``unknown`` (refused)."""
        if self.held is None:
            return "empty"
        if self.held == self.known:
            return "current"
        number = version_number(self.held)
        if number is None:
            return "unknown"
        return "newer" if number > int(self.known) else "older"


def plan(where: str, held: str, migrations: Sequence[Migration] = MIGRATIONS,
         known: str = SCHEMA_VERSION) -> list[Migration]:
    """The steps from ``held`` to ``known``, in order; a :class:`StoreError` naming both
    versions for a downgrade, or for a version no step leads on from."""
    if held == known:
        return []
    number = version_number(held)
    if number is not None and number > int(known):
        raise StoreError(f"{where}: schema version {held} is newer than {known}, the "
                         "version this hhu-sync knows: refusing to downgrade it (run the "
                         "hhu-sync that made it)")
    steps: list[Migration] = []
    at = held
    by_start = {m.from_version: m for m in migrations}
    while at != known:
        step = by_start.get(at)
        if step is None or len(steps) > len(migrations):
            raise StoreError(f"{where}: schema version {held}, this hhu-sync knows {known}: "
                             f"no migration leads on from version {at}")
        steps.append(step)
        at = step.to_version
    return steps


def schema_state(url_or_path: str | Path) -> SchemaState:
    """The store's schema version and row counts, read only: nothing is created (a
    missing SQLite file is a :class:`StoreError`) and any version is shown."""
    where = shown_store(url_or_path)
    path = sqlite_path(url_or_path)
    if path is not None:
        if not path.exists():
            raise StoreError(f"no database at {where}")
        uri = path.resolve().as_uri() + "?mode=ro"
        try:
            db = sqlite3.connect(uri, uri=True, timeout=30.0)
            try:
                tables = {n for (n,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'")}
                return _state(where, "sqlite", tables, db.execute, "?")
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise StoreError(f"{where}: {exc}") from None
    import psycopg
    try:
        with psycopg.connect(str(url_or_path), autocommit=True, connect_timeout=30) as conn:
            tables = {n for (n,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
            return _state(where, "postgresql", tables, conn.execute, "%s")
    except psycopg.Error as exc:
        raise StorageUnavailable(f"{where}: {str(exc).strip()}") from None


def _state(where: str, backend: str, tables: set[str], execute: Callable[..., Any],
           mark: str) -> SchemaState:
    held = None
    if "meta" in tables:
        row = execute(f"SELECT value FROM meta WHERE key={mark}",
                      (SCHEMA_VERSION_KEY,)).fetchone()
        held = row[0] if row else None
    counts = {t: int(execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0])
              for t in COUNTED if t in tables}
    return SchemaState(where, backend, held, counts=counts)


def upgrade(url_or_path: str | Path, migrations: Sequence[Migration] = MIGRATIONS
            ) -> tuple[str | None, list[Migration]]:
    """Move the store to this code's schema version: the version it held (None: it was
    made here) and the steps applied. A newer store is refused, naming both versions,
    and left as it was; each step is a transaction of its own (an error stops at the
    last version reached)."""
    where = shown_store(url_or_path)
    path = sqlite_path(url_or_path)
    held = None if path is not None and not path.exists() else \
        schema_state(url_or_path).held
    steps = [] if held is None else plan(where, held, migrations)
    for step in steps:
        _apply(url_or_path, step)
    open_store(url_or_path).close()     # a new store's schema made, SQLite's columns added
    return held, steps


def _apply(url_or_path: str | Path, step: Migration) -> None:
    """One step in one transaction, with the version it writes; a store another
    process moved on meanwhile (checked inside the transaction) is left alone."""
    where = shown_store(url_or_path)
    path = sqlite_path(url_or_path)
    if path is not None:
        db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT value FROM meta WHERE key=?",
                                 (SCHEMA_VERSION_KEY,)).fetchone()
                if row is not None and row[0] == step.from_version:
                    step.sqlite(db)
                    db.execute("UPDATE meta SET value=? WHERE key=?",
                               (step.to_version, SCHEMA_VERSION_KEY))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"{where}: version {step.from_version} to {step.to_version} "
                             f"({step.what}): {exc}") from None
        finally:
            db.close()
        return
    import psycopg

    from hhu_sync.store.postgres import _SCHEMA_LOCK
    try:
        with psycopg.connect(str(url_or_path), autocommit=True, connect_timeout=30) as conn, \
                conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            row = conn.execute("SELECT value FROM meta WHERE key=%s",
                               (SCHEMA_VERSION_KEY,)).fetchone()
            if row is not None and row[0] == step.from_version:
                step.postgres(conn)
                conn.execute("UPDATE meta SET value=%s WHERE key=%s",
                             (step.to_version, SCHEMA_VERSION_KEY))
    except psycopg.Error as exc:
        raise StoreError(f"{where}: version {step.from_version} to {step.to_version} "
                         f"({step.what}): {str(exc).strip()}") from None
