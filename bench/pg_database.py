"""A bench's own PostgreSQL database: made empty on the server a ``--store`` URL names,
dropped when the bench is done (the benches never write into a database they did not make).

    with bench_database("postgresql://postgres@127.0.0.1:5432/hhu_bench") as url: ...
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import conninfo

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _admin(url: str) -> psycopg.Connection:
    """A connection to the server's ``postgres`` database (where databases are made)."""
    return psycopg.connect(conninfo.make_conninfo(url, dbname="postgres"), autocommit=True,
                           connect_timeout=10)


def _dbname(url: str) -> str:
    name = conninfo.conninfo_to_dict(url).get("dbname") or ""
    if not _NAME.fullmatch(name):
        raise SystemExit(f"--store {url}: name a database for the bench to make and drop "
                         "(lower-case letters, digits, _), e.g. "
                         "postgresql://postgres@127.0.0.1:5432/hhu_bench")
    return str(name)


@contextmanager
def bench_database(url: str) -> Iterator[str]:
    """The URL of the database ``url`` names, made empty (C collation, as the store
    expects) and dropped afterwards. One that already exists is refused, not reused."""
    name = _dbname(url)
    with _admin(url) as db:
        if db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            raise SystemExit(f"--store {url}: database {name} exists; the bench makes its "
                             "own and drops it, so name one that does not exist")
        db.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\' '
                   "LC_COLLATE 'C' LC_CTYPE 'C'")
    try:
        yield url
    finally:
        with _admin(url) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
