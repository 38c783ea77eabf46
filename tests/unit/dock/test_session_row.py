"""A docking that moves something is recorded as running before its first transfer, and
ended by its report: status can tell an HHU in the middle of one long transfer."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import hhu_sync.dock.session as session_module
from hhu_sync.config import parse_config
from hhu_sync.dock.session import Session
from hhu_sync.io.driver import LinkCut
from hhu_sync.store import SqliteStore


class _Port:
    def close(self) -> None:
        pass


def test_a_session_is_running_in_the_store_while_its_first_transfer_runs(tmp_path,
                                                                         monkeypatch):
    store = SqliteStore(tmp_path / "db.sqlite")
    seen_during: list = []

    class Link:
        def __init__(self, *_, **__) -> None:
            pass

        def handshake(self, _timeout):
            return SimpleNamespace(hhu_id="HHU-001", firmware="1.0", battery_pct=90,
                                   free_flash=10_000,
                                   uploads=[SimpleNamespace(upload_id="U-1")])

        def get(self, upload_id, _budget):      # a long transfer, cut in the middle
            seen_during.append(store.status()["hhus"][0]["session_running_since"])
            raise LinkCut("cable pulled")

    monkeypatch.setattr(session_module, "open_port", lambda *a, **k: _Port())
    monkeypatch.setattr(session_module, "DockSession", Link)
    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}]},
                          tmp_path / "hhu-sync.toml")
    keys = SimpleNamespace(hhu_key=lambda hhu: b"k" * 32)
    session = Session(config.docks[0], "loop://", config, store, keys, None)
    try:
        result = session.run()
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

    class Link:
        def __init__(self, *_, **__) -> None:
            pass

        def handshake(self, _timeout):
            return SimpleNamespace(hhu_id="HHU-001", firmware="1.0", battery_pct=90,
                                   free_flash=10_000, uploads=[])

        def close(self, *_):
            return True

    monkeypatch.setattr(session_module, "open_port", lambda *a, **k: _Port())
    monkeypatch.setattr(session_module, "DockSession", Link)
    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}]},
                          tmp_path / "hhu-sync.toml")
    keys = SimpleNamespace(hhu_key=lambda hhu: b"k" * 32)
    session = Session(config.docks[0], "loop://", config, store, keys, None)
    try:
        assert session.run().outcome == "idle"
        assert store.status()["sessions"] == []
    finally:
        session.decoder.close()
        store.close()


def test_a_bundle_refused_while_uploads_hold_flash_is_offered_again_whatever_the_wording(
        tmp_path, monkeypatch):
    """The HHU's REFUSE carries only text: the dock must not tell "no room" by wording.
    Uploads waiting for their acknowledgement are given up (each after its commit) and
    the bundle is offered once more, whatever the reason said."""
    from collections import deque
    from concurrent.futures import Future

    from hhu_sync.dock.session import _Pulled
    from hhu_sync.ingest import IngestReport
    from hhu_sync.io.dock import Refused
    from tests.unit.store.helpers import meter_list

    store = SqliteStore(tmp_path / "db.sqlite")
    store.add_meter_list(meter_list("L1"), "2026-11-25T12:00:00+00:00")
    said: list = []

    class Link:
        def put(self, bundle_id, data, _budget):
            said.append(("put", bundle_id))
            if len(said) == 1:
                raise Refused(bundle_id, "kein Platz: 120 Bytes frei")
            return False

        def ack(self, upload_id, _budget):
            said.append(("ack", upload_id))

    committed: Future = Future()
    committed.set_result((None, IngestReport("U-1", "HHU-001", already_held=True)))
    pending = deque([_Pulled("U-1", b"", b"k" * 32, committed)])
    packer = SimpleNamespace(ensure=lambda d, hhu: SimpleNamespace(data=b"x" * 10,
                                                                  bundle_id="B-1"))
    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}]},
                          tmp_path / "hhu-sync.toml")
    session = Session(config.docks[0], "loop://", config, store,
                      SimpleNamespace(hhu_key=lambda hhu: b"k" * 32), packer)
    try:
        session._deadline = float("inf")
        session._push(Link(), "HHU-001", pending)
        assert said == [("put", "B-1"), ("ack", "U-1"), ("put", "B-1")]
        assert session.result.pushed == ["B-1"] and store.list_state("L1") == "on_hhu"
    finally:
        session.decoder.close()
        store.close()


def test_a_session_ended_by_an_unexpected_fault_is_not_left_running(tmp_path, monkeypatch):
    store = SqliteStore(tmp_path / "db.sqlite")

    class Link:
        def __init__(self, *_, **__) -> None:
            pass

        def handshake(self, _timeout):
            return SimpleNamespace(hhu_id="HHU-001", firmware="1.0", battery_pct=90,
                                   free_flash=10_000,
                                   uploads=[SimpleNamespace(upload_id="U-1")])

        def get(self, upload_id, _budget):
            raise ValueError("a bug in a driver")

    monkeypatch.setattr(session_module, "open_port", lambda *a, **k: _Port())
    monkeypatch.setattr(session_module, "DockSession", Link)
    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}]},
                          tmp_path / "hhu-sync.toml")
    session = Session(config.docks[0], "loop://", config, store,
                      SimpleNamespace(hhu_key=lambda hhu: b"k" * 32), None)
    try:
        with pytest.raises(ValueError):
            session.run()                          # the manager logs it and goes on
        (row,) = store.status()["sessions"]
        assert row["outcome"] == "error" and row["ended_at"] is not None
        assert store.status()["hhus"][0]["session_running_since"] is None
    finally:
        session.decoder.close()
        store.close()
