"""A store as hhu-sync made it at schema version 1, for the upgrade tests: the tables of
that version's schema files, kept as they went out (tests/data/schema_v1/), and a few
rows a depot had recorded by then (a session, an upload, an HHU, an audit entry)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from tests.conftest import ROOT

V1 = ROOT / "tests" / "data" / "schema_v1"
AT = "2026-11-20T09:00:00+00:00"
#: the rows make_v1 writes, as a reader of version 1 sees them
ROWS = {
    "sessions": ("SELECT hhu_id, dock, outcome FROM sessions", [("HHU-OLD", "cradle-1", "done")]),
    "uploads": ("SELECT upload_id, hhu_id, stored FROM uploads", [("U-OLD", "HHU-OLD", 3)]),
    "hhus": ("SELECT hhu_id, dock FROM hhus", [("HHU-OLD", "cradle-1")]),
    "audit": ('SELECT "user", action, target FROM audit', [("ada", "user.add", "dana")]),
}
_INSERTS = (
    "INSERT INTO meta VALUES ('schema_version', '1')",
    "INSERT INTO hhus (hhu_id, crew, firmware, dock, last_seen) VALUES "
    f"('HHU-OLD', 'north', '1.0', 'cradle-1', '{AT}')",
    "INSERT INTO sessions (hhu_id, dock, started_at, ended_at, outcome) VALUES "
    f"('HHU-OLD', 'cradle-1', '{AT}', '{AT}', 'done')",
    "INSERT INTO uploads (upload_id, hhu_id, received_at, visits, readings, stored, sha256) "
    f"VALUES ('U-OLD', 'HHU-OLD', '{AT}', 1, 3, 3, '{'0' * 64}')",
    'INSERT INTO audit (at, "user", action, target) VALUES '
    f"('{AT}', 'ada', 'user.add', 'dana')",
)


def make_v1(url: str) -> None:
    """Make the version 1 schema and its rows in the empty store ``url`` (a
    ``sqlite://`` file not made yet, or an empty PostgreSQL database)."""
    if url.startswith("sqlite://"):
        path = Path(url.removeprefix("sqlite://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as db:
            db.executescript((V1 / "schema.sql").read_text())
            for sql in _INSERTS:
                db.execute(sql)
        return
    with psycopg.connect(url, autocommit=True) as db, db.transaction():
        db.execute((V1 / "postgres_schema.sql").read_text())
        for sql in _INSERTS:
            db.execute(sql)


def query(url: str, sql: str) -> list[tuple]:
    """Rows of ``sql`` on the store ``url``, read past the store's own code."""
    if url.startswith("sqlite://"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            return db.execute(sql).fetchall()
    with psycopg.connect(url, autocommit=True) as db:
        return db.execute(sql).fetchall()
