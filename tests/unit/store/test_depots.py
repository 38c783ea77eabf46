"""Depots sharing one store: each daemon opens it with its own ``[depot] id``, and every
session, upload, HHU sighting and audit entry it writes names that depot. Two stores on
one database (two depots' daemons) are told apart by it; a status narrowed to one depot
shows its HHUs, sessions and uploads alone; the shared parts (lists, queue, exceptions)
stay whole. On both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hhu_sync.store import open_store
from hhu_sync.store.accounts import Change
from hhu_sync.store.depots import DEFAULT_DEPOT, DepotSummary
from tests.unit.store.helpers import meter_list, sql, upload, visit

NOW = "2026-11-25T12:00:00+00:00"
LATER = "2026-11-25T13:00:00+00:00"


@pytest.fixture
def depots(store_url) -> Iterator[tuple]:
    """North's and south's daemons on one database (one SQLite file, one PostgreSQL
    database)."""
    north, south = open_store(store_url, depot="north"), open_store(store_url, depot="south")
    yield north, south
    north.close()
    south.close()


def _dock(store, hhu: str, dock: str, now: str = NOW) -> int:
    store.touch_hhu(hhu, dock=dock, firmware="2.1", battery=80, free_flash=None, now=now)
    return store.start_session(dock, now, hhu_id=hhu)


def test_a_store_opened_without_a_depot_writes_the_configurations_default(store):
    assert store.depot == DEFAULT_DEPOT
    _dock(store, "HHU-001", "cradle-1")
    store.ingest(upload("U-1", [visit("M1")]), NOW)
    store.record_audit(Change("ada", "test.change", "x"), NOW)
    for table in ("sessions", "uploads", "hhus", "audit"):
        assert sql(store, f"SELECT depot FROM {table}").fetchall() == [(DEFAULT_DEPOT,)]


def test_two_depots_on_one_store_tell_their_sessions_uploads_and_audit_apart(depots):
    north, south = depots
    north.add_meter_list(meter_list("L1", ("M1", "M2", "M3"), hhu=None, crew="c"), NOW)
    n1 = _dock(north, "HHU-N", "cradle-1")
    s1 = _dock(south, "HHU-S", "cradle-1")             # the same dock name, another depot
    north.ingest(upload("U-N", [visit("M1"), visit("M2")], hhu="HHU-N"), NOW)
    south.ingest(upload("U-S", [visit("M3")], hhu="HHU-S"), LATER)
    north.end_session(n1, hhu_id="HHU-N", outcome="done", pushed=0, pulled=1, report={},
                      now=NOW)
    south.record_audit(Change("sam", "list.requeue", "L1"), LATER)
    # either store reads every depot's records, each naming its depot
    for reader in depots:
        assert [(s.session_id, s.depot, s.hhu_id) for s in reader.sessions()] == [
            (s1, "south", "HHU-S"), (n1, "north", "HHU-N")]
        assert [(s.session_id, s.outcome) for s in reader.sessions(depot="north")] == [
            (n1, "done")]
        assert reader.depots() == [DepotSummary("north", 1, 1, 1, NOW),
                                   DepotSummary("south", 1, 1, 1, LATER)]
        assert [(e.depot, e.user) for e in reader.audit_log()] == [("south", "sam")]
    assert sql(north, "SELECT upload_id, depot FROM uploads ORDER BY upload_id"
               ).fetchall() == [("U-N", "north"), ("U-S", "south")]
    assert north.sessions(depot="east") == []


def test_an_hhu_is_the_depot_that_saw_it_last(depots):
    north, south = depots
    _dock(north, "HHU-1", "cradle-1")
    assert [h["depot"] for h in south.status()["hhus"]] == ["north"]
    _dock(south, "HHU-1", "bay-4", LATER)                # taken to the other depot
    (hhu,) = north.status()["hhus"]
    assert (hhu["depot"], hhu["dock"]) == ("south", "bay-4")
    assert [h["hhu_id"] for h in north.hhus_page(depot="south").rows] == ["HHU-1"]
    assert north.hhus_page(depot="north").rows == []


def test_a_status_of_one_depot_has_its_hhus_sessions_and_uploads_and_the_shared_rest(
        depots):
    north, south = depots
    north.add_meter_list(meter_list("L1", ("M1", "M2", "M3")), NOW)
    _dock(north, "HHU-N", "cradle-1")
    _dock(south, "HHU-S", "cradle-9")
    north.ingest(upload("U-N", [visit("M1"), visit("M2")], hhu="HHU-N"), NOW)
    south.ingest(upload("U-S", [visit("M3")], hhu="HHU-S"), NOW)
    every = north.status()
    assert every["depot"] is None
    assert [d["depot"] for d in every["depots"]] == ["north", "south"]
    assert (every["uploads"], every["readings"]) == (2, 3)
    assert {s["depot"] for s in every["sessions"]} == {"north", "south"}
    one = north.status(depot="south")
    assert one["depot"] == "south" and one["depots"] == every["depots"]
    assert [h["hhu_id"] for h in one["hhus"]] == ["HHU-S"]
    assert [(s["depot"], s["dock"]) for s in one["sessions"]] == [("south", "cradle-9")]
    assert (one["uploads"], one["readings"]) == (1, 1)      # its upload and what it stored
    assert one["lists"] == every["lists"]                   # the store's, whichever depot
    assert set(one) == set(every)                           # the same keys, narrowed


def test_sessions_come_newest_first_a_page_at_a_time(depots):
    north, south = depots
    ids = [_dock(north if n % 2 else south, f"HHU-{n}", f"cradle-{n}") for n in range(5)]
    first = north.sessions(depot="south", limit=2)
    assert [s.session_id for s in first] == [ids[4], ids[2]]
    rest = north.sessions(depot="south", limit=2, before_id=first[-1].session_id)
    assert [s.session_id for s in rest] == [ids[0]]
