"""A cradle whose HHU was taken out says so once: the board shows it empty again, not
the last HHU "safe to remove" for ever, and an empty cradle's polls stay silent."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from hhu_sync.config import parse_config
from hhu_sync.dock.events import SessionEnded
from hhu_sync.dock.manager import DockManager
from hhu_sync.dock.session import Outcome, SessionResult
from hhu_sync.store import SqliteStore


def _manager(tmp_path, dock: dict) -> tuple[DockManager, SqliteStore, list]:
    """A manager of one cradle, and what its hub publishes."""
    config = parse_config({"docks": [{"name": "dock-1", **dock}]}, tmp_path / "hhu-sync.toml")
    store = SqliteStore(tmp_path / "db.sqlite")
    m = DockManager(config, store, SimpleNamespace(hhu_key=lambda hhu: b"k" * 32), None,
                    generation=lambda: 0, on_result=lambda d, g, r: None)
    heard: list = []
    m.events.subscribe(heard.append)
    return m, store, heard


@pytest.fixture
def manager(tmp_path):
    m, store, heard = _manager(tmp_path, {"port": "loop://"})
    yield m, heard
    m.shutdown()
    store.close()


def _ended(m: DockManager, outcome: Outcome, hhu: str | None = None) -> None:
    m._finish(m.config.docks[0], 0, SessionResult("dock-1", outcome, hhu_id=hhu))  # noqa: SLF001


def test_the_first_silent_poll_after_an_hhu_answered_publishes_the_cradle_empty(manager):
    m, heard = manager
    _ended(m, Outcome.DONE, "HHU-001")
    _ended(m, Outcome.IDLE, "HHU-001")
    assert heard == []                       # the sessions publish their own ends
    _ended(m, Outcome.EMPTY)
    _ended(m, Outcome.EMPTY)                 # and again: nothing more
    assert [(type(e), e.hhu_id, e.outcome) for e in heard] == [
        (SessionEnded, None, "empty")]
    assert m.events.board.snapshot()[0]["phase"] == "empty"


def test_a_cradle_that_was_always_empty_publishes_nothing(manager):
    m, heard = manager
    for _ in range(3):
        _ended(m, Outcome.EMPTY)
    assert heard == []


def test_a_cradle_unplugged_after_an_hhu_answered_publishes_the_cradle_empty(tmp_path):
    m, store, heard = _manager(tmp_path, {"usb_serial": "NO-SUCH-ADAPTER"})
    try:
        _ended(m, Outcome.DONE, "HHU-001")
        for _ in range(2):
            asyncio.run(m._docking(m.config.docks[0], 0))  # noqa: SLF001
        assert [(e.hhu_id, e.outcome) for e in heard] == [(None, "empty")]
    finally:
        m.shutdown()
        store.close()
