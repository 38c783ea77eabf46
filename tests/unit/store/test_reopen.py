"""Storage that fails and comes back: the same store object works again, no restart."""

from __future__ import annotations

import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

import hhu_sync.store.sqlite as sqlite_backend
from hhu_sync.store import SqliteStore, StorageUnavailable

NOW = "2026-11-25T12:00:00+00:00"


def _touch(store: SqliteStore, hhu: str = "HHU-001") -> None:
    store.touch_hhu(hhu, dock="dock-1", firmware="1.0", battery=80, free_flash=1000, now=NOW)


def _read_only(path, timeout_s):
    """What a file without write permission gives SQLite (root ignores chmod, so: ro)."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                           timeout=timeout_s)


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "db.sqlite"
    SqliteStore(path).close()   # the database exists, as at a daemon's restart
    return path


def test_a_store_opened_read_only_writes_once_the_permission_is_back(db_path, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "_connect", _read_only)
    store = SqliteStore(db_path)
    with pytest.raises(StorageUnavailable, match="readonly"):
        _touch(store)
    with pytest.raises(StorageUnavailable):
        _touch(store)
    monkeypatch.undo()                      # permissions restored
    _touch(store)                           # the same object, no restart
    assert [h["hhu_id"] for h in store.status()["hhus"]] == ["HHU-001"]
    assert store.reopens >= 1
    store.close()


def test_every_thread_gets_a_fresh_connection_after_the_fault(db_path, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "_connect", _read_only)
    store = SqliteStore(db_path)
    with ThreadPoolExecutor(1) as worker:
        worker.submit(store.scheme, "x").result()     # the worker opens its own, read-only
        with pytest.raises(StorageUnavailable):
            _touch(store)                               # the fault is seen in this thread
        monkeypatch.undo()
        worker.submit(_touch, store, "HHU-002").result()  # the worker writes again
    _touch(store, "HHU-001")
    assert {h["hhu_id"] for h in store.status()["hhus"]} == {"HHU-001", "HHU-002"}
    store.close()


def test_a_database_that_cannot_be_opened_is_unavailable_then_opened(tmp_path, monkeypatch):
    store = SqliteStore(tmp_path / "db.sqlite")
    store.close()                                       # e.g. the volume went away
    monkeypatch.setattr(sqlite_backend, "_connect",
                        lambda path, t: sqlite3.connect(tmp_path, timeout=t))  # CANTOPEN
    with pytest.raises(StorageUnavailable, match="cannot open"):
        _touch(store)
    monkeypatch.undo()
    _touch(store)
    assert store.status()["hhus"][0]["hhu_id"] == "HHU-001"
    store.close()


def test_a_closed_connection_is_replaced(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite")
    store._db().close()                 # closed under the store (a driver or a bug did it)
    _touch(store)
    assert store.scheme("none") is None
    store.close()


def test_one_log_line_per_state_change_not_per_attempt(db_path, monkeypatch, caplog):
    monkeypatch.setattr(sqlite_backend, "_connect", _read_only)
    store = SqliteStore(db_path)
    caplog.set_level(logging.INFO, logger="hhu_sync.store")
    for _ in range(5):
        with pytest.raises(StorageUnavailable):
            _touch(store)
    monkeypatch.undo()
    _touch(store)
    _touch(store)
    lines = [r.getMessage() for r in caplog.records if r.name == "hhu_sync.store"]
    assert len(lines) == 2
    assert "unusable" in lines[0] and "usable again" in lines[1]
    store.close()
