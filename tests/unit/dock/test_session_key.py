"""An HHU taken out of the key store while it is docked: nothing is pulled without its key
(found by the type check: the key store answers None for an HHU it does not hold)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import hhu_sync.dock.session as session_module
from hhu_sync.config import parse_config
from hhu_sync.dock.session import Session
from hhu_sync.store import SqliteStore
from tests.unit.dock.fakes import DockedHHU, FakePort


def test_an_hhu_unenrolled_after_its_handshake_is_refused_before_any_pull(tmp_path,
                                                                            monkeypatch):
    store = SqliteStore(tmp_path / "db.sqlite")
    pulled: list[str] = []

    class Link(DockedHHU):

        async def get(self, upload_id, _budget):
            pulled.append(upload_id)
            return b"not checked without a key"

    monkeypatch.setattr(session_module, "open_port", lambda *a, **k: FakePort())
    monkeypatch.setattr(session_module, "DockSession", Link)
    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}]},
                          tmp_path / "hhu-sync.toml")
    keys = SimpleNamespace(hhu_key=lambda hhu: None)     # removed since the handshake
    session = Session(config.docks[0], "loop://", config, store, keys, None)
    try:
        result = asyncio.run(session.run())
        assert pulled == []
        assert result.outcome == "error"
        assert result.errors == ["HHU-001 is no longer enrolled"]
    finally:
        session.decoder.close()
        store.close()
