"""What a running daemon says of its store where a person or a monitor looks: the
health file `hhu-sync status` reads (written whole, read bounded and typed), and the web
app's /healthz (503 while the store is unavailable)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from hhu_sync.cli.status_cmd import _daemon_line
from hhu_sync.daemon_health import (
    MAX_HEALTH_BYTES,
    health_path,
    read_health,
    remove_health,
    write_health,
)
from hhu_sync.store import StorageUnavailable
from hhu_sync.store.pending import PendingStore, StoreHealth, StoreState
from hhu_sync.web.app import create_app

SINCE = "2026-12-03T10:00:00+00:00"


def test_the_health_written_is_the_health_read_and_gone_at_shutdown(tmp_path):
    db = tmp_path / "hhu-sync.db"
    write_health(db, StoreHealth(StoreState.UNAVAILABLE, SINCE, opened=False, attempts=3,
                                 error="connection refused", retry_in_s=4.0))
    assert read_health(db) == {"state": "unavailable", "since": SINCE, "opened": False,
                               "attempts": 3, "error": "connection refused",
                               "retry_in_s": 4.0}
    remove_health(db)
    assert not health_path(db).exists() and read_health(db) is None


@pytest.mark.parametrize("planted", [
    b"[" * 100_000,                                        # nested past any recursion
    b"x" * (MAX_HEALTH_BYTES + 10),                        # huge: not read whole
    json.dumps({"state": "fine"}).encode(),                # a state that is none of ours
    b"\xff\xfe",
])
def test_a_planted_health_file_is_no_health_at_all(tmp_path, planted):
    db = tmp_path / "hhu-sync.db"
    health_path(db).write_bytes(planted)
    assert read_health(db) is None


def test_values_of_the_wrong_type_are_dropped_and_long_text_is_cut(tmp_path):
    db = tmp_path / "hhu-sync.db"
    health_path(db).write_text(json.dumps({"state": "unavailable", "attempts": "many",
                                           "opened": 1, "error": "e" * 5000}))
    health = read_health(db)
    assert health is not None
    assert health["attempts"] is None and health["opened"] is None
    assert len(health["error"]) == 400


def test_status_says_a_running_daemons_store_is_unavailable_and_how_often_it_tried():
    now = datetime(2026, 12, 3, 10, 5, tzinfo=UTC)
    daemon = {"running": True, "pid": 42, "since": SINCE,
              "store": {"state": "unavailable", "since": SINCE, "opened": False,
                        "attempts": 7, "error": "connection refused", "retry_in_s": 30}}
    line = _daemon_line(daemon, now)
    assert line.startswith("daemon: running (pid 42")
    assert "its store is UNAVAILABLE since" in line
    assert "7 failed attempts to open it (connection refused)" in line
    daemon["store"] = {**daemon["store"], "state": "open"}
    assert "store" not in _daemon_line(daemon, now)


def test_healthz_is_503_with_the_stores_health_while_the_daemons_store_is_not_open():
    def refused(url):
        raise StorageUnavailable(f"{url}: connection refused")

    store = PendingStore("postgresql://depot@127.0.0.1:1/hhu", refused)
    store.try_open()
    with TestClient(create_app(store), base_url="http://127.0.0.1:8080") as client:
        answer = client.get("/healthz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["ok"] is False
    assert (body["store"]["state"], body["store"]["attempts"]) == ("unavailable", 1)
    assert "connection refused" in body["store"]["error"]
