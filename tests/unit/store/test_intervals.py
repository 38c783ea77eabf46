"""Issue 15 point 6: intervals and events from upload version 2 are stored once; a
re-read overlap with the same quantity is already held, another is a conflict exception
with both values kept; the unload report counts each."""

from __future__ import annotations

import sqlite3

import pytest

from hhu_sync.ingest import ExceptionKind, UploadError, parse_upload
from hhu_sync.profile.events import EventKind, MeterEvent
from hhu_sync.profile.series import Channel, ChannelSeries, Run
from hhu_sync.profile.wire import encode_event, encode_profile
from hhu_sync.store import SqliteStore
from tests.unit.store.helpers import RECEIVED, visit

T0 = 1_764_028_800      # 2025-11-25T00:00:00Z
STEP = 1800


def series(values, first=T0 + STEP, exponent=-3, code="1.8.0"):
    return ChannelSeries(Channel(code, "kWh"), STEP, exponent,
                         (Run(first, tuple(values), (0,) * len(values)),))


def v2(upload_id, profiles=(), events=(), meter="M1", version=2):
    v = visit(meter)
    v["profiles"] = [encode_profile(s) for s in profiles]
    v["events"] = [encode_event(e) for e in events]
    return parse_upload({"version": version, "visits": [v]}, upload_id=upload_id,
                        hhu_id="HHU-001", sha256=upload_id.ljust(64, "0"),
                        received_at=RECEIVED)


@pytest.fixture
def store(empty_store):
    s = empty_store
    return s


def test_intervals_and_events_of_a_visit_are_stored(store):
    power_down = MeterEvent(T0 + 100, EventKind.POWER_DOWN, 0x80)
    report = store.ingest(v2("U-1", [series([100, 120, None])], [power_down]), "now")
    assert (report.intervals_stored, report.events_stored) == (3, 1)
    held = store.intervals("M1", "1.8.0")
    assert [(h.interval_end, h.value, h.exponent) for h in held] == [
        (T0 + STEP, 100, -3), (T0 + 2 * STEP, 120, -3), (T0 + 3 * STEP, None, -3)]
    assert held[0].upload_id == "U-1" and held[0].visit_seq == 0
    assert [(e.kind, e.code) for e in store.meter_events("M1")] == [("power_down", 0x80)]
    assert store.last_interval_ends("M1") == {"1.8.0": T0 + 3 * STEP}


def test_the_same_upload_twice_stores_nothing_new(store):
    upload = v2("U-1", [series([100, 120])], [MeterEvent(T0, EventKind.POWER_UP)])
    store.ingest(upload, "now")
    again = store.ingest(v2("U-1", [series([100, 120])], [MeterEvent(T0, EventKind.POWER_UP)]),
                         "later")
    assert again.already_held and again.intervals_stored == 0
    assert (again.intervals_already_held, again.events_already_held) == (2, 1)
    assert len(store.intervals("M1")) == 2


def test_a_re_read_overlap_with_equal_values_is_already_held(store):
    store.ingest(v2("U-1", [series([100, 120, 130])]), "now")
    # the next read starts one interval back, and writes 0.120 kWh with five decimals
    report = store.ingest(v2("U-2", [series([12000, 13000, 9000], first=T0 + 2 * STEP,
                                            exponent=-5)]), "later")
    assert (report.intervals_stored, report.intervals_already_held,
            report.interval_conflicts) == (1, 2, 0)
    assert [h.value for h in store.intervals("M1")] == [100, 120, 130, 9000]


def test_a_different_value_is_a_conflict_with_both_values_kept(store):
    store.ingest(v2("U-1", [series([100, 120])]), "now")
    report = store.ingest(v2("U-2", [series([100, 125])]), "later")
    assert (report.intervals_stored, report.intervals_already_held,
            report.interval_conflicts) == (0, 1, 1)
    assert store.intervals("M1")[1].value == 120          # the held value stays
    (row,) = store._rows("SELECT kind, meter, obis, time, value, detail FROM exceptions "
                         "WHERE kind=?", (ExceptionKind.INTERVAL_CONFLICT.value,))
    assert row[:5] == (ExceptionKind.INTERVAL_CONFLICT.value, "M1", "1.8.0",
                       "2025-11-25T01:00:00+00:00", "0.125")   # the value brought
    assert "held as 0.120 kWh from upload U-1" in row[5]


def test_an_event_read_again_is_already_held(store):
    event = MeterEvent(T0, EventKind.CLOCK_SET, 0x20, (("0.9.1", "1235703"),))
    store.ingest(v2("U-1", events=[event]), "now")
    report = store.ingest(v2("U-2", events=[event, MeterEvent(T0 + 9, EventKind.POWER_UP)]),
                          "later")
    assert (report.events_stored, report.events_already_held) == (1, 1)
    assert store.meter_events("M1")[0].data == (("0.9.1", "1235703"),)


def test_a_version_1_upload_that_carries_profiles_is_refused_naming_the_field():
    with pytest.raises(UploadError, match=r"visits\[0\].profiles: only upload version 2"):
        v2("U-1", [series([1])], version=1)


@pytest.mark.sqlite_only("an older SQLite file upgraded at open")
def test_an_older_database_gains_the_tables_at_open(tmp_path):
    path = tmp_path / "old.sqlite"
    SqliteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE intervals")
        db.execute("DROP TABLE events")
    store = SqliteStore(path)
    try:
        assert store.ingest(v2("U-1", [series([1, 2])]), "now").intervals_stored == 2
    finally:
        store.close()


def test_an_upload_beyond_its_interval_bound_is_refused_naming_the_visit(monkeypatch):
    import hhu_sync.ingest.upload as upload_module
    monkeypatch.setattr(upload_module, "MAX_INTERVALS_PER_UPLOAD", 3)
    one, two = visit("M1"), visit("M2")
    one["profiles"] = [encode_profile(series([1, 2]))]
    two["profiles"] = [encode_profile(series([1, 2]))]
    with pytest.raises(UploadError, match=r"visits\[1\].profiles: the upload holds more "
                                          "than 3 intervals"):
        parse_upload({"version": 2, "visits": [one, two]}, upload_id="U-1",
                     hhu_id="HHU-001", sha256="0" * 64, received_at=RECEIVED)


def test_a_nul_in_a_visits_serial_list_scheme_or_channel_is_stored_on_either_backend(store):
    """PostgreSQL's text holds no NUL (held there as the replacement character, as in a
    visit's notes): an upload whose meter serial, list id, scheme id or profile channel
    and unit hold one is stored with its findings on either backend, not refused by the
    server at every docking while SQLite would take it."""
    v = visit("M\x001", list_id="L\x001")
    v["scheme"], v["ratios"] = "S\x00", {"ct": "400/5", "vt": "11000/110"}
    v["profiles"] = [encode_profile(ChannelSeries(Channel("1.8.0\x00", "kWh\x00"), STEP, -3,
                                                  (Run(T0 + STEP, (100, 120), (0, 0)),)))]
    report = store.ingest(parse_upload({"version": 2, "visits": [v]}, upload_id="U-1",
                                       hhu_id="HHU-001", sha256="1" * 64,
                                       received_at=RECEIVED), "now")
    assert (report.visits, report.intervals_stored) == (1, 2)
