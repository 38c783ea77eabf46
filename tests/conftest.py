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
