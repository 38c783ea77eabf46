"""A database whose readings table is the first version's (WITHOUT ROWID) is rebuilt
once at open as an ordinary table: every row, column and index kept, the key still a
constraint, nothing done the second time, and an error half way leaves the old table."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing

import pytest

from hhu_sync.store import SqliteStore
from hhu_sync.store.sqlite_upgrades import give_readings_a_rowid, readings_need_rowid
from tests.unit.store.helpers import upload, visit

pytestmark = pytest.mark.sqlite_only("the SQLite readings table's rowid rebuild")

# The first version's readings table (schema.sql before the readings had row ids),
# without the columns added since (open adds them first).
FIRST_VERSION = """
CREATE TABLE readings (
    meter     TEXT NOT NULL,
    obis      TEXT NOT NULL,
    time      TEXT NOT NULL,
    value     TEXT NOT NULL,
    unit      TEXT NOT NULL,
    -- a comment, as schema.sql has them
    status    TEXT NOT NULL,
    hhu       TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    PRIMARY KEY (meter, obis, time)
) WITHOUT ROWID;
CREATE INDEX readings_upload ON readings (upload_id);
CREATE INDEX readings_by_status ON readings (status, meter);   -- one a user made
"""
ROWS = [(f"M{i:03d}", f"1.8.{i % 4}", "2026-11-25T10:00:00+00:00", f"{i}.5", "kWh", "ok",
         "HHU-001", f"U-{i % 3}") for i in range(300)]


def _old_database(path) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.executescript(FIRST_VERSION)
        db.executemany("INSERT INTO readings VALUES (?,?,?,?,?,?,?,?)", ROWS)


def _indexes(path) -> set[str]:
    with closing(sqlite3.connect(path)) as db:
        return {name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='readings'")}


def test_an_old_readings_table_gets_row_ids_at_open_keeping_every_row_and_index(
        tmp_path, caplog):
    path = tmp_path / "depot.db"
    _old_database(path)
    caplog.set_level(logging.WARNING, logger="hhu_sync.store")
    store = SqliteStore(path)
    try:
        with closing(sqlite3.connect(path)) as db:
            assert not readings_need_rowid(db)
            assert db.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == len(ROWS)
            held = set(db.execute("SELECT meter, obis, time, value, unit, status, hhu, "
                                  "upload_id FROM readings"))
            assert held == set(ROWS)
            columns = [r[1] for r in db.execute("PRAGMA table_info(readings)")]
            assert columns[-4:] == ["value_time", "reset_time", "visit_seq", "accepted_by"]
        assert {"readings_upload", "readings_by_status"} <= _indexes(path)
        assert [r.message for r in caplog.records if "rebuilt" in r.message]
        # the key is still the key: the same reading again is held, not stored twice
        store.ingest(upload("U-9", [visit("M001", obis="1.8.1", value="1.5",
                                          list_id="")]), "2026-11-25T12:00:00+00:00")
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("SELECT COUNT(*) FROM readings WHERE meter='M001'").fetchone() \
                == (1,)
            with pytest.raises(sqlite3.IntegrityError):
                db.execute("INSERT INTO readings (meter, obis, time, value, unit, status, "
                           "hhu, upload_id) VALUES (?,?,?,?,?,?,?,?)", ROWS[0])
    finally:
        store.close()
    caplog.clear()
    SqliteStore(path).close()                     # the second open: nothing to do
    assert not [r for r in caplog.records if "rebuilt" in r.message]


def test_a_new_database_has_an_ordinary_readings_table(tmp_path):
    SqliteStore(tmp_path / "depot.db").close()
    with closing(sqlite3.connect(tmp_path / "depot.db")) as db:
        assert not readings_need_rowid(db)


class _FailsAt:
    """A connection whose statement ``fail`` raises, as a full disk would."""

    def __init__(self, db: sqlite3.Connection, fail: str) -> None:
        self.db, self.fail = db, fail

    def execute(self, sql: str, *args):
        if sql.startswith(self.fail):
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction


@pytest.mark.parametrize("fail", ["INSERT INTO readings_rowid", "DROP TABLE readings",
                                  "CREATE INDEX readings_by_status"])
def test_an_error_half_way_leaves_the_old_table_as_it_was(tmp_path, fail):
    path = tmp_path / "depot.db"
    _old_database(path)
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        with pytest.raises(sqlite3.OperationalError):
            give_readings_a_rowid(_FailsAt(db, fail), path)   # type: ignore[arg-type]
        assert readings_need_rowid(db) and not db.in_transaction
        assert db.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == len(ROWS)
        assert "readings_rowid" not in {n for (n,) in db.execute(
            "SELECT name FROM sqlite_master")}
    assert {"readings_upload", "readings_by_status"} <= _indexes(path)
