"""An HHU that lists an upload whose id breaks the identifier rule: the daemon's docking
leaves it on the HHU (logged) and pulls the others, as ``hhu-sync pull`` does; the link
would refuse to ask for it, and the depot could not file it."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from types import SimpleNamespace

from hhu_sync.config import parse_config
from hhu_sync.dock.session import Session
from hhu_sync.link import UploadInfo
from hhu_sync.store import SqliteStore


def test_an_upload_id_that_breaks_the_rule_is_left_on_the_hhu(tmp_path, caplog) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    asked: list[str] = []

    class Link:
        async def get(self, upload_id, _budget):
            asked.append(upload_id)
            return b"readings"

    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}]},
                          tmp_path / "hhu-sync.toml")
    session = Session(config.docks[0], "loop://", config, store,
                      SimpleNamespace(hhu_key=lambda hhu: b"k" * 32), SimpleNamespace())
    real_decoder = session.decoder
    session.decoder = SimpleNamespace(submit=lambda *a, **k: Future())
    session._commit_when = lambda checked: checked
    hello = SimpleNamespace(uploads=[UploadInfo("x" * 65, 8, bytes(32)),
                                     UploadInfo("../U-0", 8, bytes(32)),
                                     UploadInfo("U-1", 8, bytes(32))])
    try:
        session._deadline = float("inf")
        with caplog.at_level(logging.WARNING, logger="hhu_sync.dock"):
            pending = asyncio.run(session._pull(Link(), "HHU-001", hello))
        assert asked == ["U-1"]
        assert [p.upload_id for p in pending] == ["U-1"]
        assert "identifier rule" in caplog.text and "'../U-0'" in caplog.text
    finally:
        real_decoder.close()
        store.close()
