"""The readings view the web app reads, on both backends: the same answers from what the
store holds (serial and site searches, keyset pages, a meter's registers, readings and
visits); on SQLite every statement an index range (the readings key walked, never every
reading sorted), and an older database's list entries given their sites at open; on
PostgreSQL the same bounded plans (no sequential scan of readings or visits)."""

from __future__ import annotations

import sqlite3

import pytest

from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.store import SqliteStore
from tests.unit.store.helpers import upload, visit

NOW = "2026-11-25T12:00:00+00:00"


def _fill(store) -> None:
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


@pytest.mark.sqlite_only("SQLite's query plans")
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


def test_the_readings_view_answers_from_what_the_store_holds(store):
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


@pytest.mark.sqlite_only("SQLite's own upgrade at open")
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


def _more(store) -> None:
    """Meters with visits and no readings, readings of a meter on no list, a second and
    newer list placing M1 elsewhere, and sites that differ only in case."""
    store.add_meter_list(MeterList("L2", "L2", "HHU-001", None, "2026-12-02", "", (
        MeterEntry("M1", "MILL lane 1, rear", "", "read", None, None, ""),
        MeterEntry("Q9", "Quay Street", "", "read", None, None, ""))), LATER)
    store.ingest(upload("U-2", [visit("A0", outcome="not_found", registers=[]),
                                visit("Z7", registers=[
                                    ["1.8.0", "5.0", "kWh", "2026-11-25T09:00:00+00:00"]])]),
                 LATER)


LATER = "2026-11-26T12:00:00+00:00"


def test_every_meter_with_readings_or_visits_in_serial_order_page_by_page(store):
    _fill(store)
    _more(store)
    everyone = ["A0", "M0", "M1", "M2", "M3", "M4", "Z7"]
    assert [m.serial for m in store.find_meters(limit=50)] == everyone
    pages, after = [], None
    while True:
        page = store.find_meters(after=after, limit=3)
        if not page:
            break
        pages.append([m.serial for m in page])
        after = page[-1].serial
    assert pages == [everyone[:3], everyone[3:6], everyone[6:]]
    assert [m.serial for m in store.find_meters(prefix="M", after="M3")] == ["M4"]
    (a0,) = store.find_meters(prefix="A")
    assert (a0.readings, a0.latest, a0.site) == (0, None, "")


def test_a_site_is_found_by_its_prefix_whatever_the_case_and_a_meter_by_its_newest_list(store):
    _fill(store)
    _more(store)
    assert [m.serial for m in store.find_meters(site="mill LANE 1")] == ["M1"]
    assert [m.serial for m in store.find_meters(site="quay")] == ["Q9"]
    assert store.find_meters(site="Mill Lane 9") == []
    assert [m.serial for m in store.find_meters(list_id="L2")] == ["M1", "Q9"]
    assert [m.serial for m in store.find_meters(list_id="L1", after="M2", limit=2)] == \
        ["M3", "M4"]
    (m1,) = store.find_meters(prefix="M1")
    assert m1.site == "MILL lane 1, rear"          # the newest list says where it is
    assert [(p.list_id, p.site) for p in store.meter_places("M1")] == [
        ("L2", "MILL lane 1, rear"), ("L1", "Mill Lane 1")]


def test_a_limit_out_of_range_is_held_to_one_page(store):
    _fill(store)
    assert len(store.find_meters(limit=0)) == 1
    assert len(store.find_meters(limit=10**9)) == 5
    assert store.meter_visits("M1", limit=-5)[0].outcome == "done"


def test_on_postgresql_no_statement_scans_readings_or_visits(pg_url):
    """With the planner's sequential scans priced out, a statement that could only
    scan (no index fits) still shows a ``Seq Scan`` in its plan: none may."""
    import psycopg

    from hhu_sync.store import open_store
    from tests.unit.store.conftest import empty_pg

    empty_pg(pg_url)
    store = open_store(pg_url)
    _fill(store)
    _more(store)
    ran: list[tuple[str, tuple]] = []
    from hhu_sync.store import postgres

    real = postgres.PgConnection.execute

    def traced(self, sql, parameters=(), /):
        ran.append((sql, tuple(parameters)))
        return real(self, sql, parameters)

    postgres.PgConnection.execute = traced
    try:
        store.find_meters(limit=3)
        store.find_meters(prefix="M", after="M1")
        store.find_meters(site="mill")
        store.meter_places("M1")
        store.meter_registers("M1")
        store.meter_visits("M1")
    finally:
        postgres.PgConnection.execute = real
    with psycopg.connect(store.url, autocommit=True) as db:
        db.execute("SET enable_seqscan = off")
        for sql, args in ran:
            plan = "\n".join(row[0] for row in db.execute(
                "EXPLAIN " + postgres._pg(sql), args))
            for table in ("readings", "visits", "list_entries"):
                assert f"Seq Scan on {table}" not in plan, (sql, plan)
    store.close()
