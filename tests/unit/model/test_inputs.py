"""Loading a set of inputs against a scheme library held elsewhere."""

from __future__ import annotations

from collections.abc import Mapping

from hhu_sync.model.inputs import load_inputs
from hhu_sync.model.scheme import parse_scheme
from tests.conftest import EXAMPLES


class Library(Mapping):
    """A library that answers look-ups only: counting or listing it is refused, as a
    database-backed one should never be counted or listed once per outbox file."""

    def __init__(self, schemes):
        self._schemes = schemes

    def __getitem__(self, key):
        return self._schemes[key]

    def __iter__(self):
        raise AssertionError("the library was listed")

    def __len__(self):
        raise AssertionError("the library was counted")


def test_a_list_is_checked_against_the_library_by_look_ups_alone(catalog):
    import tomllib

    schemes = {}
    for name in ("a1700-ci-tou.toml", "a1140-day-night.toml", "as230-flat.toml"):
        data = tomllib.loads((EXAMPLES / name).read_text())
        scheme = parse_scheme(data, name, catalog)
        schemes[scheme.id] = scheme
    found = load_inputs([EXAMPLES / "route-south.csv"], catalog, Library(schemes))
    assert found.ok, found.problems
    assert list(found.lists) == ["route-south-2026-11"]


def test_a_scheme_alone_never_touches_the_library(catalog):
    found = load_inputs([EXAMPLES / "as230-flat.toml"], catalog, Library({}))
    assert found.ok and list(found.schemes) == ["as230-flat"]
