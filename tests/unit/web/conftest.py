"""The web app over a fresh store, with a clock the tests move.

``store`` is SQLite; a module that marks itself ``ON_BOTH_BACKENDS`` runs every test on
a PostgreSQL store too (a database this run makes, emptied for each test), so the pages
are shown to answer alike on both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from hhu_sync.store import SqliteStore, Store, open_store
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


#: ``pytestmark = ON_BOTH_BACKENDS``: the module's tests on a SQLite and a PostgreSQL store
ON_BOTH_BACKENDS = pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def web_pg_url() -> Iterator[str]:
    from tests.pg_server import fresh_database
    with fresh_database() as url:
        yield url


@pytest.fixture
def store(tmp_path, request) -> Iterator[Store]:
    if getattr(request, "param", "sqlite") == "postgresql":
        from tests.unit.store.conftest import empty_pg
        url = request.getfixturevalue("web_pg_url")
        empty_pg(url)
        s: Store = open_store(url)
    else:
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
