"""Export cells, second round: text that reorders what a clerk sees, digits that are not
ASCII posing as numbers, invisible characters in front of a formula."""

from __future__ import annotations

import csv

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
