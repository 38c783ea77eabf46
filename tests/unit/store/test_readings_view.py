"""The readings view the web app reads: every statement an index range (the readings
key walked, never every reading sorted), and an older database's list entries given
their sites at open."""

from __future__ import annotations

import sqlite3

import pytest

from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.store import SqliteStore
from tests.unit.store.helpers import upload, visit

pytestmark = pytest.mark.sqlite_only("the web app's SQLite readings view (not on PostgreSQL yet)")

NOW = "2026-11-25T12:00:00+00:00"


def _fill(store: SqliteStore) -> None:
    store.add_meter_list(MeterList("L1", "L1", "HHU-001", None, "2026-12-01", "", tuple(
        MeterEntry(f"M{n}", f"Mill Lane {n}", "", "read", None, None, "")
        for n in range(5))), NOW)
    store.ingest(upload("U-1", [visit(f"M{n}", registers=[
        ["1.8.1", "1.0", "kWh", "2026-11-25T10:00:00+00:00"],
        ["1.8.2", "2.0", "kWh", "2026-11-25T10:00:00+00:00"]]) for n in range(5)]), NOW)


def _plans(store: SqliteStore, call) -> dict[str, list[str]]:
    """Each statement ``call`` ran on this thread's connection, with its query plan."""
    db = store._db()
    ran: list[str] = []
    db.set_trace_callback(ran.append)
    try:
        call()
    finally:
        db.set_trace_callback(None)
    return {sql: [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)] for sql in ran}


def test_every_readings_statement_is_an_index_range_without_a_sort_of_readings(tmp_path):
    store = SqliteStore(tmp_path / "d.db")
    _fill(store)
    calls = [lambda: store.find_meters(limit=3), lambda: store.find_meters(prefix="M", after="M1"),
             lambda: store.find_meters(site="mill"), lambda: store.find_meters(list_id="L1"),
             lambda: store.meter_registers("M1"), lambda: store.meter_places("M1"),
             lambda: store.register_readings("M1", "1.8.1", before=NOW),
             lambda: store.registers_readings("M1", [("1.8.1", 5), ("1.8.2", 5)]),
             lambda: store.meter_visits("M1")]
    for call in calls:
        for sql, plan in _plans(store, call).items():
            text = " / ".join(plan)
            if " readings" in sql:           # never every reading gathered and sorted
                assert "TEMP B-TREE" not in text, (sql, text)
            for step in plan:                # a scan only in index order, stopped at a LIMIT
                if step.startswith("SCAN"):
                    assert "LIMIT" in sql and (step == "SCAN readings" or "INDEX" in step), \
                        (sql, text)
    store.close()


def test_the_readings_view_answers_from_what_the_store_holds(tmp_path):
    store = SqliteStore(tmp_path / "d.db")
    _fill(store)
    assert [m.serial for m in store.find_meters(prefix="M", after="M1", limit=2)] == ["M2", "M3"]
    assert [m.serial for m in store.find_meters(site="MILL LANE 3")] == ["M3"]
    (m1,) = store.find_meters(prefix="M1")
    assert (m1.site, m1.readings, m1.latest) == ("Mill Lane 1", 2, "2026-11-25T10:00:00+00:00")
    assert [r.obis for r in store.meter_registers("M1")] == ["1.8.1", "1.8.2"]
    assert store.register_readings("M1", "1.8.1", before="2026-11-25T10:00:00+00:00") == []
    assert store.registers_readings("M1", [("1.8.2", 5), ("1.8.1", 1)]) == [
        store.register_readings("M1", "1.8.2"), store.register_readings("M1", "1.8.1")]
    assert [v.outcome for v in store.meter_visits("M1")] == ["done"]
    store.close()


def test_an_older_database_gets_its_list_entries_sites_at_open(tmp_path):
    path = tmp_path / "old.db"
    store = SqliteStore(path)
    _fill(store)
    store.close()
    db = sqlite3.connect(path)          # as a database made before the site column
    db.executescript("DROP INDEX list_entries_site; DROP INDEX list_entries_serial; "
                     "ALTER TABLE list_entries DROP COLUMN site;")
    db.close()
    store = SqliteStore(path)
    assert [(m.serial, m.site) for m in store.find_meters(site="mill lane 4")] == \
        [("M4", "Mill Lane 4")]
    assert [p.site for p in store.meter_places("M2")] == ["Mill Lane 2"]
    store.close()
