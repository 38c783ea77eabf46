"""Upgrades an older SQLite database needs beyond added columns, done once at open.

The readings table was first made ``WITHOUT ROWID``: its rows held in the primary key's
own B-tree, in (meter, obis, time) order. Every upload then inserted its rows all over
that tree (a route's meters are in no serial order), splitting full pages of whole rows
and writing each touched page to the WAL again: with half a million readings held,
storing an upload of 3,400 cost about 15 us a reading, half of it in SQLite. As an
ordinary table the rows are appended in the order they come (an upload's rows side by
side, which the export of one upload reads) and only the key's index, of short entries,
takes the scattered inserts: a quarter to a third less a reading
(``docs/benchmarks.md``). The key stays the same constraint (a unique index), so
``INSERT OR IGNORE`` and every look-up by key behave as before.

The readings view (:mod:`hhu_sync.store.readings_statements`) finds meters by site and
a meter's lists through ``list_entries.site`` and two indexes on list entries
(:func:`add_list_entry_sites`): written only when a list is taken, never by the ingest.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time

log = logging.getLogger(__name__)

_WITHOUT_ROWID = re.compile(r"\)\s*WITHOUT\s+ROWID\s*$", re.IGNORECASE)
_TABLE_NAME = re.compile(r"^(CREATE\s+TABLE\s+)(?:IF\s+NOT\s+EXISTS\s+)?\"?readings\"?",
                         re.IGNORECASE)


def _definition(db: sqlite3.Connection) -> str | None:
    row = db.execute("SELECT sql FROM sqlite_master WHERE type='table' "
                     "AND name='readings'").fetchone()
    return row[0] if row else None


def readings_need_rowid(db: sqlite3.Connection) -> bool:
    """True while the readings table is still the first version's ``WITHOUT ROWID``."""
    sql = _definition(db)
    return sql is not None and _WITHOUT_ROWID.search(sql) is not None


def give_readings_a_rowid(db: sqlite3.Connection, path: object) -> bool:
    """Rebuild a ``WITHOUT ROWID`` readings table as an ordinary one, in one write
    transaction (a crash or an error leaves the old table as it was), keeping every
    column, row and index. True if it rebuilt; another process that got there first
    (checked again inside the transaction) leaves nothing to do. ``db`` is in
    autocommit mode (``isolation_level=None``), outside any transaction."""
    if not readings_need_rowid(db):
        return False
    started = time.monotonic()
    db.execute("BEGIN IMMEDIATE")
    try:
        sql = _definition(db)
        if sql is None or _WITHOUT_ROWID.search(sql) is None:
            db.execute("ROLLBACK")
            return False
        indexes = [s for (s,) in db.execute(
            "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name='readings' "
            "AND sql IS NOT NULL")]                     # the key's own index is made anew
        columns = ", ".join(f'"{row[1]}"' for row in db.execute("PRAGMA table_info(readings)"))
        new = _TABLE_NAME.sub(r"\1readings_rowid", _WITHOUT_ROWID.sub(")", sql), count=1)
        if not new.startswith(("CREATE TABLE readings_rowid", "create table readings_rowid")):
            raise sqlite3.DatabaseError(f"unexpected readings table definition: {sql[:80]!r}")
        db.execute(new)
        # an upload's rows side by side, as new uploads will be
        db.execute(f"INSERT INTO readings_rowid ({columns}) SELECT {columns} FROM readings "
                   "ORDER BY upload_id, visit_seq, meter, obis, time")
        moved = db.execute("SELECT changes()").fetchone()[0]
        db.execute("DROP TABLE readings")
        db.execute("ALTER TABLE readings_rowid RENAME TO readings")
        for index in indexes:
            db.execute(index)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    log.warning("storage: %s: readings table rebuilt with row ids (%d readings, %.1f s); "
                "done once", path, moved, time.monotonic() - started)
    return True


def add_list_entry_sites(db: sqlite3.Connection) -> None:
    """Give an older database ``list_entries.site`` (filled from each list's JSON, once)
    and the two indexes the readings search uses."""
    def missing() -> bool:
        return "site" not in {row[1] for row in db.execute("PRAGMA table_info(list_entries)")}

    if missing():
        db.execute("BEGIN IMMEDIATE")      # and again inside: another process may be here
        try:
            if missing():
                _fill_sites(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    # here, not in schema.sql: an older database has no site column until just now
    db.execute("CREATE INDEX IF NOT EXISTS list_entries_site ON list_entries (site, serial)")
    db.execute("CREATE INDEX IF NOT EXISTS list_entries_serial ON list_entries (serial)")


def _fill_sites(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE list_entries ADD COLUMN site TEXT NOT NULL DEFAULT '' "
               "COLLATE NOCASE")
    for list_id, data in db.execute("SELECT list_id, data FROM lists").fetchall():
        try:
            meters = json.loads(data)["meters"]
            sites = [(m["site"], list_id, m["serial"]) for m in meters if m["site"]]
        except (ValueError, KeyError, TypeError):
            continue          # a list this version cannot read keeps no sites
        db.executemany("UPDATE list_entries SET site=? WHERE list_id=? AND serial=?", sites)


#: the tables whose rows say which depot made them (schema version 3,
#: hhu_sync/store/depots.py), and the indexes the reads by depot use
DEPOT_TABLES = ("hhus", "uploads", "sessions", "audit")
DEPOT_INDEXES = (
    "CREATE INDEX IF NOT EXISTS sessions_depot ON sessions (depot, session_id)",
    "CREATE INDEX IF NOT EXISTS uploads_depot ON uploads (depot, received_at)",
)


def add_depot_columns(db: sqlite3.Connection) -> None:
    """The depot column (``''``, not recorded, in the rows there) on each table of
    :data:`DEPOT_TABLES` that lacks it, and the depot indexes: the upgrade from schema
    version 2, also run at every open (a database older than version 1 gets them on the
    way; on a current one it changes nothing). Inside the caller's transaction, if any."""
    for table in DEPOT_TABLES:
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if columns and "depot" not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN depot TEXT NOT NULL DEFAULT ''")
    for index in DEPOT_INDEXES:
        db.execute(index)
