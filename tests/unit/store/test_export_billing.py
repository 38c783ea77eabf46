"""Issue 12, points 12 and 18: what the store exports, and with which status.

A reading is exported ``ok`` only when its visit names a held list with the meter on it
and the meter reported no error flag; beside it go the site, the list id, the rate name
of the scheme in force, the CT/VT multiplier and the primary value, and the value's own
time (maximum demand, billing reset).
"""

from __future__ import annotations

import csv
import re
import sqlite3
from datetime import UTC, datetime

import pytest

from hhu_sync.export import write_csv
from hhu_sync.ingest import UploadError
from hhu_sync.model.inputs import load_inputs
from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.store import SqliteStore
from hhu_sync.store.sqlite import read_export_rows
from tests.conftest import EXAMPLES
from tests.unit.store.helpers import sql, upload, visit

NOW = "2026-11-25T12:00:00+00:00"
T1 = "2026-11-25T10:00:00+00:00"
NEXT_DAY = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)   # received after a next-day visit


def entry(serial: str, site: str = "", scheme: str | None = None,
          task: str = "read") -> MeterEntry:
    return MeterEntry(serial, site, "", task, scheme, None, "")


def a_list(*entries: MeterEntry, list_id: str = "L1") -> MeterList:
    return MeterList(id=list_id, name=list_id, hhu="HHU-001", crew=None, due="2026-12-01",
                     notes="", meters=entries)


@pytest.fixture
def store(empty_store, catalog):
    s = empty_store
    for n, scheme in enumerate(load_inputs([EXAMPLES], catalog).schemes.values()):
        s.accept_input(sha256=f"{n:064d}", name=f"{scheme.id}.toml", kind="scheme",
                       moved_to="", now=NOW, scheme=scheme)
    return s


def rows_by(store, key=lambda r: (r.meter, r.obis)):
    return {key(r): r for r in store.readings()}


def regs(*items):
    return [[obis, value, unit, T1, *extra] for obis, value, unit, *extra in items]


def test_site_list_rate_names_and_the_multiplier_go_beside_each_reading(store):
    store.add_meter_list(a_list(entry("M1", "Acme Foundry", "a1700-ci-tou-2026")))
    store.ingest(upload("U1", [visit("M1", registers=regs(
        ("1.8.0", "001000.0", "kWh"), ("1.8.1", "000600.5", "kWh"),
        ("1.8.2", "000399.5", "kWh"), ("F.F", "00000000", "")))]), NOW)
    rows = rows_by(store)
    day = rows["M1", "1.8.1"]
    assert (day.site, day.list_id, day.rate, day.scheme) == (
        "Acme Foundry", "L1", "Day", "a1700-ci-tou-2026")
    # 400/5 A and 11000/110 V: the meter counts secondary values, a clerk bills 8000 x.
    assert (day.multiplier, day.value_basis, day.value_primary) == (
        "8000", "secondary", "4804000.0")
    assert rows["M1", "1.8.2"].rate == "Peak" and rows["M1", "1.8.0"].rate == ""
    assert (rows["M1", "F.F"].multiplier, rows["M1", "F.F"].value_primary) == ("", "")
    assert day.status == "ok"


def test_a_whole_current_meter_reads_primary_and_an_unknown_scheme_says_unknown(store):
    store.add_meter_list(a_list(entry("M1", scheme="as230-flat"), entry("M2")))
    store.ingest(upload("U1", [visit("M1", value="000012.5"), visit("M2")]), NOW)
    rows = rows_by(store, key=lambda r: r.meter)
    assert (rows["M1"].multiplier, rows["M1"].value_basis, rows["M1"].value_primary) == (
        "1", "primary", "12.5")
    assert (rows["M2"].multiplier, rows["M2"].value_basis, rows["M2"].value_primary) == (
        "", "unknown", "")


def test_the_scheme_in_force_is_the_last_one_programmed_before_the_reading(store):
    store.add_meter_list(a_list(entry("M1")))
    first = {**visit("M1", obis="1.8.2"), "scheme": "a1140-day-night", "verify": "ok"}
    later = visit("M1", obis="1.8.2", time="2026-11-26T10:00:00+00:00")
    store.ingest(upload("U1", [first]), NOW)
    store.ingest(upload("U2", [later], received_at=NEXT_DAY), NOW)
    rows = rows_by(store, key=lambda r: r.upload_id)
    assert rows["U1"].scheme == ""       # read before the programming: tariff unknown
    assert (rows["U2"].scheme, rows["U2"].rate) == ("a1140-day-night", "Night")


@pytest.mark.parametrize("where, status", [
    (dict(meter="M9"), "not_on_list"),
    (dict(list_id=""), "no_list"),
    (dict(list_id="L404"), "unknown_list"),
    (dict(outcome="verify_failed"), "verify_failed"),
])
def test_a_reading_off_the_list_or_not_valid_is_never_exported_ok(store, where, status):
    store.add_meter_list(a_list(entry("M1")))
    where = dict(where)
    registers = regs(("1.8.1", "1.0", "kWh"))
    store.ingest(upload("U1", [visit(where.pop("meter", "M1"), registers=registers, **where)]),
                 NOW)
    (row,) = store.readings()
    assert row.status == status


@pytest.mark.parametrize("flags, status", [
    ("00000000", "ok"), (None, "ok"), ("00000001", "battery_low"),
    ("00000005", "battery_low+cover_opened"), ("00000002", "reverse_run"),
    ("00000010", "flag_0x00000010"), ("0000zz00", "flags_unreadable"),
    ("=1+1", "flags_unreadable"),
])
def test_meter_error_flags_are_decoded_into_the_status(store, flags, status):
    store.add_meter_list(a_list(entry("M1")))
    store.ingest(upload("U1", [{**visit("M1"), "error_flags": flags}]), NOW)
    (row,) = store.readings()
    assert row.status == status and row.error_flags == (flags or "")


def test_md_time_and_billing_reset_go_through_in_utc(store):
    store.add_meter_list(a_list(entry("M1")))
    store.ingest(upload("U1", [visit("M1", registers=regs(
        ("1.6.0", "0012.30", "kW", "2026-11-20T16:30:00+01:00", ""),
        ("1.8.0*1", "000024.0", "kWh", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z"),
        ("1.8.0", "000030.0", "kWh")))]), NOW)
    rows = rows_by(store)
    assert rows["M1", "1.6.0"].value_time == "2026-11-20T15:30:00+00:00"
    assert (rows["M1", "1.8.0*1"].value_time, rows["M1", "1.8.0*1"].reset_time) == (
        "2026-11-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00")
    assert rows["M1", "1.8.0"].value_time == "" and rows["M1", "1.8.0"].time == T1


@pytest.mark.parametrize("field, times, code", [
    ("value_time", ("yesterday", ""), "bad_time"),
    ("value_time", ("2026-11-20T16:30:00", ""), "no_zone"),
    ("value_time", ("2" * 80, ""), "bad_time"),
    ("value_time", ("1970-01-01T00:00:00Z", ""), "time_too_early"),
    ("value_time", ("2099-01-01T00:00:00Z", ""), "time_in_future"),
    ("reset_time", ("", "2026-11-01T00:00:00"), "no_zone"),
    ("reset_time", ("2026-11-01T00:00:00Z", "2026-11-25T12:40:00Z"), "time_in_future"),
])
def test_a_bad_register_time_makes_the_reading_an_exception(store, field, times, code):
    """A register's own times take the reading time's checks; a bad one keeps that reading
    out of the readings table (so out of every export), as an exception naming the field,
    and leaves the visit's other readings alone."""
    store.add_meter_list(a_list(entry("M1")))
    report = store.ingest(upload("U1", [visit("M1", registers=regs(
        ("1.8.0", "000030.0", "kWh"), ("1.6.0", "1.0", "kW", *times)))]), NOW)
    assert report.readings_rejected == 1 and report.readings_stored == 1
    assert [(r.obis, r.status) for r in store.readings()] == [("1.8.0", "ok")]
    (kind, obis, detail), = sql(store,
        "SELECT kind, obis, detail FROM exceptions").fetchall()
    assert (kind, obis) == (code, "1.6.0")
    assert detail.startswith(f"visits[0].registers[1].{field}: ") and "\n" not in detail


def test_a_register_time_of_the_wrong_type_refuses_the_upload_naming_it():
    with pytest.raises(UploadError, match=re.escape("reading 0 (meter 'M1'): obis, value, "
                                                    "unit and times must be text")):
        upload("U1", [visit("M1", registers=regs(("1.6.0", "1.0", "kW", 5, "")))])


@pytest.mark.sqlite_only("the export worker reads the SQLite file read-only")
def test_one_uploads_rows_and_the_read_only_path_agree(store, tmp_path):
    store.add_meter_list(a_list(entry("M1", "Site 1"), entry("M2")))
    store.ingest(upload("U1", [visit("M1")]), NOW)
    store.ingest(upload("U2", [visit("M2"), visit("M1", time="2026-11-26T10:00:00+00:00")],
                        received_at=NEXT_DAY), NOW)
    mine = list(store.readings(upload_id="U2"))
    assert {(r.meter, r.upload_id) for r in mine} == {("M1", "U2"), ("M2", "U2")}
    assert read_export_rows(tmp_path / "db.sqlite", upload_id="U2") == mine


@pytest.mark.sqlite_only("an older SQLite file upgraded at open")
def test_a_database_from_before_the_export_columns_is_brought_up_and_exports(tmp_path):
    path = tmp_path / "old.sqlite"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TABLE readings; CREATE TABLE readings (meter TEXT NOT NULL, obis TEXT NOT NULL,"
        " time TEXT NOT NULL, value TEXT NOT NULL, unit TEXT NOT NULL, status TEXT NOT NULL,"
        " hhu TEXT NOT NULL, upload_id TEXT NOT NULL, PRIMARY KEY (meter, obis, time))"
        " WITHOUT ROWID;"
        "INSERT INTO readings VALUES ('M1','1.8.1','t1','1.0','kWh','ok','H','U0');"
        "INSERT INTO uploads (upload_id, hhu_id, received_at, visits, readings, stored, "
        "sha256, cleared_at) VALUES ('U0','H','r',1,1,1,'x',NULL);"
        # the visits table as version 1 made it: no ratios column, no index by meter
        "DROP TABLE visits; CREATE TABLE visits (upload_id TEXT NOT NULL, seq INTEGER NOT "
        "NULL, meter TEXT NOT NULL, list_id TEXT NOT NULL, time TEXT NOT NULL, outcome TEXT "
        "NOT NULL, scheme TEXT, verify TEXT, error_flags TEXT, operator TEXT NOT NULL, notes "
        "TEXT NOT NULL, PRIMARY KEY (upload_id, seq)) WITHOUT ROWID;"
        "INSERT INTO visits VALUES ('U0',0,'M1','L1','t1','done',NULL,NULL,'00000001','o','');")
    db.commit()
    db.close()
    store = SqliteStore(path)
    try:
        store.add_meter_list(a_list(entry("M1", "Old Site")))
        (old,) = store.readings()
        assert (old.value, old.site, old.status, old.value_time) == (
            "1.0", "Old Site", "battery_low", "")
    finally:
        store.close()


def test_hostile_site_and_notes_reach_the_csv_neutralised(store, tmp_path):
    store.add_meter_list(a_list(entry("M1", '=HYPERLINK("http://x","y")')))
    store.ingest(upload("U1", [visit("M1", notes="-1+1\r\n@x")]), NOW)
    write_csv(store.readings(), tmp_path / "r.csv")
    text = (tmp_path / "r.csv").read_text()
    (header, row) = list(csv.reader(text.splitlines()))
    assert len(text.splitlines()) == 2
    got = dict(zip(header, row, strict=True))
    assert got["site"] == "'=HYPERLINK(\"http://x\",\"y\")" and got["notes"] == "'-1+1\\r\\n@x"


HOSTILE = ['=HYPERLINK("http://x","y")', "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1",
           "a\r\nb", "x\u2028y"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_every_stored_column_reaches_no_export_as_a_formula_or_a_break(
        store, tmp_path, text):
    """Past any ingest check: what the store holds is made safe by the export itself."""
    from hhu_sync.export import write_cmep, write_jsonl
    from hhu_sync.ingest import Upload, Visit

    store.add_meter_list(a_list(entry(text, site=text), list_id="L1"))
    visits = [Visit(0, text, text, T1, "done", None, None, text, text, text),
              Visit(1, text, "L1", T1, "done", None, None, "00000000", text, text)]
    readings = [(text, text, T1, "1.0", text, "ok", "HHU-1", "U1", "", "", "0"),
                (text, "1.8.1", "2026-11-25T10:30:00+00:00", "1.0", "kWh", "ok", "HHU-1",
                 "U1", "", "", "1")]
    store.ingest(Upload("U1", "HHU-1", "0" * 64, visits, readings), NOW)
    rows = list(store.readings())
    assert {r.status for r in rows} == {"unknown_list", "ok"}   # the list id is hostile
    write_csv(rows, tmp_path / "r.csv")
    write_jsonl(rows, tmp_path / "r.jsonl")
    write_cmep(rows, tmp_path / "r.cmep", sender="D")
    # CMEP leaves out a MeterID a comma-splitting reader would cut (a comma or a quote)
    cmep = 0 if ("," in text or '"' in text) else 1
    for name, records in (("r.csv", 3), ("r.jsonl", 2), ("r.cmep", cmep)):
        lines = (tmp_path / name).read_text().splitlines()
        assert len(lines) == records, name
    for cells in csv.reader((tmp_path / "r.csv").read_text().splitlines()):
        assert not any(c.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")) or
                       any(ord(ch) < 0x20 for ch in c) for c in cells), cells


def test_every_status_the_code_can_give_is_one_documented_code():
    """One vocabulary: the store's and the export's statuses are ReadingStatus members,
    each in docs/exports.md's status table; only ok is billable."""
    from hhu_sync.export import enrich, flags
    from hhu_sync.ingest.status import FLAG_STATUS, ReadingStatus, billable
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "exports.md").read_text()
    table = doc[doc.index("## Which readings are `ok`"):doc.index("A reading that **failed")]
    documented = set(re.findall(r"`([a-z_]+)`", table))
    given = {s.value for s in ReadingStatus} - {ReadingStatus.REJECTED.value}
    assert given <= documented
    assert {enrich.NO_LIST, enrich.UNKNOWN_LIST, enrich.NOT_ON_LIST,
            flags.FLAGS_UNREADABLE, *flags.FLAG_NAMES.values()} <= given
    assert set(FLAG_STATUS.values()) <= set(ReadingStatus)
    assert [s for s in ReadingStatus if billable(s)] == [ReadingStatus.OK]


def test_a_programmed_visit_timed_past_the_year_9999_leaves_every_export_written(store,
                                                                                tmp_path):
    """A visit and its reading timed 9999-12-31T23:59:59-23:59 (past the year 9999 in
    UTC: flagged, stored as sent) are no time an export can place: the scheme it
    programmed is in force at no reading, and the store's CSV and CMEP are written all
    the same, where that one visit stopped every export of the store (and each later
    upload's) with an OverflowError."""
    from hhu_sync.export.formats import export
    far = "9999-12-31T23:59:59-23:59"
    store.add_meter_list(a_list(entry("M1", scheme="a1700-ci-tou-2026")))
    store.ingest(upload("U1", [{**visit("M1", time=far, registers=[
        ["1.8.1", "000100.0", "kWh", far]]), "scheme": "a1700-ci-tou-2026",
        "verify": "ok"}]), NOW)
    store.ingest(upload("U2", [visit("M1", registers=regs(("1.8.1", "000200.0", "kWh")))]),
                 NOW)
    rows = list(store.readings())              # the far reading was refused its time
    assert [(r.value, r.status) for r in rows] == [("000200.0", "ok")]
    assert export(rows, "csv", tmp_path / "r.csv") == 1
    assert export(rows, "cmep", tmp_path / "r.cmep") == 1
