"""A dock whose sessions fail because the storage does: retried with a capped back-off,
one log line when it starts failing and one when it works again, never one per poll."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

import hhu_sync.dock.session as session_module
import hhu_sync.store.sqlite as sqlite_backend
from hhu_sync.config import parse_config
from hhu_sync.dock.manager import MAX_BACKOFF_S, DockManager
from hhu_sync.store import SqliteStore
from tests.unit.dock.fakes import DockedHHU, FakePort
from tests.unit.store.test_reopen import FAULTS, _FailingConnection


class _Link(DockedHHU):
    """A docked HHU with nothing to unload (the link itself is not under test)."""

    UPLOADS = ()


@pytest.fixture
def manager(tmp_path, monkeypatch):
    monkeypatch.setattr(session_module, "open_port", lambda *a, **k: FakePort())
    monkeypatch.setattr(session_module, "DockSession", _Link)
    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}],
                           "schedule": {"poll_seconds": 1.0}}, tmp_path / "hhu-sync.toml")
    store = SqliteStore(tmp_path / "db.sqlite")
    now = [0.0]
    results = []
    keys = SimpleNamespace(hhu_key=lambda hhu: b"k" * 32)
    m = DockManager(config, store, keys, None, generation=lambda: 0,
                    on_result=lambda d, g, r: results.append(r), clock=lambda: now[0])
    yield m, store, now, results
    m.shutdown()
    store.close()


def _poll_for(m, now, seconds: float) -> None:
    """Poll every second of ``seconds``, as the manager's loop does; each poll's
    dockings end before the next second."""
    async def polls() -> None:
        end = now[0] + seconds
        while now[0] < end:
            await asyncio.gather(*m.poll())
            now[0] += 1.0

    asyncio.run(polls())


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_dock_on_failing_storage_backs_off_with_a_cap_and_logs_state_changes(
        manager, caplog, fault):
    m, store, now, results = manager
    caplog.set_level(logging.DEBUG, logger="hhu_sync.dock")
    store.close()                         # the next operation opens on failing storage
    code, name = FAULTS[fault]
    real = sqlite_backend._connect
    with pytest.MonkeyPatch.context() as failing:
        failing.setattr(sqlite_backend, "_connect",
                        lambda path, t: _FailingConnection(real(path, t), code, name))
        _poll_for(m, now, 600)            # ten minutes of polls, one a second
        tried = m.states["dock-1"].polls
        assert 8 <= tried <= 600 / MAX_BACKOFF_S + 10      # backed off, and never given up
        assert all(r.outcome == "error" and r.storage_unavailable for r in results)
        said = [r for r in caplog.records
                if r.levelno >= logging.INFO and r.name == "hhu_sync.dock"]
        assert len(said) == 1 and "storage unavailable" in said[0].getMessage()

    _poll_for(m, now, MAX_BACKOFF_S + 1)  # the storage is back: within one capped wait
    assert results[-1].outcome == "idle" and m.states["dock-1"].failures == 0
    said = [r.getMessage() for r in caplog.records
            if r.levelno >= logging.INFO and r.name == "hhu_sync.dock"]
    assert len(said) == 2 and "usable again" in said[1]
    assert [h["hhu_id"] for h in store.status()["hhus"]] == ["HHU-001"]


class _KeyedLink(_Link):
    """As the real link: the handshake asks the key store for the docked HHU's key."""

    def __init__(self, _port, keys, **__) -> None:
        self.keys = keys

    async def handshake(self, timeout):
        self.keys("HHU-001")
        return await super().handshake(timeout)


def test_an_unusable_key_store_is_logged_once_per_state_change(tmp_path, monkeypatch, caplog):
    """``hhus/`` swapped for a symlink: the key store refuses it at every session; the
    dock says so once, backs off, and once when the store is usable again."""
    from hhu_sync.keys import KeyStore

    monkeypatch.setattr(session_module, "open_port", lambda *a, **k: FakePort())
    monkeypatch.setattr(session_module, "DockSession", _KeyedLink)
    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}],
                           "schedule": {"poll_seconds": 1.0}}, tmp_path / "hhu-sync.toml")
    keystore = KeyStore(tmp_path / "keys")
    keystore.enroll("HHU-001")
    hhus = tmp_path / "keys" / "hhus"
    hhus.rename(tmp_path / "elsewhere")
    hhus.symlink_to(tmp_path / "elsewhere")
    store = SqliteStore(tmp_path / "db.sqlite")
    now, results = [0.0], []
    m = DockManager(config, store, keystore, None, generation=lambda: 0,
                    on_result=lambda d, g, r: results.append(r), clock=lambda: now[0])
    caplog.set_level(logging.DEBUG)
    try:
        _poll_for(m, now, 600)
        assert m.states["dock-1"].polls >= 8 and all(r.outcome == "error" for r in results)
        said = [r.getMessage() for r in caplog.records
                if r.levelno >= logging.INFO and r.name.startswith("hhu_sync")]
        assert len(said) == 1 and "key store" in said[0], said
        hhus.unlink()
        (tmp_path / "elsewhere").rename(hhus)
        _poll_for(m, now, MAX_BACKOFF_S + 1)
        assert results[-1].outcome == "idle"
        said = [r.getMessage() for r in caplog.records
                if r.levelno >= logging.INFO and r.name.startswith("hhu_sync")]
        assert len(said) == 2 and "usable again" in said[1], said
    finally:
        m.shutdown()
        store.close()
