"""Ingest: every reading stored once, nothing dropped, exceptions kept, lists settled."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from hhu_sync.ingest import UploadError, parse_upload
from hhu_sync.store import ListState, SqliteStore
from tests.unit.store.helpers import RECEIVED, meter_list, sql, upload, visit

NOW = "2026-11-25T12:00:00+00:00"


@pytest.fixture
def store(empty_store):
    s = empty_store
    s.add_meter_list(meter_list())
    return s


def exceptions(store, kind=None):
    rows = sql(store, "SELECT kind, meter, detail FROM exceptions").fetchall()
    return [r for r in rows if kind is None or r[0] == kind]


def test_an_upload_stores_its_readings(store):
    report = store.ingest(upload("U1", [visit("M1"), visit("M2", value="7.5")]), NOW)
    assert report.readings_stored == 2 and not report.already_held
    assert [r[:4] for r in store.readings()] == [
        ("M1", "1.8.1", "2026-11-25T10:00:00+00:00", "100.0"),
        ("M2", "1.8.1", "2026-11-25T10:00:00+00:00", "7.5")]


def test_the_same_upload_twice_is_stored_once(store):
    store.ingest(upload("U1", [visit("M1")]), NOW)
    again = store.ingest(upload("U1", [visit("M1")]), NOW)
    assert again.already_held and again.readings_stored == 0
    assert len(list(store.readings())) == 1


def test_a_reading_already_held_from_another_upload_is_kept_as_a_duplicate(store):
    store.ingest(upload("U1", [visit("M1")]), NOW)
    report = store.ingest(upload("U2", [visit("M1")], hhu="HHU-002"), NOW)
    assert report.readings_stored == 0 and report.readings_already_held == 1
    assert len(list(store.readings())) == 1
    assert [k for k, *_ in exceptions(store, "duplicate")] == ["duplicate"]


def test_a_different_value_for_the_same_reading_is_a_conflict_not_an_overwrite(store):
    store.ingest(upload("U1", [visit("M1", value="100.0")]), NOW)
    report = store.ingest(upload("U2", [visit("M1", value="999.9")]), NOW)
    assert report.conflicts == 1
    assert next(store.readings())[3] == "100.0"
    assert "held value 100.0" in exceptions(store, "conflict")[0][2]


def test_a_meter_not_on_the_list_is_stored_and_flagged(store):
    report = store.ingest(upload("U1", [visit("M9")]), NOW)
    assert report.not_on_list == 1 and report.readings_stored == 1
    assert exceptions(store, "not_on_list")[0][1] == "M9"


def test_a_second_reading_by_another_hhu_is_flagged(store):
    store.ingest(upload("U1", [visit("M1")]), NOW)
    report = store.ingest(upload("U2", [visit("M1", time="2026-11-25T11:00:00+00:00")],
                                 hhu="HHU-002"), NOW)
    assert report.already_read == 1 and report.readings_stored == 1
    assert "already read on list L1 by HHU-001" in exceptions(store, "already_read")[0][2]


def test_a_visit_for_an_unknown_list_is_flagged(store):
    store.ingest(upload("U1", [visit("M1", list_id="L404")]), NOW)
    assert exceptions(store, "unknown_list")


def test_a_list_with_every_meter_read_is_complete(store):
    store.ingest(upload("U1", [visit("M1"), visit("M2")]), NOW)
    assert store.list_state("L1") == ListState.COMPLETE


def test_a_list_with_a_failed_visit_is_partial_and_the_report_counts_it(store):
    report = store.ingest(upload("U1", [visit("M1"), visit("M2", outcome="no_access",
                                                              notes="gate locked")]), NOW)
    assert store.list_state("L1") == ListState.PARTIAL
    assert report.failed_visits == {"no_access": 1} and report.visits_with_notes == 1


def test_a_partial_list_completes_when_the_missing_meter_is_read_later(store):
    store.ingest(upload("U1", [visit("M1"), visit("M2", outcome="no_access")]), NOW)
    store.ingest(upload("U2", [visit("M2")]), NOW)
    assert store.list_state("L1") == ListState.COMPLETE


def test_a_duplicate_inside_one_upload_is_stored_once_and_flagged(store):
    report = store.ingest(upload("U1", [visit("M1"), visit("M1")]), NOW)
    assert report.readings_stored == 1 and report.readings_already_held == 1


@pytest.mark.parametrize("payload, message", [
    ({}, "visits: missing"),
    ({"visits": [{"meter": "M1", "outcome": "lost", "time": "t"}]}, "visits[0].outcome"),
    ({"visits": [{"meter": 5, "outcome": "done", "time": "t"}]}, "visits[0].meter"),
    ({"visits": [{"meter": "M", "outcome": "done", "time": "t", "registers": [{"obis": 1}]}]},
     "visits[0].registers[0]"),
    ({"visits": [{"meter": "M", "outcome": "done", "time": "t", "registers": [["1.8.1"]]}]},
     "visits[0].registers[0]: expected [obis, value, unit, time]"),
    ({"visits": [{"meter": "M", "outcome": "done", "time": "t",
                  "registers": [["1.8.1", 5, "kWh", "t"]]}]}, "reading 0 (meter 'M')"),
])
def test_a_malformed_upload_is_refused_naming_the_field(payload, message):
    with pytest.raises(UploadError, match=re.escape(message)):
        parse_upload(payload, upload_id="U", hhu_id="H", sha256="", received_at=RECEIVED)


def test_registers_in_the_map_form_are_accepted_too(store):
    v = visit("M1", registers=[{"obis": "1.8.1", "value": "1.0", "unit": "kWh",
                                "time": "2026-11-25T10:00:00Z"}])
    assert store.ingest(upload("U1", [v]), NOW).readings_stored == 1


@pytest.mark.parametrize("count", [1, 127, 128, 129, 300])
def test_a_large_upload_is_stored_row_for_row_whatever_its_length(store, count):
    # Rows go in many to a statement: every length, full statements and a tail alike.
    # (distinct instants within the hour of the visit: a reading is read on its visit)
    regs = [[f"1.8.{i % 9}", f"{i}.0", "kWh",
             f"2026-11-25T10:{i // 9:02d}:00+00:00"] for i in range(count)]
    received = datetime(2026, 12, 1, tzinfo=UTC)          # after the last of them
    report = store.ingest(upload("U1", [visit("M1", registers=regs)], received_at=received),
                          NOW)
    assert report.readings_stored == count
    assert sorted(r[3] for r in store.readings()) == sorted(f"{i}.0" for i in range(count))
    assert sql(store, "SELECT COUNT(*) FROM visits").fetchone()[0] == 1


@pytest.mark.sqlite_only("SQLite's busy timeout and writer lock")
def test_writers_in_threads_wait_for_each_other_without_failing(tmp_path):
    import threading

    store = SqliteStore(tmp_path / "db.sqlite", busy_timeout_s=0.001)
    store.add_meter_list(meter_list())
    errors: list[BaseException] = []

    def ingest(n: int) -> None:
        try:
            regs = [["1.8.1", f"{n}.{i}", "kWh", f"2026-11-25T{i % 24:02d}:{n:02d}:00+00:00"]
                    for i in range(200)]
            store.ingest(upload(f"U{n}", [visit("M1", registers=regs)]), NOW)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # SQLite's own busy time-out (1 ms here) is never what decides: our lock queues them.
    assert errors == []
    assert sql(store, "SELECT COUNT(*) FROM uploads").fetchone()[0] == 8
    store.close()
