"""`hhu-sync db status` and `hhu-sync db upgrade` on the configured store, either backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hhu_sync.cli import main
from hhu_sync.store import StoreError, open_store
from hhu_sync.store.schema_version import SCHEMA_VERSION
from tests.pg_server import fresh_database, set_schema_version
from tests.schema_v1 import ROWS, make_v1, query

NEWER = str(int(SCHEMA_VERSION) + 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def depot(request, tmp_path):
    """A configuration file and the store URL it names (nothing made yet)."""
    config = tmp_path / "hhu-sync.toml"
    if request.param == "sqlite":
        config.write_text('[paths]\ndatabase = "var/depot.db"\n')
        yield config, f"sqlite://{tmp_path}/var/depot.db"
        return
    with fresh_database() as url:
        config.write_text(f'[store]\nurl = "{url}"\n')
        yield config, url


def _db(config: Path, *args: str) -> int:
    return main(["db", *args, "--config", str(config)])


def _set_newer(url: str) -> None:
    if url.startswith("sqlite://"):
        import sqlite3
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (NEWER,))
        return
    set_schema_version(url, NEWER)


def test_status_shows_the_store_its_backend_both_versions_and_its_rows(depot, capsys):
    config, url = depot
    assert _db(config, "upgrade") == 0
    assert f"schema version {SCHEMA_VERSION} made" in capsys.readouterr().out
    assert _db(config, "status") == 0
    out = capsys.readouterr().out
    backend = "sqlite" if url.startswith("sqlite") else "postgresql"
    assert f"store: {url.removeprefix('sqlite://')}\nbackend: {backend}\n" in out
    assert f"schema version: {SCHEMA_VERSION} (this hhu-sync: {SCHEMA_VERSION}; " in out
    assert "rows readings: 0" in out
    assert _db(config, "status", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["schema_version"], shown["known_version"], shown["verdict"]) == \
        (SCHEMA_VERSION, SCHEMA_VERSION, "current")
    assert _db(config, "upgrade") == 0
    assert "already; nothing to do" in capsys.readouterr().out


def test_a_newer_schema_is_shown_and_not_downgraded_naming_both_versions(depot, capsys):
    config, url = depot
    open_store(url).close()
    _set_newer(url)
    assert _db(config, "status") == 1
    assert f"schema version: {NEWER} (this hhu-sync: {SCHEMA_VERSION}; newer" in \
        capsys.readouterr().out
    assert _db(config, "upgrade") == 1
    err = capsys.readouterr().err
    assert f"schema version {NEWER} is newer than {SCHEMA_VERSION}" in err
    assert "refusing to downgrade" in err
    assert _db(config, "status", "--json") == 1
    assert json.loads(capsys.readouterr().out)["schema_version"] == NEWER   # left as it was


def test_status_of_a_sqlite_store_not_made_yet_makes_none(tmp_path, capsys):
    config = tmp_path / "hhu-sync.toml"
    config.write_text('[paths]\ndatabase = "var/depot.db"\n')
    assert _db(config, "status") == 1
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "var" / "depot.db").exists()


def test_status_of_an_empty_postgresql_database_says_no_schema_and_makes_none(tmp_path,
                                                                             capsys):
    config = tmp_path / "hhu-sync.toml"
    with fresh_database() as url:
        config.write_text(f'[store]\nurl = "{url}"\n')
        assert _db(config, "status") == 1
        assert "schema version: none" in capsys.readouterr().out
        assert _db(config, "status", "--json") == 1
        assert json.loads(capsys.readouterr().out)["rows"] == {}     # still nothing made


def test_a_version_1_store_is_refused_then_upgraded_keeping_its_rows(depot, capsys):
    """Version 2 records which depot made each session, upload, HHU sighting and audit
    entry: ``db upgrade`` adds the column, the rows made before it keep every value and
    hold '' (not recorded), and the store then opens and writes its depot."""
    config, url = depot
    make_v1(url)
    with pytest.raises(StoreError, match=f"schema version 1, this hhu-sync uses "
                                         f"{SCHEMA_VERSION} .*db upgrade"):
        open_store(url)
    assert query(url, "SELECT value FROM meta WHERE key = 'schema_version'") == [("1",)]
    assert _db(config, "upgrade") == 0
    out = capsys.readouterr().out
    assert f"schema version 1 upgraded to {SCHEMA_VERSION}" in out
    assert query(url, "SELECT value FROM meta WHERE key = 'schema_version'") == \
        [(SCHEMA_VERSION,)]
    for table, (sql, rows) in ROWS.items():
        assert query(url, sql) == rows, table                     # every row kept
        assert query(url, f"SELECT DISTINCT depot FROM {table}") == [("",)], table
    assert query(url, "SELECT COUNT(*) FROM remote_claims") == [(0,)]   # version 2's table
    if url.startswith("postgresql"):                               # version 4's index
        [(index,)] = query(url, "SELECT indexdef FROM pg_indexes "
                                "WHERE indexname = 'list_entries_site'")
        assert "lower" in index and "serial" in index
    store = open_store(url, depot="north")
    try:
        store.start_session("cradle-2", "2026-12-01T08:00:00+00:00", hhu_id="HHU-OLD")
        assert [(s.depot, s.dock) for s in store.sessions()] == [("north", "cradle-2"),
                                                                 ("", "cradle-1")]
        assert [(d.depot, d.sessions, d.uploads) for d in store.depots()] == [
            ("", 1, 1), ("north", 1, 0)]
        assert [e.depot for e in store.audit_log()] == [""]
    finally:
        store.close()
