"""Any input to a parser gives a result or a clear error: never a crash or a hang."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hhu_sync.config import parse_config
from hhu_sync.model.loader import parse_toml
from hhu_sync.model.meterlist import parse_meter_list_csv, parse_meter_list_toml
from hhu_sync.model.problems import ModelError
from hhu_sync.model.scheme import parse_scheme
from tests.conftest import EXAMPLES

SCHEME = tomllib.loads((EXAMPLES / "a1700-ci-tou.toml").read_text())
LIST = tomllib.loads((EXAMPLES / "route-north.toml").read_text())

scalars = (st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.dates())
values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                      | st.dictionaries(st.text(max_size=10), kids, max_size=4), max_leaves=12)
FUZZ = settings(max_examples=int(os.environ.get("HHU_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def mutate(base: dict, path: list, value) -> dict:
    """``base`` with one value somewhere replaced by ``value``."""
    import copy
    data = copy.deepcopy(base)
    node = data
    for key in path[:-1]:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return data
    if isinstance(node, dict):
        node[path[-1]] = value
    elif isinstance(node, list) and node:
        node[path[-1] % len(node) if isinstance(path[-1], int) else 0] = value
    return data


def paths(data, prefix=()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield [*prefix, k]
            yield from paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield [*prefix, i]
            yield from paths(v, (*prefix, i))


SCHEME_PATHS = list(paths(SCHEME))
LIST_PATHS = list(paths(LIST))


@FUZZ
@given(st.sampled_from(SCHEME_PATHS), values)
def test_a_scheme_with_any_value_anywhere_is_parsed_or_refused_clearly(catalog, path, value):
    try:
        parse_scheme(mutate(SCHEME, path, value), "s.toml", catalog)
    except ModelError as exc:
        assert exc.problems and all(p.field and p.message for p in exc.problems)


@FUZZ
@given(st.dictionaries(st.text(max_size=10), values, max_size=6))
def test_any_table_as_a_scheme_is_parsed_or_refused_clearly(catalog, data):
    try:
        parse_scheme(data, "s.toml", catalog)
    except ModelError as exc:
        assert exc.problems


@FUZZ
@given(st.sampled_from(LIST_PATHS), values)
def test_a_meter_list_with_any_value_anywhere_is_parsed_or_refused(catalog, path, value):
    try:
        parse_meter_list_toml(mutate(LIST, path, value), "l.toml", catalog, {})
    except ModelError as exc:
        assert exc.problems


@FUZZ
@given(st.text(max_size=600))
def test_any_text_as_a_csv_meter_list_is_parsed_or_refused(catalog, text):
    try:
        parse_meter_list_csv(text, "l.csv", catalog, {})
    except ModelError as exc:
        assert exc.problems


@FUZZ
@given(st.text(max_size=400))
def test_any_text_as_toml_is_parsed_or_refused_with_a_line(text):
    try:
        parse_toml(text, Path("x.toml"))
    except ModelError as exc:
        assert exc.problems[0].field == "toml"


@FUZZ
@given(st.dictionaries(st.sampled_from(["depot", "paths", "docks", "hhus", "schedule",
                                        "limits", "serial", "demo", "other"]), values,
                       max_size=5))
def test_any_configuration_is_loaded_or_refused_naming_a_key(data):
    try:
        parse_config(data, Path("/tmp/c.toml"))
    except ModelError as exc:
        assert exc.problems and all(p.field for p in exc.problems)
