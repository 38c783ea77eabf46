"""The problems ``parse_scheme`` reports, byte for byte and in order, against a frozen copy.

``tests/data/scheme_problems.json`` was written by the parser as it stood before it was
split by section (issue 13, point 5): every example scheme, and a systematic set of broken
variants of each (every field deleted or given a wrong value, every section and array of
tables replaced by the wrong shape, the validation cases of ``test_scheme_validation``),
with each problem's file, line, field and message. A refactor that changes a message, the
order of two problems or which problems are found fails here.

Regenerate (only on a deliberate change of messages):
``python -m tests.unit.model.test_scheme_problems_golden``.
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Iterator
from typing import Any

from hhu_sync.model.catalog import Catalog, load_catalog
from hhu_sync.model.loader import locate_lines
from hhu_sync.model.problems import ModelError
from hhu_sync.model.scheme import parse_scheme
from tests.conftest import EXAMPLES, ROOT
from tests.unit.model.test_scheme_validation import CASES

GOLDEN = ROOT / "tests" / "data" / "scheme_problems.json"
WRONG_VALUES: tuple[Any, ...] = (None, 0, -1, 99999999, 1.5, True, "", "../x", "25:00",
                                 "13-01", [], [1], ["x"], {}, {"x": 1})


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and array index in a parsed TOML document, parents first."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        yield (*prefix, key)
        if isinstance(value, dict | list):
            yield from _paths(value, (*prefix, key))


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for p in path[:-1]:
        data = data[p]
    return data


def _variants(base: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "as shipped", copy.deepcopy(base)
    for path in _paths(base):
        name = ".".join(map(str, path))
        data = copy.deepcopy(base)
        parent = _parent(data, path)
        if isinstance(parent, dict):
            del parent[path[-1]]
            yield f"del {name}", data
        for value in WRONG_VALUES:
            data = copy.deepcopy(base)
            _parent(data, path)[path[-1]] = copy.deepcopy(value)
            yield f"set {name} = {value!r}", data
    sections = list(base)
    for i, one in enumerate(sections):            # two sections broken at once: their order
        for other in sections[i + 1:]:
            for value in (0, [0], {"x": 1}):
                data = copy.deepcopy(base)
                data[one] = data[other] = copy.deepcopy(value)
                yield f"set {one} and {other} = {value!r}", data
    for value in WRONG_VALUES:                    # every field broken at once
        data = copy.deepcopy(base)
        for path in _paths(base):
            parent = _parent(data, path)
            if isinstance(parent, dict) and not isinstance(parent[path[-1]], dict | list):
                parent[path[-1]] = copy.deepcopy(value)
        yield f"set every field = {value!r}", data
    for key in ("unknown", "tarifs"):
        data = copy.deepcopy(base)
        data[key] = {}
        yield f"add {key}", data
    for name, (mutate, _field, _fragment) in CASES.items():
        data = copy.deepcopy(base)
        try:
            mutate(data)
        except (KeyError, IndexError, TypeError):
            continue          # the case names a field this example does not have
        yield f"case {name}", data


def _problems(data: dict[str, Any], file: str, catalog: Catalog, text: str) -> list[list[Any]]:
    try:
        parse_scheme(data, file, catalog, locate_lines(text).line)
    except ModelError as exc:
        return [[p.file, p.line, p.field, p.message, str(p.code)] for p in exc.problems]
    return []


def compute(catalog: Catalog) -> dict[str, list[list[Any]]]:
    out: dict[str, list[list[Any]]] = {}
    for path in sorted(EXAMPLES.glob("*.toml")):
        text = path.read_text()
        base = tomllib.loads(text)
        if "scheme" not in base:
            continue                      # a meter list, not a scheme
        for name, data in _variants(base):
            out[f"{path.name}: {name}"] = _problems(data, path.name, catalog, text)
    return out


def test_the_problems_are_those_of_the_unsplit_parser(catalog):
    golden = json.loads(GOLDEN.read_text())
    now = compute(catalog)
    assert list(now) == list(golden)
    for key, problems in golden.items():
        assert now[key] == problems, key


def test_the_golden_file_covers_many_broken_variants():
    golden = json.loads(GOLDEN.read_text())
    assert len(golden) > 1000
    assert sum(1 for v in golden.values() if v) > 900


if __name__ == "__main__":
    result = compute(load_catalog(ROOT / "config" / "meter-models.toml"))
    lines = [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in result.items()]
    GOLDEN.write_text("{\n" + ",\n".join(lines) + "\n}\n")   # one variant a line
    print(f"{GOLDEN}: {len(result)} variants")

