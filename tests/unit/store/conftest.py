"""What the store tests share: an empty store of each backend, closed afterwards.

``store`` is parametrised over ``sqlite`` (a file in a fresh folder) and ``postgresql``
(a database this test run makes on the server at ``HHU_TEST_PG``, by default
postgresql://postgres@127.0.0.1:5432, and drops at its end; each test finds its tables
empty). A test marked ``sqlite_only`` (it reads SQLite's own files, PRAGMAs or
connections, or a part not yet on PostgreSQL) runs on SQLite alone. If the server does
not answer, the PostgreSQL tests fail, never skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

BACKENDS = ("sqlite", "postgresql")
#: the server the PostgreSQL store tests use (a database of their own is made on it)
PG_SERVER = os.environ.get("HHU_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
START_IT = ("start it (as root: `pg_ctlcluster 15 main start`, or `service postgresql "
            "start`) or point HHU_TEST_PG at one (postgresql://user@host:port)")


def pytest_generate_tests(metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only")
        metafunc.parametrize("backend", ["sqlite"] if only else list(BACKENDS),
                             indirect=True)


@pytest.fixture
def backend(request) -> str:
    """The store backend a test runs on (``sqlite`` or ``postgresql``)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database of this test run's own (C collation, as the store expects), dropped
    at the end of the run (tests/pg_server.py makes it)."""
    from tests.pg_server import fresh_database
    with fresh_database() as url:
        yield url


def empty_pg(url: str) -> None:
    """Every table of the store's schema emptied, its ids restarted (the schema kept)."""
    import psycopg
    with psycopg.connect(url, autocommit=True) as db:
        tables = [t for (t,) in db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename <> 'meta'")]
        if tables:
            db.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")


@pytest.fixture
def store_url(backend, tmp_path, request) -> str:
    """The name of an empty store of ``backend`` (a path for SQLite)."""
    if backend == "sqlite":
        return str(tmp_path / "db.sqlite")
    url = request.getfixturevalue("pg_url")
    empty_pg(url)
    return url


@pytest.fixture
def empty_store(store_url):
    """An empty store of the test's backend (test files' own ``store`` fixtures fill it)."""
    from hhu_sync.store import open_store
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def store(empty_store):
    return empty_store
