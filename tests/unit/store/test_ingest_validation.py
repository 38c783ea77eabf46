"""Nothing wrong reaches billing: every field of an upload is checked before it is ok.

A reading that fails a check is kept (exceptions table: kind = the finding code, the
field in the detail), never stored or exported as ``ok``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hhu_sync.export import write_csv
from hhu_sync.ingest import FindingCode, ReadingStatus, parse_upload
from hhu_sync.store import ListState
from tests.unit.store.helpers import RECEIVED, meter_list, sql, upload, visit

NOW = "2026-11-25T12:00:00+00:00"
T = "2026-11-25T10:00:00+00:00"


@pytest.fixture
def store(empty_store):
    s = empty_store
    s.add_meter_list(meter_list())
    return s


def exceptions(store):
    return sql(store, "SELECT kind, meter, obis, value, detail FROM exceptions "
                               "ORDER BY exception_id").fetchall()


def ok_readings(store):
    return [r for r in store.readings() if r[5] == ReadingStatus.OK]


def one(register: list, **kw) -> list[dict]:
    return [visit("M1", registers=[register], **kw)]


@pytest.mark.parametrize("register, field, code", [
    (["1.8.1", "NaN", "kWh", T], "value", FindingCode.BAD_VALUE),
    (["1.8.1", "nan", "kWh", T], "value", FindingCode.BAD_VALUE),
    (["1.8.1", "inf", "kWh", T], "value", FindingCode.BAD_VALUE),
    (["1.8.1", "-Infinity", "kWh", T], "value", FindingCode.BAD_VALUE),
    (["1.8.1", "1e5", "kWh", T], "value", FindingCode.BAD_VALUE),
    (["1.8.1", "1,5", "kWh", T], "value", FindingCode.BAD_VALUE),
    (["1.8.1", "", "kWh", T], "value", FindingCode.BAD_VALUE),
    (["1.8.1", "١٢٣", "kWh", T], "value", FindingCode.BAD_VALUE),       # non-ASCII digits
    (["1.8.1", "12\n34", "kWh", T], "value", FindingCode.BAD_VALUE),
    (["1.8.1", "=HYPERLINK(\"http://x\")", "kWh", T], "value", FindingCode.BAD_VALUE),
    (["1.8.1", "+1.0", "kWh", T], "value", FindingCode.BAD_VALUE),
    (["1.8.1", "-12.5", "kWh", T], "value", FindingCode.NEGATIVE_ENERGY),
    (["1.8.1", "1234567890123.0", "kWh", T], "value", FindingCode.TOO_MANY_DIGITS),
    (["1.8.1", "1.00001", "kWh", T], "value", FindingCode.TOO_MANY_DIGITS),
    (["F.F", "=1+1", "", T], "value", FindingCode.BAD_VALUE),
    (["1.8.1" * 1000, "1.0", "kWh", T], "obis", FindingCode.BAD_OBIS),
    (["=HYPERLINK(1)", "1.0", "kWh", T], "obis", FindingCode.BAD_OBIS),
    (["1.8.1.9", "1.0", "kWh", T], "obis", FindingCode.BAD_OBIS),
    (["1.8.1\n", "1.0", "kWh", T], "obis", FindingCode.BAD_OBIS),
    (["1.8.1", "1.0", "KWH", T], "unit", FindingCode.BAD_UNIT),        # case-exact
    (["1.8.1", "1.0", "parsecs", T], "unit", FindingCode.BAD_UNIT),
    (["1.8.1", "1.0", "kWh", ""], "time", FindingCode.BAD_TIME),
    (["1.8.1", "1.0", "kWh", "yesterday"], "time", FindingCode.BAD_TIME),
    (["1.8.1", "1.0", "kWh", "2026-11-25T10:00:00"], "time", FindingCode.NO_ZONE),
    (["1.8.1", "1.0", "kWh", "2026-11-25"], "time", FindingCode.NO_ZONE),
    (["1.8.1", "1.0", "kWh", "1970-01-01T00:00:00Z"], "time", FindingCode.TIME_TOO_EARLY),
    (["1.8.1", "1.0", "kWh", "2099-01-01T00:00:00Z"], "time", FindingCode.TIME_IN_FUTURE),
    (["1.8.1", "1.0", "kWh", "2026-11-25T10:00:00+23:00"], "time", FindingCode.BAD_TIME),
])
def test_a_reading_that_fails_a_check_is_kept_as_an_exception_never_ok(store, register,
                                                                        field, code):
    report = store.ingest(upload("U1", one(register)), NOW)
    assert report.readings_rejected == 1 and report.readings_stored == 0
    assert list(store.readings()) == []                 # so no export can carry it
    kind, meter, _obis, _value, detail = exceptions(store)[0]
    assert kind == code and meter == "M1"
    assert f"visits[0].registers[0].{field}:" in detail
    assert "\n" not in "".join(str(c) for c in exceptions(store)[0])


def test_a_valid_reading_is_ok(store):
    store.ingest(upload("U1", one(["1-0:1.8.1*255", "000123.4567", "kWh", T])), NOW)
    assert [r[:6] for r in store.readings()] == [("M1", "1.8.1", T, "000123.4567", "kWh", "ok")]


def test_one_instant_written_in_two_zones_is_one_reading_stored_once(store):
    first = one(["1.8.1", "100.0", "kWh", "2026-11-25T10:15:00Z"])
    second = one(["1.8.1", "100.0", "kWh", "2026-11-25T11:15:00+01:00"])
    store.ingest(upload("U1", first), NOW)
    report = store.ingest(upload("U2", second, hhu="HHU-002"), NOW)
    assert report.readings_stored == 0 and report.readings_already_held == 1
    assert [r[2] for r in store.readings()] == ["2026-11-25T10:15:00+00:00"]
    assert "duplicate" in [e[0] for e in exceptions(store)]


def test_one_instant_twice_in_one_upload_is_stored_once(store):
    regs = [["1.8.1", "100.0", "kWh", "2026-11-25T10:15:00Z"],
            ["1.8.1", "100.0", "kWh", "2026-11-25T05:15:00-05:00"],
            ["1-0:1.8.1", "100.0", "kWh", "2026-11-25T10:15:00+00:00"]]
    report = store.ingest(upload("U1", [visit("M1", registers=regs)]), NOW)
    assert report.readings_stored == 1 and report.readings_already_held == 2


def test_a_time_just_within_the_clock_tolerance_is_ok_beyond_it_is_not(store):
    near = (RECEIVED + timedelta(minutes=4)).isoformat()
    far = (RECEIVED + timedelta(minutes=40)).isoformat()
    store.ingest(upload("U1", [visit("M1", time=near, registers=[["1.8.1", "1.0", "kWh", near]]),
                               visit("M2", time=far, registers=[["1.8.1", "2.0", "kWh", far]])]),
                 NOW)
    assert [(r[0], r[5]) for r in store.readings()] == [("M1", "ok")]
    kinds = [e[0] for e in exceptions(store)]
    assert kinds.count(FindingCode.TIME_IN_FUTURE) == 2      # the visit and its reading


def test_the_receive_time_is_injected_not_read_from_the_clock():
    payload = {"visits": one(["1.8.1", "1.0", "kWh", "2030-01-01T00:00:00Z"],
                             time="2030-01-01T00:00:00Z")}
    early = parse_upload(payload, upload_id="U", hhu_id="H", sha256="", received_at=RECEIVED)
    late = parse_upload(payload, upload_id="U", hhu_id="H", sha256="",
                        received_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert early.readings[0][5] == "rejected" and late.readings[0][5] == "ok"


def test_a_visit_with_a_time_outside_the_window_leaves_its_readings_suspect(store):
    store.ingest(upload("U1", one(["1.8.1", "1.0", "kWh", T], time="2026-11-25T10:00:00")), NOW)
    assert [r[5] for r in store.readings()] == [ReadingStatus.SUSPECT]
    assert exceptions(store)[0][0] == FindingCode.NO_ZONE


def test_a_visit_before_its_list_was_issued_is_not_ok(empty_store):
    store = empty_store
    store.add_meter_list(meter_list(), now="2026-11-25T11:00:00+00:00")
    store.ingest(upload("U1", one(["1.8.1", "1.0", "kWh", T])), NOW)
    assert [r[5] for r in store.readings()] == [ReadingStatus.SUSPECT]
    assert exceptions(store)[0][0] == "before_list"
    store.close()


@pytest.mark.parametrize("list_id, status, kind", [("", "no_list", "not_on_list"),
                                                   ("L404", "unknown_list", "unknown_list")])
def test_readings_without_a_held_list_are_never_ok(store, list_id, status, kind):
    report = store.ingest(upload("U1", [visit("M1", list_id=list_id)]), NOW)
    assert report.readings_stored == 1 and ok_readings(store) == []
    assert [r[5] for r in store.readings()] == [status]
    assert [e[0] for e in exceptions(store)] == [kind]


def test_a_meter_not_on_the_list_is_not_exported_ok(store, tmp_path):
    up = upload("U1", [visit("M9")])
    store.ingest(up, NOW)
    assert ok_readings(store) == []
    rows = up.stored_rows("r")                       # what the per-upload export writes
    assert [r[5] for r in rows] == ["not_on_list"]
    write_csv(rows, tmp_path / "u.csv")
    assert ",ok," not in (tmp_path / "u.csv").read_text()


@pytest.mark.parametrize("meter", ["", "=HYPERLINK(1)", "M1\nforged", "M 1", "x" * 40])
def test_a_visit_with_an_impossible_meter_serial_is_rejected_whole(store, meter):
    report = store.ingest(upload("U1", [visit(meter)]), NOW)
    assert report.readings_rejected == 1 and list(store.readings()) == []
    assert all("\n" not in str(e) for e in exceptions(store))
    assert FindingCode.BAD_METER in [e[0] for e in exceptions(store)]


@pytest.mark.parametrize("notes, code", [("line one\nforged log line", "control_chars"),
                                         ("=HYPERLINK(\"http://x\")", "formula_text"),
                                         ("bell\x07", "control_chars")])
def test_notes_are_stored_as_written_but_flagged_and_escaped(store, notes, code):
    store.ingest(upload("U1", [visit("M1", notes=notes)]), NOW)
    held = sql(store, "SELECT notes FROM visits").fetchone()[0]
    assert held == notes                                     # nothing lost
    kind, *_rest, detail = exceptions(store)[0]
    assert kind == code and "\n" not in detail and "\x07" not in detail
    assert [r[5] for r in store.readings()] == ["ok"]        # a note does not void a reading


def test_a_requeued_list_read_in_full_settles_complete(store):
    store.ingest(upload("U1", [visit("M1"), visit("M2", outcome="no_access")]), NOW)
    assert store.list_state("L1") == ListState.PARTIAL
    store.requeue_list("L1", NOW)
    later = "2026-11-25T11:00:00+00:00"
    store.ingest(upload("U2", [visit("M1", time=later), visit("M2", time=later)]), NOW)
    assert store.list_state("L1") == ListState.COMPLETE


def test_settlement_follows_each_entrys_latest_visit(store):
    store.ingest(upload("U1", [visit("M1"), visit("M2")]), NOW)
    store.requeue_list("L1", NOW)
    later = "2026-11-25T11:00:00+00:00"
    store.ingest(upload("U2", [visit("M1", time=later),
                               visit("M2", time=later, outcome="no_access")]), NOW)
    assert store.list_state("L1") == ListState.PARTIAL


@pytest.mark.parametrize("register, problem", [
    (["F.F", "00000010", "", T], None),
    (["F.F", "0000001G", "", T], FindingCode.BAD_VALUE),           # not hex
    (["F.F", "1.5", "", T], FindingCode.BAD_VALUE),                # a decimal is no flags
    (["0.9.1", "10:00:00", "", T], None),
    (["0.9.1", "10:00:00", "kWh", T], FindingCode.BAD_VALUE),      # a clock with a unit
    (["0.9.2", "26-11-25", "", T], None),
    (["C.1.0", "MTR-1.a_b", "", T], None),
    (["C.1.0", "-MTR", "", T], FindingCode.BAD_VALUE),
    (["1-0:0.0.0*255", "A1", "", T], None),
    (["0.2.0", "-12.5", "", T], None),                             # signed: no energy
    (["0.2.0", "12345678901234", "", T], FindingCode.TOO_MANY_DIGITS),
    (["0.2.0", "1e3", "", T], FindingCode.BAD_VALUE),
])
def test_a_register_without_unit_takes_its_own_form(register, problem):
    """Flags, ids, the clock and date have a form of their own; other registers without
    unit are decimals (a sign allowed): the same rows and findings whichever the path."""
    other = ["1.8.1", "1.0", "kWh", T]
    got = upload("U1", [visit("M1", registers=[other, register, other])])
    codes = [f.code for f in got.findings]
    assert codes == ([] if problem is None else [problem])
    assert [f.index for f in got.findings] == ([] if problem is None else [1])
    status = "ok" if problem is None else "rejected"
    assert [r[5] for r in got.readings] == ["ok", status, "ok"]
    assert got.readings[1][:5] == ("M1", register[0].replace("1-0:", "").replace("*255", ""),
                                   T, register[1], register[2])


@pytest.mark.parametrize("fields, expected", [
    ({"notes": "gate a = gate b, + 2 dogs @ 5"}, []),              # within a text: fine
    ({"notes": "x " * 4000}, []),
    ({"notes": "x" * 10_001}, [("notes", FindingCode.TOO_LONG)]),
    ({"operator": "o" * 257}, [("operator", FindingCode.TOO_LONG)]),
    ({"error_flags": "-1"}, [("error_flags", FindingCode.FORMULA_TEXT)]),
    ({"scheme": "@S1"}, [("scheme", FindingCode.FORMULA_TEXT)]),
    ({"verify": "ok\u202e"}, [("verify", FindingCode.CONTROL_CHARS)]),
    ({"list": "L1", "operator": "+crew", "notes": "a\tb"},
     [("operator", FindingCode.FORMULA_TEXT), ("notes", FindingCode.CONTROL_CHARS)]),
    ({"notes": "=1", "operator": "=2"},
     [("operator", FindingCode.FORMULA_TEXT), ("notes", FindingCode.FORMULA_TEXT)]),
    ({"notes": "Zähler im Keller, Tür = grün"}, []),               # not ASCII
    ({"notes": "Zähler\u200bim Keller"}, [("notes", FindingCode.CONTROL_CHARS)]),
    ({"notes": "Zähler\x85"}, [("notes", FindingCode.CONTROL_CHARS)]),
    ({"operator": "Jörg", "notes": "@Zähler"}, [("notes", FindingCode.FORMULA_TEXT)]),
    ({"notes": "\x7f"}, [("notes", FindingCode.CONTROL_CHARS)]),
])
def test_each_visit_text_is_checked_on_its_own(fields, expected):
    """The texts of a visit are searched at once for what may be a finding; what is
    found, and where, is what checking each text alone finds."""
    got = upload("U1", [visit("M1"), {**visit("M2"), **fields}, {**visit("M3"), **fields}])
    found = [(f.seq, f.field, f.code) for f in got.findings]
    assert found == [(seq, f"visits[{seq}].{name}", code) for seq in (1, 2)
                     for name, code in expected]


def test_each_visit_notes_are_checked_beside_the_texts_visits_share():
    """A route's visits share their list, operator and flags but not their notes: the
    shared texts' findings come with every visit, whatever its notes, and the notes'
    own after them, for the visit that has them."""
    notes = ["gate left open", "", "=SUM(A1)", "x" * 10_001, "dog\x07", "Tür = grün",
             "ok again", "a" * 10_000]
    got = upload("U1", [{**visit(f"M{i}", notes=text), "operator": "+crew"}
                        for i, text in enumerate(notes)])
    found = [(f.seq, f.field, f.code) for f in got.findings]
    own = {2: FindingCode.FORMULA_TEXT, 3: FindingCode.TOO_LONG, 4: FindingCode.CONTROL_CHARS}
    assert found == [item for seq in range(len(notes)) for item in (
        [(seq, f"visits[{seq}].operator", FindingCode.FORMULA_TEXT)]
        + ([(seq, f"visits[{seq}].notes", own[seq])] if seq in own else []))]


def test_a_registers_own_times_are_checked_against_its_own_visits_read_time():
    """A demand's stamp or a billing reset comes before the register is read (within the
    visit span): the same reset, on a visit read before it, is a finding for that
    visit's register only; in UTC in the rows of the others."""
    reset, later = "2026-11-25T09:30:00+01:00", "2026-11-25T07:00:00+00:00"
    md = ["1.6.0", "0012.30", "kW", T, "2026-11-25T10:30:00+01:00", reset]
    early = {**visit("M2", time=later), "registers": [
        ["1.8.0*1", "000024.0", "kWh", later, reset, reset], ["1.8.0", "000030.0", "kWh", later]]}
    late_md = [*md[:4], "2026-11-25T11:30:01+00:00", ""]            # an hour and a second
    got = upload("U1", [visit("M1", registers=[md, ["1.8.0*1", "1.0", "kWh", T, reset, reset]]),
                        early, visit("M3", registers=[late_md, md])])
    assert [(f.seq, f.index, f.field, f.code) for f in got.findings] == [
        (1, 2, "visits[1].registers[0].value_time", FindingCode.TIME_OFF_VISIT),
        (1, 2, "visits[1].registers[0].reset_time", FindingCode.TIME_OFF_VISIT),
        (2, 4, "visits[2].registers[0].value_time", FindingCode.TIME_OFF_VISIT)]
    utc = "2026-11-25T08:30:00+00:00"
    assert [(r[1], r[5], r[8], r[9]) for r in got.readings] == [
        ("1.6.0", "ok", "2026-11-25T09:30:00+00:00", utc), ("1.8.0*1", "ok", utc, utc),
        ("1.8.0*1", "rejected", utc, utc), ("1.8.0", "ok", "", ""),
        ("1.6.0", "rejected", "2026-11-25T11:30:01+00:00", ""),
        ("1.6.0", "ok", "2026-11-25T09:30:00+00:00", utc)]
