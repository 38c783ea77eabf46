"""Meter list checks, TOML and CSV, one case per message."""

from __future__ import annotations

import copy
import tomllib
from dataclasses import MISSING

import pytest

from hhu_sync.model import meterlist
from hhu_sync.model.meterlist import parse_meter_list_csv, parse_meter_list_toml
from hhu_sync.model.problems import ModelError
from hhu_sync.model.scheme import parse_scheme
from tests.conftest import EXAMPLES

BASE = tomllib.loads((EXAMPLES / "route-north.toml").read_text())
CSV_TEXT = (EXAMPLES / "route-south.csv").read_text()


@pytest.fixture(scope="module")
def schemes(catalog):
    out = {}
    for name in ("a1700-ci-tou.toml", "a1140-day-night.toml", "as230-flat.toml"):
        s = parse_scheme(tomllib.loads((EXAMPLES / name).read_text()), name, catalog)
        out[s.id] = s
    return out


def toml_problems(catalog, schemes, mutate):
    data = copy.deepcopy(BASE)
    mutate(data)
    try:
        parse_meter_list_toml(data, "l.toml", catalog, schemes)
    except ModelError as exc:
        return [(p.field, p.message) for p in exc.problems]
    return []


def test_example_lists_are_valid_and_keep_route_order(catalog, schemes):
    ml = parse_meter_list_toml(copy.deepcopy(BASE), "l.toml", catalog, schemes)
    assert [m.serial for m in ml.meters] == ["35100001", "35100002", "41200017"]
    assert ml.scheme_ids == ("a1700-ci-tou-2026", "a1140-day-night")
    south = parse_meter_list_csv(CSV_TEXT, "s.csv", catalog, schemes)
    assert south.crew == "crew-south" and south.due == "2026-12-11"
    assert south.meters[1].notes == "Dog in garden"


def m(index, key, value):
    def mutate(d):
        d["meters"][index][key] = value
    return mutate


def head(key, value=None, delete=False):
    def mutate(d):
        if delete:
            del d["list"][key]
        else:
            d["list"][key] = value
    return mutate


CASES = {
    "duplicate serial": (m(1, "serial", "35100001"), "meters[1].serial",
                         "duplicate meter serial '35100001'"),
    "bad serial": (m(0, "serial", "35 1"), "meters[0].serial", "not a meter serial"),
    "unknown scheme id": (m(0, "scheme", "nope"), "meters[0].scheme", "unknown scheme id"),
    "scheme for another model": (m(2, "scheme", "a1700-ci-tou-2026"), "meters[2].scheme",
                                 "is for the A1700; this meter is an A1140"),
    "program without scheme": (m(1, "task", "program"), "meters[1].scheme",
                               "needs a scheme id"),
    "read with scheme": (m(0, "task", "read"), "meters[0].scheme", "read-only task"),
    "unknown task": (m(0, "task", "write"), "meters[0].task", "not a task"),
    "unknown model": (m(0, "model", "Z1"), "meters[0].model", "unknown meter model"),
    "unknown entry field": (m(0, "colour", "red"), "meters[0].colour", "unknown field"),
    "empty list": (lambda d: d.__setitem__("meters", []), "meters", "is empty"),
    "bad due date": (head("due", "2026-13-01"), "list.due", "not a date"),
    "missing due date": (head("due", delete=True), "list.due", "missing"),
    "no target": (head("hhu", delete=True), "list.hhu", "needs a target"),
    "bad list id": (head("id", "a b"), "list.id", "not a valid id"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_each_list_problem_is_named(catalog, schemes, case):
    mutate, field, fragment = CASES[case]
    found = toml_problems(catalog, schemes, mutate)
    assert any(f == field and fragment in msg for f, msg in found), found


def csv_problems(catalog, schemes, text):
    try:
        parse_meter_list_csv(text, "s.csv", catalog, schemes)
    except ModelError as exc:
        return [(p.line, p.field, p.message) for p in exc.problems]
    return []


def test_csv_duplicate_serial_names_both_lines(catalog, schemes):
    text = CSV_TEXT + "23000101,Again,Again,AS230,read,,\n"
    found = csv_problems(catalog, schemes, text)
    assert (12, "row 12, column serial", "duplicate meter serial '23000101' (first at row 9)") \
        in found


def test_csv_row_with_wrong_column_count_names_its_line(catalog, schemes):
    found = csv_problems(catalog, schemes, CSV_TEXT + "23000199,only-two\n")
    assert found == [(12, "row 12", "2 values, the header row names 7 columns: add the missing "
                                  "cells (address, model, task, scheme, notes), empty if need be")]


def test_csv_unknown_column_names_the_header_line(catalog, schemes):
    text = CSV_TEXT.replace("serial,site", "serial,sight")
    assert any(line == 8 and "unknown column" in msg
               for line, _, msg in csv_problems(catalog, schemes, text))


def test_csv_bad_due_date_names_its_comment_line(catalog, schemes):
    text = CSV_TEXT.replace("# due: 2026-12-11", "# due: 11/12/2026")
    assert (4, "list.due", "'11/12/2026' is not a date YYYY-MM-DD") in \
        csv_problems(catalog, schemes, text)


def test_csv_with_header_only_is_an_empty_list(catalog, schemes):
    text = "\n".join(CSV_TEXT.splitlines()[:5]) + "\n"
    assert any(f == "meters" and "empty" in msg
               for _, f, msg in csv_problems(catalog, schemes, text))


def test_the_exports_shortcut_knows_which_entry_keys_a_meter_entry_cannot_do_without():
    # meter_entries_from_dict refuses what MeterEntry(**entry) would, without making one
    fields = meterlist.MeterEntry.__dataclass_fields__
    assert set(meterlist._ENTRY_KEYS) <= set(fields)
    assert {f.name for f in fields.values() if f.default is MISSING
            and f.default_factory is MISSING} == meterlist._REQUIRED_ENTRY_KEYS
