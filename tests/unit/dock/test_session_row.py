"""A docking that moves something is recorded as running before its first transfer, and
ended by its report: status can tell an HHU in the middle of one long transfer."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

import hhu_sync.dock.session as session_module
from hhu_sync.config import parse_config
from hhu_sync.dock.session import Session
from hhu_sync.io.driver import LinkCut
from hhu_sync.store import SqliteStore
from tests.unit.dock.fakes import DockedHHU, FakePort


def test_a_session_is_running_in_the_store_while_its_first_transfer_runs(tmp_path,
                                                                         monkeypatch):
    store = SqliteStore(tmp_path / "db.sqlite")
    seen_during: list = []

    class Link(DockedHHU):

        async def get(self, upload_id, _budget):      # a long transfer, cut in the middle
            seen_during.append(store.status()["hhus"][0]["session_running_since"])
            raise LinkCut("cable pulled")

    monkeypatch.setattr(session_module, "open_port", lambda *a, **k: FakePort())
    monkeypatch.setattr(session_module, "DockSession", Link)
    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}]},
                          tmp_path / "hhu-sync.toml")
    keys = SimpleNamespace(hhu_key=lambda hhu: b"k" * 32)
    session = Session(config.docks[0], "loop://", config, store, keys, None)
    try:
        result = asyncio.run(session.run())
        assert result.outcome == "cut"
        assert seen_during[0] is not None               # running while it transferred
        (row,) = store.status()["sessions"]
        assert (row["hhu_id"], row["outcome"], row["ended_at"] is not None) == (
            "HHU-001", "cut", True)
        assert store.status()["hhus"][0]["session_running_since"] is None
    finally:
        session.decoder.close()
        store.close()


def test_an_idle_docking_records_no_session(tmp_path, monkeypatch):
    """The HHU is polled every few seconds while it sits in its cradle with nothing to do:
    those polls are not sessions (the table would grow by one row a poll)."""
    store = SqliteStore(tmp_path / "db.sqlite")

    class Link(DockedHHU):
        UPLOADS = ()

    monkeypatch.setattr(session_module, "open_port", lambda *a, **k: FakePort())
    monkeypatch.setattr(session_module, "DockSession", Link)
    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}]},
                          tmp_path / "hhu-sync.toml")
    keys = SimpleNamespace(hhu_key=lambda hhu: b"k" * 32)
    session = Session(config.docks[0], "loop://", config, store, keys, None)
    try:
        assert asyncio.run(session.run()).outcome == "idle"
        assert store.status()["sessions"] == []
    finally:
        session.decoder.close()
        store.close()


def test_a_session_ended_by_an_unexpected_fault_is_not_left_running(tmp_path, monkeypatch):
    store = SqliteStore(tmp_path / "db.sqlite")

    class Link(DockedHHU):

        async def get(self, upload_id, _budget):
            raise ValueError("a bug in a driver")

    monkeypatch.setattr(session_module, "open_port", lambda *a, **k: FakePort())
    monkeypatch.setattr(session_module, "DockSession", Link)
    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}]},
                          tmp_path / "hhu-sync.toml")
    session = Session(config.docks[0], "loop://", config, store,
                      SimpleNamespace(hhu_key=lambda hhu: b"k" * 32), None)
    try:
        with pytest.raises(ValueError):
            asyncio.run(session.run())                          # the manager logs it and goes on
        (row,) = store.status()["sessions"]
        assert row["outcome"] == "error" and row["ended_at"] is not None
        assert store.status()["hhus"][0]["session_running_since"] is None
    finally:
        session.decoder.close()
        store.close()
