"""An upload as a check worker sends it to the committer: readings as one flat list.

The committer stores what it unpickles; it must store, find and report exactly what it
would have for the upload as parsed, whatever the rows hold (duplicates, rejections,
statuses a list changes).
"""

from __future__ import annotations

import gc
import pickle

import pytest

from hhu_sync.ingest import Upload
from hhu_sync.ingest.flatrows import FlatRows
from hhu_sync.ingest.upload import Visit
from tests.unit.store.helpers import meter_list, upload, visit

NOW = "2026-11-25T12:00:00+00:00"


def sent(up):
    """The upload as the committer receives it from a check worker."""
    return pickle.loads(pickle.dumps(up, pickle.HIGHEST_PROTOCOL))


def test_the_readings_arrive_flat_and_read_as_the_rows_parsed():
    up = upload("U1", [visit("M1", registers=[["1.8.1", "1.0", "kWh", "2026-11-25T10:00:00Z"],
                                              ["1.8.2", "2.0", "kWh", "2026-11-25T10:00:00Z"]]),
                       visit("M2")])
    got = sent(up)
    assert isinstance(got.readings, FlatRows)
    assert got.readings == up.readings and list(got.readings) == up.readings
    assert got.readings[1] == up.readings[1] and got.readings[-1] == up.readings[-1]
    assert got.readings[1:3] == up.readings[1:3] and len(got.readings) == 3
    assert got.visits == up.visits and type(got.visits[0]) is type(up.visits[0])
    assert got == up


def test_flat_rows_refuse_values_that_are_no_whole_rows():
    with pytest.raises(ValueError):
        FlatRows(["a", "b", "c"], 2)
    with pytest.raises(IndexError):
        FlatRows(["a", "b"], 2)[1]


@pytest.mark.parametrize("flat", [False, True])
def test_a_sent_upload_is_stored_as_the_parsed_one(empty_store, flat):
    store = empty_store
    try:
        store.add_meter_list(meter_list("L1", serials=("M1", "M2")), now="2026-11-01T00:00:00Z")
        store.ingest(upload("U0", [visit("M1", value="5.0")]), NOW)
        visits = [visit("M1", value="5.0"),                        # duplicate
                  visit("M2", value="7.0", obis="1.8.2"),
                  visit("M3"),                                     # not on the list
                  visit("M2", obis="bad obis"),                    # rejected: exception
                  visit("M1", obis="1.8.3", list_id="")]           # no list
        up = upload("U1", visits)
        report = store.ingest(sent(up) if flat else up, NOW)
        rows = store._rows("SELECT meter, obis, status FROM readings ORDER BY 1, 2")
        kinds = store._rows("SELECT kind FROM exceptions ORDER BY 1")
    finally:
        store.close()
    assert (report.readings_stored, report.readings_already_held, report.readings_rejected,
            report.readings_not_billable, report.not_on_list) == (3, 1, 1, 2, 2)
    assert rows == [("M1", "1.8.1", "ok"), ("M1", "1.8.3", "no_list"),
                    ("M2", "1.8.2", "ok"), ("M3", "1.8.1", "not_on_list")]
    assert kinds == [("bad_obis",), ("duplicate",), ("not_on_list",), ("not_on_list",)]


@pytest.mark.parametrize("flat", [
    [],                                                        # no rows
    ["a", None, 1],                                            # one row
    ["a", None, 1, "a", None, True, "a", None, 1.0],           # equal, not alike: kept
    ["a", "x", 2, "b", "x", 3],                                # a column of one text
    ["a", "x", None, "a", 5, None, "a", "", None],             # text first, then not
    ["", "x\x1f", b"x", "", "x\x1f", b"x"],                    # any text, bytes
])
def test_flat_rows_arrive_as_they_were_sent_value_for_value(flat):
    width = 3
    got = pickle.loads(pickle.dumps(FlatRows(list(flat), width), pickle.HIGHEST_PROTOCOL))
    assert type(got) is FlatRows and got.width == width
    assert got.flat == flat and list(map(type, got.flat)) == list(map(type, flat))


def test_a_column_of_one_text_is_pickled_once():
    hhu = "".join                                  # a text object a row, as msgpack gives
    rows = FlatRows([v for i in range(500) for v in ("M1", hhu(["HHU-", "7"]), f"{i}.5")], 3)
    assert pickle.dumps(rows).count(b"HHU-7") == 1
    assert pickle.loads(pickle.dumps(rows)) == rows


def test_visits_arrive_as_visits_whatever_their_fields():
    up = upload("U1", [visit("M1"), visit("M2", list_id=""), visit("M3", value="2.0")])
    got = sent(up)
    assert got.visits == up.visits and all(type(v) is type(up.visits[0]) for v in got.visits)
    assert [v.rows for v in got.visits] == [v.rows for v in up.visits]
    empty = sent(upload("U2", []))
    assert empty.visits == [] and len(empty.readings) == 0


def _visit_row(seq: int, **fields) -> Visit:
    base = dict(seq=seq, meter=f"M{seq}", list_id="L1", time="2026-11-25T10:00:00+00:00",
                outcome="done", scheme=None, verify=None, error_flags="00000000",
                operator="crew", notes="", rows=range(seq, seq + 1))
    return Visit(**{**base, **fields})


@pytest.mark.parametrize("visits", [
    [_visit_row(0)],                                                  # one visit
    [_visit_row(i) for i in range(5)],                                # fields alike
    [_visit_row(0), _visit_row(1, scheme="S1", verify="ok"), _visit_row(2, time_ok=False)],
    [_visit_row(0, rows=range(0)), _visit_row(1, rows=range(0, 4)),   # ranges of any kind
     _visit_row(2, rows=range(4, 10, 2))],
    [_visit_row(0, ratios='{"ct": "400/5", "vt": "1/1"}', clock_offset_s=3),
     _visit_row(1, meter_ok=False, clock_offset_s=None, notes="x" * 300)],
    [_visit_row(0, rows=[0, 1]), _visit_row(1, rows=range(2, 3))],    # not a range: kept
])
def test_visits_arrive_field_for_field_as_they_were_sent(visits):
    """By column (a field of one value goes once, the ranges as their bounds): the
    same visits, each field of the same type (a flag stays a flag, a range a range)."""
    up = Upload(upload_id="U1", hhu_id="HHU-001", sha256="0" * 64, visits=visits)
    got = sent(up)
    assert got.visits == visits
    for a, b in zip(got.visits, visits, strict=True):
        assert type(a) is Visit and list(map(type, a)) == list(map(type, b))


def test_a_field_of_one_value_in_every_visit_is_pickled_once():
    visits = [_visit_row(i, operator="".join(["crew-", "7"])) for i in range(200)]
    up = Upload(upload_id="U1", hhu_id="HHU-001", sha256="0" * 64, visits=visits)
    assert pickle.dumps(up, pickle.HIGHEST_PROTOCOL).count(b"crew-7") == 1


@pytest.mark.parametrize("enabled", [True, False])
def test_an_upload_is_unpickled_with_the_collector_paused_and_left_as_it_was(enabled):
    """The daemon's thread that takes the check workers' results makes thousands of
    containers an upload: no collection walks them meanwhile (each allocation would
    start one here), and the collector is afterwards as it was."""
    up = upload("U1", [visit(f"M{i}") for i in range(300)])
    blob = pickle.dumps(up, pickle.HIGHEST_PROTOCOL)
    started: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            started.append(info["generation"])

    thresholds = gc.get_threshold()
    was_enabled = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    gc.callbacks.append(count)
    gc.set_threshold(1)
    try:
        got = pickle.loads(blob)
        state_after = gc.isenabled()
    finally:
        gc.set_threshold(*thresholds)
        gc.callbacks.remove(count)
        (gc.enable if was_enabled else gc.disable)()
    assert len(started) <= 2, started
    assert state_after is enabled
    assert got == up and got.visits == up.visits
