"""The docks page: every cradle with its HHU, phase and transfers, live over server-sent
events; the same as JSON; a cradle's values shown as text whatever they hold."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time

from starlette.testclient import TestClient

from hhu_sync.config import parse_config
from hhu_sync.dock.events import (
    Direction,
    EventHub,
    HhuAuthenticated,
    Phase,
    PhaseChanged,
    SessionEnded,
    TransferProgress,
)
from hhu_sync.web.app import create_app
from hhu_sync.web.feed import STREAM_QUEUE, DockFeed
from hhu_sync.web.server import WebServer
from tests.conftest import ROOT
from tests.unit.web.conftest import PASSWORD, log_in

T = 1_800_000_000.0


def _docking(hub: EventHub, dock: str = "cradle-1", done: int = 4096) -> None:
    hub.publish(PhaseChanged(dock, T, Phase.AUTHENTICATING))
    hub.publish(HhuAuthenticated(dock, T, "HHU-001", "2.1", 87, 1 << 20, "crew-north"))
    hub.publish(PhaseChanged(dock, T, Phase.UNLOADING, "HHU-001"))
    hub.publish(TransferProgress(dock, T, "HHU-001", Direction.UP, "U-1", 0, 8192))
    hub.publish(TransferProgress(dock, T + 2, "HHU-001", Direction.UP, "U-1", done, 8192))


def test_the_board_follows_a_docking_and_says_when_it_is_safe_to_remove():
    hub = EventHub()
    hub.board.known(["cradle-1", "cradle-2"])
    _docking(hub)
    one, two = hub.board.snapshot()
    assert (one["phase"], one["hhu_id"], one["crew"], one["battery_pct"]) == (
        "unloading", "HHU-001", "crew-north", 87)
    assert not one["safe_to_remove"]
    (t,) = one["transfers"]
    assert (t["done"], t["total"], t["rate"], t["seconds_left"]) == (4096, 8192, 2048.0, 2.0)
    assert two["phase"] == "empty" and two["safe_to_remove"]
    hub.publish(SessionEnded("cradle-1", T + 5, "HHU-001", "done"))
    assert hub.board.snapshot()[0]["safe_to_remove"]
    hub.publish(PhaseChanged("cradle-1", T + 9, Phase.AUTHENTICATING))   # the next HHU
    hub.publish(HhuAuthenticated("cradle-1", T + 9, "HHU-002", "2.1", 90, 1 << 20, None))
    one = hub.board.snapshot()[0]
    assert (one["hhu_id"], one["transfers"], one["phase"]) == ("HHU-002", [], "authenticating")
    assert not one["safe_to_remove"]


def _done_then_polled_again(hub: EventHub) -> None:
    _docking(hub, done=8192)
    hub.publish(SessionEnded("cradle-1", T + 5, "HHU-001", "done"))
    hub.publish(PhaseChanged("cradle-1", T + 35, Phase.AUTHENTICATING))   # the next poll
    hub.publish(HhuAuthenticated("cradle-1", T + 35, "HHU-001", "2.1", 86, 1 << 20,
                                 "crew-north"))


def test_an_hhu_left_in_its_cradle_stays_safe_to_remove_through_every_poll():
    hub = EventHub()
    seen = []
    _done_then_polled_again(hub)
    seen.append(hub.board.snapshot()[0])
    hub.publish(SessionEnded("cradle-1", T + 36, "HHU-001", "idle"))
    seen.append(hub.board.snapshot()[0])
    for one in seen:        # no flicker to "authenticating"; the last docking stays shown
        assert (one["phase"], one["outcome"], one["safe_to_remove"]) == ("done", "done", True)
        assert [t["done"] for t in one["transfers"]] == [8192]
    assert seen[-1]["battery_pct"] == 86      # what the poll learnt is shown


def test_an_hhu_polled_again_that_has_work_starts_a_new_docking_on_the_board():
    hub = EventHub()
    _done_then_polled_again(hub)
    hub.publish(PhaseChanged("cradle-1", T + 36, Phase.LOADING, "HHU-001"))
    one = hub.board.snapshot()[0]
    assert (one["phase"], one["outcome"], one["transfers"]) == ("loading", None, [])
    assert not one["safe_to_remove"]


def test_a_poll_of_a_docked_hhu_that_fails_shows_the_failure():
    hub = EventHub()
    _done_then_polled_again(hub)
    hub.publish(SessionEnded("cradle-1", T + 36, "HHU-001", "cut", ("line cut",)))
    one = hub.board.snapshot()[0]
    assert (one["phase"], one["outcome"], one["errors"]) == ("failed", "cut", ["line cut"])


def test_a_cradle_whose_hhu_was_taken_out_is_empty_again():
    hub = EventHub()
    _docking(hub, done=8192)
    hub.publish(SessionEnded("cradle-1", T + 5, "HHU-001", "done"))
    hub.publish(SessionEnded("cradle-1", T + 35, None, "empty"))
    one = hub.board.snapshot()[0]
    assert (one["phase"], one["hhu_id"], one["battery_pct"], one["transfers"]) == (
        "empty", None, None, [])


def test_a_subscriber_that_raises_does_not_stop_the_others_or_the_docking():
    hub = EventHub()
    heard = []

    def broken(event):
        raise RuntimeError("a bad subscriber")

    hub.subscribe(broken)
    hub.subscribe(heard.append)
    _docking(hub)
    assert len(heard) == 5 and hub.failures == 5


def test_a_queue_subscriber_is_bounded_and_counts_what_it_dropped():
    hub = EventHub()
    queue = hub.subscribe_queue(maxsize=3)
    _docking(hub)
    assert queue.dropped == 2
    assert [queue.get(0.01) for _ in range(4)][-1] is None
    queue.close()
    _docking(hub)
    assert queue.get(0.01) is None


def test_the_stream_starts_with_a_snapshot_then_sends_each_cradle_that_moved():
    hub = EventHub()
    hub.board.known(["cradle-1"])

    async def main():
        feed = DockFeed(hub, threading.Event())
        stream = feed.stream()
        first = await stream.__anext__()
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, _docking, hub)
        second = await asyncio.wait_for(stream.__anext__(), 5)
        assert len(feed.streams) == 1
        await stream.aclose()
        return first, second, feed

    first, second, feed = asyncio.run(main())
    assert first.startswith("event: snapshot\n")
    assert json.loads(first.split("data: ", 1)[1])[0]["phase"] == "empty"
    assert second.startswith("event: cradle\n")
    assert json.loads(second.split("data: ", 1)[1])["hhu_id"] == "HHU-001"
    assert feed.streams == set()                           # gone with it


def test_every_browser_gets_the_same_chunk_and_one_fallen_behind_a_fresh_snapshot(
        monkeypatch):
    monkeypatch.setattr("hhu_sync.web.feed.SSE_COALESCE_S", 0.001)
    hub = EventHub()
    hub.board.known(["cradle-1"])

    async def main():
        feed = DockFeed(hub, threading.Event())
        fast, slow = feed.stream(), feed.stream()
        await fast.__anext__()
        await slow.__anext__()                             # both hold their snapshot
        got = []
        for i in range(STREAM_QUEUE + 2):                  # the slow one reads nothing
            _docking(hub, done=100 + i)
            got.append(await asyncio.wait_for(fast.__anext__(), 5))
        behind = await asyncio.wait_for(slow.__anext__(), 5)
        await fast.aclose()
        await slow.aclose()
        return got, behind

    got, behind = asyncio.run(main())
    assert all(g.startswith("event: cradle\n") for g in got)
    assert behind.startswith("event: snapshot\n")


def test_the_docks_page_and_api_show_the_board_with_markup_as_text(store, clock):
    hub = EventHub()
    hub.publish(PhaseChanged("cradle-<b>1</b>", T, Phase.AUTHENTICATING))
    hub.publish(SessionEnded("cradle-<b>1</b>", T, None, "auth_failed",
                             ("<script>alert(1)</script>",)))
    app = create_app(store, clock=clock, extra={"events": hub})
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/api/docks").status_code == 401
        assert client.get("/api/docks/events").status_code == 401
        log_in(client, "dana")
        api = client.get("/api/docks").json()
        assert api["live"] and api["cradles"][0]["phase"] == "failed"
        page = client.get("/docks").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "cradle-&lt;b&gt;1&lt;/b&gt;" in page
    assert '<script src="/static/docks.js" defer></script>' in page


def test_the_first_page_shows_free_flash_rate_and_time_left_as_live_redraws_do(store,
                                                                             clock):
    hub = EventHub()
    hub.board.known(["cradle-1"])
    _docking(hub)                                  # 1 MiB free; 4096 of 8192 B at 2 KiB/s
    app = create_app(store, clock=clock, extra={"events": hub})
    with TestClient(app, follow_redirects=False) as client:
        log_in(client, "dana")
        page = client.get("/docks").text
    assert "HHU-001 · crew-north · battery 87% · 1.0 MiB free</p>" in page
    assert '<span class="detail">4.0 KiB / 8.0 KiB · 2.0 KiB/s · 2 s left</span>' in page
    script = (ROOT / "hhu_sync" / "web" / "static" / "docks.js").read_text()
    assert '" MiB"' in script and '" KiB"' in script      # the live redraws write alike


def test_a_browser_gets_the_events_from_a_real_server_as_they_happen(store, tmp_path):
    config = parse_config({"web": {"listen": "127.0.0.1:0"}}, tmp_path / "c.toml")
    hub = EventHub()
    server = WebServer(config, store, hub).start()
    try:
        host, port = server.address
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("POST", "/login", body=f"username=dana&password={PASSWORD}",
                     headers={"content-type": "application/x-www-form-urlencoded"})
        login = conn.getresponse()
        login.read()
        cookie = login.getheader("set-cookie").split(";")[0]
        conn.request("GET", "/api/docks/events", headers={"cookie": cookie})
        events = conn.getresponse()
        assert events.status == 200
        assert events.getheader("content-type").startswith("text/event-stream")
        assert _read_event(events)[0] == "snapshot"
        sent = time.monotonic()
        _docking(hub)
        for _ in range(10):     # the stream may send the cradle before its last event
            kind, data = _read_event(events)
            assert kind == "cradle"
            if data["phase"] == "unloading":
                break
        assert data["phase"] == "unloading"
        assert time.monotonic() - sent < 5            # bounded: a loaded machine is slow
        conn.close()
    finally:
        server.stop()


def _read_event(response) -> tuple[str, dict]:
    kind, data = "", None
    for _ in range(100):                               # an event is a few lines: bounded
        line = response.readline().decode().rstrip("\r\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif not line and data is not None:
            return kind, data
    raise AssertionError("no event")
