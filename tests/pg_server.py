"""A fresh PostgreSQL database for a test outside the store tests (which have their own
fixture, tests/unit/store/conftest.py): made on the server at ``HHU_TEST_PG`` and
dropped afterwards. A server that does not answer fails the test, never skips it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from tests.unit.store.conftest import PG_SERVER, START_IT


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_SERVER} does not answer ({str(exc).strip()}): "
                    f"{START_IT}", pytrace=False)


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of an empty database of this test's own (C collation, as the store
    expects), dropped when the test is done."""
    name = f"hhu_test_{uuid.uuid4().hex[:12]}"
    with _admin() as db:
        db.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\' '
                   "LC_COLLATE 'C' LC_CTYPE 'C'")
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with _admin() as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def set_schema_version(url: str, version: str) -> None:
    """Write another schema version into a store's meta (as another hhu-sync would)."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (version,))
