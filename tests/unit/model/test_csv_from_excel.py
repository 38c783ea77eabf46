"""A meter list saved from a spreadsheet is read, or refused in the CSV's own terms.

Excel writes a byte order mark ("CSV UTF-8"), CRLF line ends, rows padded with empty
cells to the width of the sheet (trailing commas, on the ``# key: value`` rows too),
semicolons where the decimal mark is a comma, quoted cells; plain "CSV (Comma
delimited)" writes the Windows code page. Each problem names row N and column NAME and
says what to change.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hhu_sync.model.inputs import load_inputs
from hhu_sync.model.loader import decode_text, load_toml
from hhu_sync.model.meterlist import (
    parse_meter_list_csv,
    render_meter_list_csv,
    sniff_separator,
)
from hhu_sync.model.problems import ModelError
from hhu_sync.model.scheme import parse_scheme
from tests.conftest import EXAMPLES

SOUTH = (EXAMPLES / "route-south.csv").read_text()
WIDTH = 9      # the sheet's used range: two columns wider than the header


@pytest.fixture(scope="module")
def schemes(catalog):
    data, locate = load_toml(EXAMPLES / "as230-flat.toml")
    flat = parse_scheme(data, "as230-flat.toml", catalog, locate)
    return {flat.id: flat}


def excel_comma(text: str) -> str:
    """As Excel saves a sheet it opened from ``text``: padded rows, CRLF, a BOM."""
    rows = [line + "," * (WIDTH - 1 - line.count(",")) for line in text.splitlines()]
    return "\ufeff" + "\r\n".join(rows) + "\r\n"


def excel_semicolon(text: str) -> str:
    """As Excel saves the same sheet where the list separator is ';'."""
    out = []
    for line in text.splitlines():
        cells = [line] if line.startswith("#") else line.split(",")
        cells = [f'"{c}"' if ";" in c else c for c in cells]
        out.append(";".join(cells + [""] * (WIDTH - len(cells))))
    return "\r\n".join(out) + "\r\n"


def problems(text: str, catalog, schemes) -> list[tuple[int | None, str, str]]:
    try:
        parse_meter_list_csv(text, "south.csv", catalog, schemes)
    except ModelError as exc:
        return [(p.line, p.field, p.message) for p in exc.problems]
    return []


@pytest.mark.parametrize("save", [excel_comma, excel_semicolon])
def test_a_list_saved_by_excel_reads_as_the_original(save, catalog, schemes):
    original = parse_meter_list_csv(SOUTH, "south.csv", catalog, schemes)
    assert parse_meter_list_csv(save(SOUTH), "south.csv", catalog, schemes) == original
    assert original.name == "South residential, November"


def test_the_header_row_decides_the_separator():
    assert sniff_separator("serial;site;address;notes") == ";"
    assert sniff_separator('serial,"site; or place",task') == ","
    assert sniff_separator("serial\tsite\ttask") == "\t"
    assert sniff_separator("serial") == ","


def test_quoted_cells_keep_separators_quotes_and_line_breaks(catalog, schemes):
    row = "14 Orchard Way,14 Orchard Way,AS230,read+program,as230-flat,Dog in garden"
    text = SOUTH.replace(row, '"14 Orchard Way, rear","The ""Old"" Barn",AS230,read+program,'
                         'as230-flat,"Dog in garden\nring twice"')
    text += "23000103,Again,Again,AS230,read,,\n"
    found = problems(text, catalog, schemes)
    # The quoted note spans lines 10-11, so the duplicate is on line 13 but row 12 in Excel.
    assert found == [(13, "row 12, column serial",
                      "duplicate meter serial '23000103' (first at row 11)")]
    fixed = text.rsplit("23000103,Again", 1)[0]
    entry = parse_meter_list_csv(fixed, "south.csv", catalog, schemes).meters[1]
    assert (entry.site, entry.address, entry.notes) == (
        "14 Orchard Way, rear", 'The "Old" Barn', "Dog in garden\nring twice")


def test_a_stray_value_beyond_the_named_columns_is_named(catalog, schemes):
    text = SOUTH.replace("16 Orchard Way,AS230,read,,", "16 Orchard Way,AS230,read,,,,Gate 2")
    assert problems(text, catalog, schemes) == [
        (11, "row 11", "9 values, the header row names 7 columns: 'Gate 2' is in a column "
                     "without a name (a value holding ',' must be quoted)")]


def test_a_short_row_says_which_cells_to_add(catalog, schemes):
    found = problems(SOUTH + "23000199,only-two\n", catalog, schemes)
    assert found == [(12, "row 12", "2 values, the header row names 7 columns: add the missing "
                                  "cells (address, model, task, scheme, notes), empty if need be")]


def test_a_header_cell_without_a_name_is_named_by_its_number(catalog, schemes):
    text = SOUTH.replace("serial,site,address", "serial,,site,address")
    found = problems(text, catalog, schemes)
    assert any(f == "row 8, column 2" and "without a name" in m for _, f, m in found), found


def test_a_serial_excel_turned_into_a_number_says_to_format_the_column_as_text(
        catalog, schemes):
    found = problems(SOUTH.replace("23000103,", "2.3E+07,"), catalog, schemes)
    assert any(f == "row 11, column serial" and "format the column as Text" in m
               for _, f, m in found), found


def test_a_windows_1252_byte_is_refused_naming_row_column_offset_and_what_to_save_as(
        tmp_path, catalog, schemes):
    raw = SOUTH.replace("14 Orchard Way,14", "14 Orchard Way,Caf\u00e9 14").encode("cp1252")
    path = tmp_path / "south.csv"
    path.write_bytes(raw)
    found = load_inputs([path], catalog, schemes).problems
    offset = raw.index(b"\xe9")
    assert [(p.line, p.field) for p in found] == [(10, "row 10, column address")]
    assert f"byte 0xe9 at byte offset {offset}" in found[0].message
    assert "'CSV UTF-8 (Comma delimited)'" in found[0].message


def test_the_byte_offset_counts_the_byte_order_mark(tmp_path, catalog, schemes):
    raw = b"\xef\xbb\xbf" + SOUTH.replace("Dog", "D\u00f6g").encode("cp1252")
    path = tmp_path / "south.csv"
    path.write_bytes(raw)
    (problem,) = load_inputs([path], catalog, schemes).problems
    offset = raw.index(b"\xf6")
    assert f"at byte offset {offset}" in problem.message
    assert problem.field == "row 10, column notes"


def test_utf16_is_refused_with_what_to_save_as(tmp_path, catalog, schemes):
    path = Path(tmp_path / "south.csv")
    path.write_bytes(SOUTH.encode("utf-16"))
    (problem,) = load_inputs([path], catalog, schemes).problems
    assert "UTF-16" in problem.message and "CSV UTF-8" in problem.message


def test_a_sep_line_names_the_separator_and_keeps_the_line_numbers(catalog, schemes):
    text = "sep=;\r\n" + excel_semicolon(SOUTH).replace("23000103;", "2300 0103;")
    found = problems(text, catalog, schemes)
    assert [(line, field) for line, field, _ in found] == [(12, "row 12, column serial")]


def test_list_names_and_notes_with_commas_and_quotes_round_trip(catalog, schemes):
    original = parse_meter_list_csv(SOUTH, "south.csv", catalog, schemes)
    odd = replace(original, name='Acme, "North" site', notes='a,"b"; c')
    text = render_meter_list_csv(odd)
    assert parse_meter_list_csv(text, "s.csv", catalog, schemes) == odd
    assert parse_meter_list_csv(excel_comma(text), "s.csv", catalog, schemes) == odd


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_as_a_csv_are_read_or_refused_with_a_problem(raw):
    try:
        decode_text(b"serial,site\r\n" + raw, Path("x.csv"))
    except ModelError as exc:
        assert exc.problems and all(p.file == "x.csv" for p in exc.problems)


def test_a_huge_cell_is_refused_with_its_row(catalog, schemes):
    text = SOUTH.replace("# due: 2026-12-11", "# due: " + "9" * 200_000)
    text = text.replace("Dog in garden", "x" * 200_000)
    found = problems(text, catalog, schemes)
    assert any(f == "list.due" and len(m) < 200 for _, f, m in found), found
    assert any(f.startswith("row ") and "not valid CSV" in m for _, f, m in found), found


@pytest.mark.parametrize("key", ["list", "name", "crew", "due"])
def test_a_list_line_without_its_hash_is_one_clear_problem(key, catalog, schemes):
    """``list: route-south`` for ``# list: route-south`` made the line the header row:
    sixteen problems followed from it. One problem names the row and the fix."""
    lines = SOUTH.splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith(f"# {key}:"))
    lines[n] = lines[n][2:]
    found = problems("\n".join(lines) + "\n", catalog, schemes)
    assert len(found) == 1, found
    line, field, message = found[0]
    assert (line, field) == (n + 1, f"row {n + 1}")
    assert f"looks like a '# {key}:' line without its '#'" in message


def test_a_header_without_serial_or_task_does_not_fault_every_row(catalog, schemes):
    text = SOUTH.replace("serial,site,address,model,task", "serail,site,address,model,tsk")
    found = problems(text, catalog, schemes)
    assert all(field.startswith("row 8") for _line, field, _m in found), found
    assert not [m for *_x, m in found if "None" in m]


@pytest.mark.parametrize("row", [",12 Orchard Way,12 Orchard Way,AS230,read,,",
                                 "23000109,12 Orchard Way,12 Orchard Way,AS230,,,"])
def test_an_empty_cell_is_called_empty_not_python(row, catalog, schemes):
    found = problems(SOUTH + row + "\n", catalog, schemes)
    assert found and all("None" not in m and "''" not in m for *_x, m in found), found
    assert any("empty" in m for *_x, m in found), found


@pytest.mark.parametrize("toml", [
    '[list]\nid = "r"\ncrew = "c"\ndue = 2026-12-01\n[[meters]]\nserial = 5\ntask = "read"\n',
    '[list]\nid = "r"\ncrew = "c"\ndue = [1]\n[[meters]]\nserial = "5"\ntask = {a = 1}\n',
    '[list]\nid = "r"\ncrew = "c"\ndue = 2026-12-01\n[[meters]]\nserial = "5"\n',
])
def test_a_toml_list_problem_shows_toml_not_python(toml, catalog, schemes, tmp_path):
    from hhu_sync.model.meterlist import parse_meter_list_toml
    path = tmp_path / "l.toml"
    path.write_text(toml)
    data, locate = load_toml(path)
    with pytest.raises(ModelError) as err:
        parse_meter_list_toml(data, "l.toml", catalog, schemes, locate)
    text = "\n".join(p.message for p in err.value.problems)
    for noise in ("None", "{'", "[1]", "''"):
        assert noise not in text, text


@pytest.mark.parametrize("old, new", [
    ('{ at = "07:00", rate = 1 }', "{ rate = 1 }"),            # a switch without its time
    ('start = "10-01"', "start = 1001"),                        # a season start, a number
    ('start = "04-01"', "start = [4, 1]"),                      # ... an array
    ('reset_time = "00:00"', "reset_time = {h = 0}"),           # a table
    ('registers = ["1.8.1"]', "registers = [true]"),
])
def test_a_scheme_problem_shows_toml_not_python(old, new, catalog, tmp_path):
    text = (EXAMPLES / "a1700-ci-tou.toml").read_text()
    assert old in text
    path = tmp_path / "s.toml"
    path.write_text(text.replace(old, new, 1))
    found = load_inputs([path], catalog).problems
    assert found
    for p in found:
        for noise in ("None", "{'", "[4, 1]", "True"):
            assert noise not in p.message, p
