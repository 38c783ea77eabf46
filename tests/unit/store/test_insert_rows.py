"""The committer's statements: many rows a statement, a bounded set of statement texts.

``_insert_rows`` must store exactly what ``executemany`` would, in order, for any number of
rows; the rest after its full statements goes in halves, so an upload of any length is
stored with statements already prepared (the sqlite3 module caches them by text).
"""

from __future__ import annotations

import sqlite3
from itertools import chain

import pytest

from hhu_sync.ingest.fields import escape
from hhu_sync.ingest.flatrows import FlatRows
from hhu_sync.safetext import escape_controls
from hhu_sync.store import SqliteStore
from hhu_sync.store.sqlite import ROWS_PER_STATEMENT, _insert_columns, _insert_rows
from tests.unit.store.helpers import meter_list, upload, visit

pytestmark = pytest.mark.sqlite_only("SQLite's multi-row INSERT statements")

COUNTS = (0, 1, 2, 63, 127, 128, 129, 255, 256, 300, 1000)


def rows_of(n: int) -> list[tuple]:
    return [(f"k{i:05d}", i, None if i % 3 else f"v{i}") for i in range(n)]


@pytest.fixture
def db():
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, v TEXT)")
    yield con
    con.close()


@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("n", COUNTS)
def test_every_row_is_stored_in_order_as_executemany_would(db, n, flat):
    rows = rows_of(n)
    given = FlatRows(list(chain.from_iterable(rows)), 3) if flat else rows
    _insert_rows(db, "INSERT INTO t (k, n, v) VALUES", 3, given)
    assert db.execute("SELECT k, n, v FROM t ORDER BY rowid").fetchall() == rows
    assert db.execute("SELECT COUNT(*) FROM t WHERE v IS NULL").fetchone()[0] == \
        sum(1 for r in rows if r[2] is None)


def shaped_rows(n: int, shape: str) -> list[tuple]:
    """Rows of (k, n, v, w, u): ``shape`` says which of v, w, u hold one value throughout
    (``1``), which vary (``v``) and which mix texts, None and numbers (``m``)."""
    def value(kind: str, i: int, one: object) -> object:
        if kind == "1":
            return one
        if kind == "v":
            return f"t{i}"
        return (None, "x", 3, "3", 3.5)[i % 5]
    return [(f"k{i:05d}", i, value(shape[0], i, "ok"), value(shape[1], i, None),
             value(shape[2], i, "")) for i in range(n)]


@pytest.mark.parametrize("shape", ["111", "vvv", "1v1", "v1m", "mmm", "11m"])
@pytest.mark.parametrize("n", COUNTS)
def test_columns_store_exactly_the_rows_executemany_would(n, shape):
    rows = shaped_rows(n, shape)
    stored = []
    for insert in ("executemany", "columns"):
        con = sqlite3.connect(":memory:", isolation_level=None)
        con.execute("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, v TEXT, w, u TEXT)")
        if insert == "executemany":
            con.executemany("INSERT INTO t (k, n, v, w, u) VALUES (?,?,?,?,?)", rows)
        else:
            _insert_columns(con, "INSERT INTO t (k, n, v, w, u) VALUES",
                            list(zip(*rows, strict=True)) if rows else [], n)
        stored.append(con.execute("SELECT rowid, k, n, v, typeof(v), w, typeof(w), u, "
                                  "typeof(u) FROM t ORDER BY rowid").fetchall())
        con.close()
    assert stored[0] == stored[1]
    assert len(stored[1]) == n


def test_a_column_of_one_value_is_bound_once_a_statement():
    """Every row the same value of a column: one parameter for it in a statement; its
    rows are still each their own (OR IGNORE of a key twice as executemany does)."""
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute("CREATE TABLE t (k TEXT, v TEXT)")
    rec = Recorder(con)
    rows = [(f"k{i}", "same") for i in range(ROWS_PER_STATEMENT)]
    _insert_columns(rec, "INSERT INTO t (k, v) VALUES", list(zip(*rows, strict=True)), len(rows))  # type: ignore[arg-type]
    assert len(rec.executed) == 1
    assert rec.executed[0].count(f"?{ROWS_PER_STATEMENT + 1})") == ROWS_PER_STATEMENT
    assert con.execute("SELECT k, v FROM t ORDER BY rowid").fetchall() == rows
    con.execute("CREATE TABLE u (k TEXT PRIMARY KEY, v TEXT)")
    _insert_columns(con, "INSERT OR IGNORE INTO u (k, v) VALUES", [("a",) * 3, ("b",) * 3], 3)
    assert con.execute("SELECT k, v FROM u").fetchall() == [("a", "b")]


class Recorder:
    """A connection whose statements are written down as they are given (unexpanded)."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con, self.executed = con, []

    def execute(self, sql: str, params=()):
        self.executed.append(sql)
        return self.con.execute(sql, params)


def test_uploads_of_any_length_use_a_handful_of_statement_texts(db):
    rec = Recorder(db)
    for n in range(1, 2 * ROWS_PER_STATEMENT + 2):
        db.execute("DELETE FROM t")
        _insert_rows(rec, "INSERT INTO t (k, n, v) VALUES", 3, rows_of(n))  # type: ignore[arg-type]
        assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == n
    # full statements and their halves: one text a power of two up to ROWS_PER_STATEMENT
    assert len(set(rec.executed)) == ROWS_PER_STATEMENT.bit_length()
    # after the full statements, at most one statement of each smaller size
    db.execute("DELETE FROM t")
    rec.executed.clear()
    _insert_rows(rec, "INSERT INTO t (k, n, v) VALUES", 3,  # type: ignore[arg-type]
                 rows_of(3 * ROWS_PER_STATEMENT - 1))
    assert len(rec.executed) == 2 + ROWS_PER_STATEMENT.bit_length() - 1


def test_no_value_is_stored_as_null(tmp_path):
    """None parameters (a visit's scheme, an exception's obis) stay NULL, not text."""
    store = SqliteStore(tmp_path / "db.sqlite")
    try:
        store.ingest(upload("U1", [visit("M1", list_id="")]), "2026-11-25T12:00:00+00:00")
        visits = store._rows("SELECT typeof(scheme), typeof(verify), typeof(ratios) FROM visits")
        found = store._rows("SELECT typeof(obis), typeof(value) FROM exceptions")
    finally:
        store.close()
    assert visits == [("null", "null", "null")]
    assert found == [("null", "null")]


@pytest.mark.parametrize("text", [
    *map(chr, range(128)), "M-0001", "2026-11-25T10:00:00+00:00", "a\\b", "x" * 64, "x" * 65,
    "caf\u00e9", "HHU-\u200b001", "line\u2028break", "\x85", "a\tb", ""])
def test_escape_keeps_what_needs_no_escape_and_escapes_the_rest_as_before(text):
    cut = len(text) > 64
    assert escape(text) == escape_controls(text[:64]) + ("…" if cut else "")


def test_an_upload_sent_again_under_another_id_is_all_duplicates_and_conflicts(tmp_path):
    """More readings than one look-up statement holds: each is found held, each changed
    value is a conflict (the held one no longer billable), a key twice in the upload too."""
    n = ROWS_PER_STATEMENT + 70
    first = [visit(f"M{i:04d}", value=f"{i}.0") for i in range(n)]
    again = [visit(f"M{i:04d}", value=f"{i}.0" if i % 5 else f"{i}.5") for i in range(n)]
    again.append(visit("M0001", value="9.9"))                   # a key twice in the upload
    store = SqliteStore(tmp_path / "db.sqlite")
    try:
        store.add_meter_list(meter_list("L1", serials=[f"M{i:04d}" for i in range(n)]),
                             now="2026-11-01T00:00:00+00:00")
        store.ingest(upload("U1", first), "2026-11-25T12:00:00+00:00")
        report = store.ingest(upload("U2", again), "2026-11-25T12:00:00+00:00")
        statuses = dict(store._rows("SELECT meter, status FROM readings"))
        kinds = store._rows("SELECT kind, COUNT(*) FROM exceptions WHERE upload_id = 'U2' "
                            "GROUP BY kind ORDER BY kind")
    finally:
        store.close()
    conflicts = len(range(0, n, 5)) + 1
    assert (report.readings_stored, report.conflicts) == (0, conflicts)
    assert report.readings_already_held == n - conflicts + 1
    assert kinds == [("conflict", conflicts), ("duplicate", n - conflicts + 1)]
    assert {m for m, st in statuses.items() if st == "conflict"} == \
        {f"M{i:04d}" for i in range(0, n, 5)} | {"M0001"}
    assert len(statuses) == n
