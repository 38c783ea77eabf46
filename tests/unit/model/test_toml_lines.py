"""A TOML problem points at the line of the bad value, not at the array holding it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hhu_sync.model.inputs import load_inputs
from hhu_sync.model.toml_lines import scan
from tests.conftest import EXAMPLES

SCHEME = (EXAMPLES / "a1700-ci-tou.toml").read_text()
ROUTE = (EXAMPLES / "route-north.toml").read_text()


def only_problem(tmp_path, catalog, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    schemes = load_inputs([EXAMPLES], catalog).schemes
    (problem,) = load_inputs([path], catalog, schemes).problems
    return problem, text.splitlines()[problem.line - 1]


def test_a_bad_time_inside_a_multi_line_array_of_inline_tables(tmp_path, catalog):
    text = SCHEME.replace('{ at = "16:00", rate = 2 }', '{ at = "16:70", rate = 2 }')
    problem, line = only_problem(tmp_path, catalog, "s.toml", text)
    assert problem.field == "day_profiles[0].switches[2].at"
    assert '"16:70"' in line


def test_a_bad_element_of_a_multi_line_array_in_an_array_of_tables(tmp_path, catalog):
    text = SCHEME.replace('registers = ["1.8.3"]', 'registers = [\n  "1.8.3",\n  "1.8.x",\n]')
    problem, line = only_problem(tmp_path, catalog, "s.toml", text)
    assert problem.field == "rates[2].registers[1]"
    assert line.strip() == '"1.8.x",'


def test_a_bad_key_of_an_inline_table_spanning_lines(tmp_path, catalog):
    text = ROUTE.replace('task = "read"\n', 'task = "read"\nextra = { a = 1,\n  b = 2 }\n', 1)
    text = text.replace('serial = "35100002"', 'serial = "35 100 002"')
    path = tmp_path / "r.toml"
    path.write_text(text)
    found = load_inputs([path], catalog, load_inputs([EXAMPLES], catalog).schemes).problems
    lines = text.splitlines()
    where = {p.field: lines[p.line - 1] for p in found}
    assert where["meters[1].serial"].startswith('serial = "35 100 002"')
    assert where["meters[1].extra"].startswith("extra = {")


def test_tables_under_arrays_of_tables_and_dotted_and_quoted_keys():
    text = ('[[meters]]\nserial = "1"\n[meters.registers]\n"1.8.1" = "5"\n'
            '[[meters]]\nserial = "2"\n[meters.registers]\n"1.8.1" = "6"\n'
            'a.b = { c = [1, { d = 2 }] }\ns = """\nnot = "a key"\n"""\n')
    lines = scan(text)
    assert lines["meters[1].registers.1.8.1"] == 8
    assert lines["meters[1].registers.a.b.c[1].d"] == 9
    assert "meters[1].registers.not" not in lines


def test_anything_it_cannot_follow_ends_the_scan_without_an_error():
    for text in ('a = [1, 2', '"unterminated', "[[x", "a = { b = ", "x = '''open",
                 "[" * 10_000, "a = " + "[" * 10_000 + "]" * 10_000):
        scan(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='ab=[]{},."\'#\n 1\\', max_size=200))
def test_any_text_is_scanned_without_an_error(text):
    scan(text)
