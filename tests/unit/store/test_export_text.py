"""Export cells, second round: text that reorders what a clerk sees, digits that are not
ASCII posing as numbers, invisible characters in front of a formula."""

from __future__ import annotations

import csv
import re

import pytest

from hhu_sync.export import write_csv
from hhu_sync.export.cells import is_plain_number, neutralise_formula, safe_cell
from hhu_sync.export.rows import COLUMNS, ExportRow


@pytest.mark.parametrize("text", ["paid \u202eevil\u202c", "\u2066x\u2069", "a\u200fb",
                                  "zero\u200bwidth", "bom\ufeffmid", "join\u200dme",
                                  "word\u2060joiner"])
def test_characters_that_reorder_or_hide_text_are_escaped_in_a_cell(text):
    cell = safe_cell(text)
    assert all(ord(ch) < 0x200b or ord(ch) > 0x206f for ch in cell if ch != "\ufeff")
    assert "\ufeff" not in cell and "\\u" in cell


@pytest.mark.parametrize("text", ["-\u0663", "\u0661\u0662", "+\uff11", "-١٢.٣"])
def test_digits_that_are_not_ascii_are_no_plain_number(text):
    assert not is_plain_number(text)


@pytest.mark.parametrize("text", ["\u200b=HYPERLINK(1)", "\u00a0=1+1", "\u3000@SUM(A1)",
                                  "\ufeff+cmd", "\u2060-2+3", " \u200b =1"])
def test_invisible_or_unicode_blanks_before_a_formula_do_not_hide_it(text):
    assert neutralise_formula(text).startswith("'")


def test_a_hostile_note_reaches_the_csv_as_one_visible_line(tmp_path):
    row = ExportRow(*(["x"] * len(COLUMNS)))._replace(
        meter="M1", value="1.0", notes="ok \u202e\u2066=1+1\u2069 \u200b", status="ok")
    write_csv([row], tmp_path / "r.csv")
    text = (tmp_path / "r.csv").read_text()
    notes = list(csv.reader(text.splitlines()))[1][COLUMNS.index("notes")]
    assert not any(ch in notes for ch in "\u202e\u2066\u2069\u200b")


def test_a_cell_longer_than_a_spreadsheet_holds_is_cut_with_a_marker(tmp_path):
    """Excel holds 32,767 characters a cell; the rest of a longer one must not spill
    into other cells or rows. The store keeps the whole text."""
    row = ExportRow(*(["x"] * len(COLUMNS)))._replace(
        meter="M1", value="1.0", notes="n" * 1_000_000, status="ok")
    write_csv([row], tmp_path / "r.csv")
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert len(lines) == 2
    notes = list(csv.reader(lines))[1][COLUMNS.index("notes")]
    assert len(notes) <= 32_767 and notes.endswith("characters cut]")
    assert safe_cell("\n" * 20_000).count("\\n") <= 32_767 // 2


@pytest.mark.parametrize("text", ["\u202e" * 40_000, "a\\" * 20_000, "\x1b" * 40_000])
def test_a_cut_cell_never_ends_inside_an_escape(text):
    cell = safe_cell(text)
    body = cell[:cell.index("…[")]
    assert len(cell) <= 32_767 and not re.search(r"(?<!\\)(\\\\)*\\(u[0-9a-f]{0,3}|x[0-9a-f]?)?$",
                                                 body)


def _cmep_triplets(path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text().splitlines():
        fields = line.split(",")            # as a reader that splits on commas does
        n = int(fields[13])
        out += [(fields[14 + 3 * i], fields[16 + 3 * i]) for i in range(n)]
    return out


def test_cmep_never_gives_two_values_for_one_minute(tmp_path):
    """CMEP times are to the minute: two readings 30 s apart with other values would be
    two values for one time stamp. The later read is the register's value then."""
    from hhu_sync.export import write_cmep
    base = ExportRow("M1", "1.8.1", "2026-11-25T10:00:00+00:00", "100.0", "kWh", "ok",
                     "HHU-001", "U1", "2026-11-25T12:00:00+00:00")
    rows = [base, base._replace(time="2026-11-25T10:00:30+00:00", value="100.5"),
            base._replace(time="2026-11-25T10:00:45.5+00:00", value="100.25"),
            base._replace(time="2026-11-25T10:05:00+00:00", value="101.0")]
    write_cmep(rows, tmp_path / "r.cmep", sender="DEPOT")
    triplets = _cmep_triplets(tmp_path / "r.cmep")
    assert [t for t, _ in triplets] == ["202611251000", "202611251005"]
    assert dict(triplets)["202611251000"] == "100.25"


def test_cmep_has_no_field_a_comma_splitting_reader_would_cut(tmp_path):
    """A MeterID with a comma or a quote (a row from an older store, say) would be quoted
    by csv, and a reader that splits on commas would read a shifted record."""
    from hhu_sync.export import write_cmep
    base = ExportRow("M1", "1.8.1", "2026-11-25T10:00:00+00:00", "100.0", "kWh", "ok",
                     "HHU-001", "U1", "2026-11-25T12:00:00+00:00")
    rows = [base._replace(meter="A,1"), base._replace(meter='B"1'), base]
    write_cmep(rows, tmp_path / "r.cmep", sender="DEPOT")
    lines = (tmp_path / "r.cmep").read_text().splitlines()
    assert len(lines) == 1 and '"' not in lines[0] and lines[0].split(",")[7] == "M1:1.8.1"
