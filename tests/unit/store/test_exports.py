"""Exports: CSV columns, CMEP MEPMD01 records, written atomically."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

from hhu_sync.export import write_cmep, write_csv, write_jsonl

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
