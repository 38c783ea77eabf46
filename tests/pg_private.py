"""A PostgreSQL server of the test's own, to stop and start for real.

The shared server at ``HHU_TEST_PG`` serves other runs too, so the fault tests never
restart it: they make a private one (``initdb`` into a temporary folder, a free port on
127.0.0.1, fsync off: it holds nothing worth keeping) and stop, start or restart that.
The binaries are PostgreSQL's own (``/usr/lib/postgresql/*/bin``, or ``PG_BIN``);
without them the test fails, never skips. Run as root, the server runs as the
``postgres`` user (PostgreSQL refuses root). The server itself is in
``tests/pg_private_server.py`` (no pytest there: the chaos bench uses it too).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

import pytest

from tests import pg_private_server
from tests.pg_private_server import START_S, free_port

__all__ = ["START_S", "PrivateServer", "free_port", "private_pg", "private_server"]


class PrivateServer(pg_private_server.PrivateServer):
    """The shared private server (``tests/pg_private_server.py``); a failure fails the
    test, never skips it."""

    def _fail(self, message: str) -> NoReturn:
        pytest.fail(message, pytrace=False)


@pytest.fixture(scope="module")
def private_server() -> Iterator[PrivateServer]:
    server = PrivateServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def private_pg(private_server: PrivateServer) -> Iterator[PrivateServer]:
    """The module's private server, running at the start of the test and after it."""
    if not private_server.running():
        private_server.start()
    yield private_server
    if not private_server.running():
        private_server.start()
