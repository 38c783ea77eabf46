"""The web app as the server builds it: over a depot configuration (outbox, archive/,
rejected/, key store, the meter catalog), for the pages that act on folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hhu_sync.config import Config, parse_config
from hhu_sync.web.app import create_app

ROOT = Path(__file__).resolve().parents[3]
SCHEME = (ROOT / "schemes" / "examples" / "as230-flat.toml").read_bytes()
#: two problems: an unknown field at line 7, a rate not defined at line 16
BAD_SCHEME = SCHEME.replace(b'model = "AS230"', b'model = "AS230"\nbogus = 1').replace(
    b"rate = 1", b"rate = 9", 1)


def depot_config(tmp_path: Path) -> Config:
    return parse_config({
        "paths": {"outbox": "outbox", "archive": "archive", "rejected": "rejected",
                  "exports": "exports", "database": "depot.db", "keystore": "keys",
                  "catalog": str(ROOT / "config" / "meter-models.toml")},
        "limits": {"debounce_seconds": 0.05}}, tmp_path / "hhu-sync.toml")


@pytest.fixture
def config(tmp_path) -> Config:
    return depot_config(tmp_path)


@pytest.fixture
def depot_client(store, clock, config) -> Iterator[TestClient]:
    """``store`` (the conftest's, at tmp_path/depot.db) is the configured database."""
    assert Path(store.path) == config.paths.database
    app = create_app(store, clock=clock, extra={"config": config})
    with TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False) as c:
        yield c


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) \
        if folder.exists() else []
