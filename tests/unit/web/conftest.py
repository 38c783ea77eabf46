"""The web app over a fresh store, with a clock the tests move."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from hhu_sync.store import SqliteStore
from hhu_sync.web.accounts import Accounts
from hhu_sync.web.app import create_app
from tests.unit.web.configured import config, depot_client  # noqa: F401 - fixtures

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "depot.db")
    accounts = Accounts(s)
    for name, role in (("dana", "depot"), ("otto", "office"), ("ada", "admin")):
        accounts.add(name, role, PASSWORD, actor="test")
    yield s
    s.close()


@pytest.fixture
def app(store, clock):
    return create_app(store, clock=clock)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False) as c:
        yield c


def log_in(client: TestClient, name: str, password: str = PASSWORD):
    return client.post("/login", data={"username": name, "password": password})


def csrf_of(client: TestClient) -> str:
    return client.get("/api/me").json()["csrf"]
