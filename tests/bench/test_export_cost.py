"""An export's work grows with its rows, not with its rows times the visits held.

The enriched export looks up, per meter, the visits that programmed a scheme into it.
``visits`` has no index by meter, so one query per meter read the whole table once per
meter: 100,000 readings of 10,000 meters took 3.5 s instead of 0.1 s (bench/export.py).
The statements an export runs are counted here, not its time.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hhu_sync.export import ExportRow, cmep
from hhu_sync.export.cells import (
    escape_controls,
    is_plain_number,
    neutralise_formula,
    plain_csv_line,
    plain_csv_lines,
    safe_cell,
)
from hhu_sync.model.inputs import load_inputs
from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.store import SqliteStore
from tests.conftest import EXAMPLES
from tests.unit.store.helpers import upload, visit

NOW = "2026-11-25T12:00:00+00:00"


def statements_of_an_export(tmp_path, catalog, meters: int, **filters) -> tuple[int, list]:
    """Statements run while ``meters`` meters' readings are exported, and the rows."""
    store = SqliteStore(tmp_path / f"db-{meters}.sqlite")
    for n, scheme in enumerate(load_inputs([EXAMPLES], catalog).schemes.values()):
        store.accept_input(sha256=f"{n:064d}", name=f"{scheme.id}.toml", kind="scheme",
                           moved_to="", now=NOW, scheme=scheme)
    serials = [f"M{n:04d}" for n in range(meters)]
    store.add_meter_list(MeterList(
        id="L1", name="L1", hhu="HHU-001", crew=None, due="2026-12-01", notes="",
        meters=tuple(MeterEntry(s, "", "", "read", None, None, "") for s in serials)))
    programmed = {**visit(serials[0], obis="1.8.2", time="2026-11-24T10:00:00+00:00"),
                  "scheme": "a1140-day-night", "verify": "ok"}
    store.ingest(upload("U1", [programmed, *(visit(s) for s in serials)]), NOW)
    db = store._db()
    seen: list[str] = []
    db.set_trace_callback(seen.append)
    try:
        rows = list(store.readings(**filters))
    finally:
        db.set_trace_callback(None)
        store.close()
    return len(seen), rows


@pytest.mark.parametrize("filters", [{}, {"upload_id": "U1"}, {"since": NOW}],
                         ids=["all", "one-upload", "since"])
def test_an_export_runs_as_many_statements_for_forty_meters_as_for_four(tmp_path, catalog,
                                                                        filters):
    few, few_rows = statements_of_an_export(tmp_path, catalog, 4, **filters)
    many, many_rows = statements_of_an_export(tmp_path, catalog, 40, **filters)
    assert (len(few_rows), len(many_rows)) == (5, 41)
    assert many == few


def test_the_scheme_programmed_at_a_visit_is_still_found_for_the_later_readings(tmp_path,
                                                                                catalog):
    _, rows = statements_of_an_export(tmp_path, catalog, 4)
    by_key = {(r.meter, r.obis): r for r in rows}
    assert by_key[("M0000", "1.8.2")].scheme == ""          # read before the programming
    assert by_key[("M0000", "1.8.1")].scheme == "a1140-day-night"
    assert by_key[("M0001", "1.8.1")].scheme == ""


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=st.sampled_from(
    "0123456789.-+= @\t\r\n\\\x00\x0b\x0c\x1b\x7f\x85\u2028\uff1daZ'\"é"))))
def test_a_cell_s_quick_path_writes_what_neutralising_then_escaping_writes(text):
    assert safe_cell(text) == escape_controls(neutralise_formula(text))


def test_cmep_converts_each_time_once_and_writes_the_same_records(tmp_path, monkeypatch):
    rows = [ExportRow(f"M{m}", obis, "2026-11-25T10:00:00+01:00", "001.5", "kWh", "ok",
                      "H", "U1", "") for m in range(3) for obis in ("1.8.1", "1.8.2")]
    calls: list[str] = []
    real = cmep._both_times          # a time's CMEP minute and sortable UTC, one parse
    monkeypatch.setattr(cmep, "_both_times", lambda iso: calls.append(iso) or real(iso))
    when = datetime(2026, 12, 1, tzinfo=UTC)
    assert cmep.write_cmep(rows, tmp_path / "r.cmep", sender="D", now=when) == 6
    assert calls == ["2026-11-25T10:00:00+01:00"]
    lines = (tmp_path / "r.cmep").read_text().splitlines()
    assert lines[0] == ("MEPMD01,19970819,D,,,,202612010000,M0:1.8.1,OK,E,KWHREG,1,00000000,"
                        "1,202611250900,R0,1.5")
    assert len(lines) == 6


@settings(max_examples=60, deadline=None)
@given(meter=st.text(alphabet=st.sampled_from('M0129,"\'= '), min_size=1, max_size=700),
       count=st.integers(0, 130))
def test_cmep_records_keep_every_triplet_in_order_within_the_limits(tmp_path_factory, meter,
                                                                    count):
    # Short heads take the quick path (no head rendered), long ones the measured one.
    rows = [ExportRow(meter, "1.8.1", f"2026-11-{1 + n // 24:02d}T{n % 24:02d}:00:00+00:00",
                      f"{n}.5", "kWh", "ok", "H", "U1", "") for n in range(count)]
    path = tmp_path_factory.mktemp("cmep") / "r.cmep"
    cmep.write_cmep(rows, path, sender="D", now=datetime(2026, 12, 1, tzinfo=UTC))
    text = path.read_text()
    records = list(csv.reader(text.splitlines()))
    assert all(len(line) <= cmep.MAX_LINE for line in text.splitlines())
    assert all(int(r[13]) <= cmep.MAX_TRIPLETS and len(r) == 14 + 3 * int(r[13])
               for r in records)
    values = [v for r in records for v in r[16::3]]
    # A MeterID that needs quoting is left out (a comma-splitting reader would cut it).
    fits = (len(cmep.safe_cell(f"{meter}:1.8.1")) * 2 + 200 < cmep.MAX_LINE
            and not cmep._NEEDS_QUOTING.search(meter))
    if fits:
        assert values == [f"{n}.5" for n in range(count)]
    else:                                  # what is written is in order, and never split
        assert values == [f"{n}.5" for n in range(len(values))]


# Issue 13: the export worker's quick paths say what the slow ones say.
_NUMBERS = st.text(alphabet=st.sampled_from("0123456789.+-eE x"), max_size=12)


@settings(max_examples=800, deadline=None)
@given(st.one_of(_NUMBERS, st.text(max_size=8)))
def test_a_value_s_cmep_digits_at_one_match_are_cmep_value_s(value):
    expected = cmep.cmep_value(value) if is_plain_number(value) else None
    assert cmep._digits(value) == expected
    unsigned = cmep._UNSIGNED_NUMBER(value)
    if unsigned is not None:
        assert unsigned[1] == expected


_CELLS = st.one_of(st.sampled_from(["", "1.8.1", "ok", "2026-11-25T10:00:00+00:00", "M1",
                                    "-1", "=1", " x", "a,b", 'q"', "\\", "é", "\n", "@",
                                    "x" * 40_000, "001.5", "+5", "a-b"]),
                   st.text(max_size=6))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(_CELLS, min_size=0, max_size=4).map(tuple), max_size=6))
def test_a_batch_of_plain_lines_is_each_row_s_plain_line(rows):
    each = [plain_csv_line(cells) for cells in rows]
    batch = plain_csv_lines(rows)
    if rows and all(line is not None for line in each):
        assert batch == each
    else:
        assert batch is None


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=8), st.text(max_size=8))
def test_a_meter_id_of_plain_parts_is_what_safe_cell_keeps(meter, obis):
    kinds = cmep._id_part(meter, head=True), cmep._id_part(obis, head=False)
    meter_id = f"{meter}:{obis}"
    if kinds == (cmep._PLAIN, cmep._PLAIN):
        assert safe_cell(meter_id) == meter_id
    assert (cmep._QUOTED in kinds) == (cmep._NEEDS_QUOTING.search(meter_id) is not None)
