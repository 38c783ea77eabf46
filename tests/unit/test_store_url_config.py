"""``[store] url``: which store a configuration names, checked at load, never a password."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from hhu_sync.config import parse_config, store_url
from hhu_sync.model.problems import ModelError
from hhu_sync.store.opening import committers_for

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path, **tables):
    return parse_config(tables, tmp_path / "hhu-sync.toml")


def _refused(tmp_path, **tables) -> str:
    with pytest.raises(ModelError) as refused:
        _config(tmp_path, **tables)
    (problem,) = refused.value.problems
    return str(problem)


def test_without_a_store_url_the_store_is_the_sqlite_file_of_paths_database(tmp_path):
    config = _config(tmp_path, paths={"database": "db/depot.db"})
    assert store_url(config) == f"sqlite://{tmp_path}/db/depot.db"
    assert store_url(_config(tmp_path)) == f"sqlite://{tmp_path}/var/hhu-sync.db"


def test_a_relative_database_path_gives_an_absolute_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = parse_config({}, Path("conf/hhu-sync.toml"))
    assert store_url(config) == "sqlite://" + os.path.abspath("conf/var/hhu-sync.db")


def test_a_sqlite_url_is_the_database_path_too(tmp_path):
    config = _config(tmp_path, store={"url": f"sqlite://{tmp_path}/elsewhere.db"})
    assert config.paths.database == tmp_path / "elsewhere.db"       # the lock sits beside it
    assert store_url(config) == f"sqlite://{tmp_path}/elsewhere.db"


def test_a_sqlite_url_and_another_database_path_are_refused_naming_both(tmp_path):
    problem = _refused(tmp_path, store={"url": f"sqlite://{tmp_path}/a.db"},
                       paths={"database": "b.db"})
    assert "store.url" in problem and "a.db" in problem and "b.db" in problem


def test_a_postgresql_url_is_taken_as_it_is(tmp_path):
    url = "postgresql://hhu@db.example:5433/hhu_sync"
    config = _config(tmp_path, store={"url": url})
    assert store_url(config) == url
    assert config.paths.database == tmp_path / "var" / "hhu-sync.db"   # unchanged


@pytest.mark.parametrize("url", [
    "postgresql://hhu:s3cret-pw@db.example/hhu_sync",
    "postgres://hhu:s3cret-pw@db.example/hhu_sync",
    "postgresql://hhu@db.example/hhu_sync?sslmode=require&password=s3cret-pw",
])
def test_a_url_with_a_password_is_refused_without_repeating_it(tmp_path, url):
    problem = _refused(tmp_path, store={"url": url})
    assert "store.url" in problem
    assert "PGPASSFILE or the key store, never the configuration file" in problem
    assert "s3cret" not in problem


@pytest.mark.parametrize(("url", "says"), [
    ("mysql://db/x", "expected sqlite:///path or postgresql://user@host/db, found mysql://"),
    ("var/hhu-sync.db", "expected sqlite:///path or postgresql://user@host/db"),
    ("sqlite://var/hhu-sync.db", "three slashes"),
    ("  ", "must not be empty"),
])
def test_a_url_of_no_store_this_hhu_sync_opens_is_refused_naming_the_field(tmp_path, url,
                                                                           says):
    problem = _refused(tmp_path, store={"url": url})
    assert "store.url" in problem and says in problem


def test_an_unknown_key_of_the_store_table_is_refused(tmp_path):
    assert "store.uri" in _refused(tmp_path, store={"uri": "sqlite:///x"})


_SQLITE_ONLY = re.compile(r"^\s*(import sqlite3|from sqlite3 |.*hhu_sync\.store\.sqlite\b|"
                          r"from hhu_sync\.store import .*\bsqlite\b|.*\bSqliteStore\()",
                          re.M)


def test_nothing_outside_the_store_knows_the_sqlite_backend():
    """The daemon, the commands, the workers and the web app open a store by its URL
    (hhu_sync.store.open_store) and talk to the Store contract, whichever backend."""
    found = [f"{p.relative_to(ROOT)}: {m.group(0).strip()}"
             for p in sorted((ROOT / "hhu_sync").rglob("*.py"))
             if "store" not in p.relative_to(ROOT / "hhu_sync").parts[:1]
             for m in _SQLITE_ONLY.finditer(p.read_text())]
    assert found == []


def test_one_committer_thread_commits_into_sqlite_two_into_postgresql(tmp_path):
    # SQLite admits one writer to a file at a time; PostgreSQL overlaps two uploads'
    # commits (bench/ingest.py), their order kept by the server's locks
    assert committers_for(tmp_path / "hhu.db") == 1
    assert committers_for(f"sqlite:///{tmp_path}/hhu.db") == 1
    assert committers_for("postgresql://hhu@db.example/depots") == 2
