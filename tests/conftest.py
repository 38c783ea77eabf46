"""Shared fixtures: paths to the shipped examples and the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from hhu_sync.model.catalog import load_catalog
from hhu_sync.web import passwords

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "schemes" / "examples"


#: argon2id at its cheapest memory and time: the web tests make three accounts and log in
#: for every test, and the shipped parameters (64 MiB, three passes, ``passwords.SHIPPED``)
#: cost a quarter of a second each alone and seconds on a loaded machine, minutes of the
#: suite in all. Only in this process: a daemon the tests start keeps the shipped ones.
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes():
    shipped = passwords._HASHER, passwords._DUMMY
    passwords._HASHER = TEST_HASHER
    passwords._DUMMY = TEST_HASHER.hash("not a password of anyone's")
    yield
    passwords._HASHER, passwords._DUMMY = shipped


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
