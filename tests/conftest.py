"""Shared fixtures: paths to the shipped examples and the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from hhu_sync.model.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "schemes" / "examples"


@pytest.fixture(scope="session")
def catalog():
    return load_catalog(ROOT / "config" / "meter-models.toml")


@pytest.fixture(scope="session")
def examples() -> Path:
    return EXAMPLES


#: The longest test files, started first: with the suite on worker processes one file to
#: a worker, a long file started last is the suite's tail (the README tour alone runs
#: two to three minutes beside the rest). Only the order changes, never what runs.
LONGEST_FIRST = (
    "tests/integration/test_readme_tour.py",
    "tests/integration/test_meter_profile_elster_e2e.py",
    "tests/faults/test_chaos.py",
    "tests/unit/model/test_scheme_problems_golden.py",
    "tests/faults/test_postgres_faults.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
