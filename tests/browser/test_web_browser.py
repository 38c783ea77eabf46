"""The web app in a real browser: logging in and out, the docks page following a docking
live over a paced line, and markup in data shown as text."""

from __future__ import annotations

import os
import threading

import pytest

from hhu_sync.config import load_config, parse_config
from hhu_sync.daemon import Daemon
from hhu_sync.dock.events import EventHub, Phase, PhaseChanged, SessionEnded
from hhu_sync.keys import load_key_file
from hhu_sync.store import SqliteStore
from hhu_sync.transfer import encode_transfer
from hhu_sync.web.accounts import Accounts
from hhu_sync.web.server import WebServer
from tests.browser.conftest import shoot
from tests.integration.test_daemon_docks import Depot

PASSWORD = "correct horse battery"
T = 1_800_000_000.0


@pytest.fixture
def served(tmp_path):
    store = SqliteStore(tmp_path / "depot.db")
    Accounts(store).add("dana", "depot", PASSWORD, actor="test")
    hub = EventHub()
    hub.board.known(["cradle-1", "cradle-2"])
    config = parse_config({"web": {"listen": "127.0.0.1:0"}}, tmp_path / "c.toml")
    server = WebServer(config, store, hub).start()
    yield server, hub
    server.stop()
    store.close()


def _log_in(page, base: str, password: str = PASSWORD) -> None:
    page.goto(base + "docks")
    page.fill("input[name=username]", "dana")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_log_in_see_the_docks_and_log_out(served, page):
    server, _ = served
    page.goto(server.url + "docks")
    assert page.url.endswith("/login")                 # not logged in: the login page
    shoot(page, "login")
    _log_in(page, server.url, "not the password")
    assert page.locator(".error").inner_text() == "Wrong user name or password."
    _log_in(page, server.url)
    page.wait_for_url("**/docks")
    assert page.locator("section.cradle").count() == 2
    page.click("text=Log out")
    page.wait_for_url("**/login")
    page.goto(server.url + "docks")
    assert page.url.endswith("/login")


def test_without_a_live_stream_the_docks_page_falls_back_to_refreshing(served, page):
    server, hub = served
    page.add_init_script("delete window.EventSource")      # a browser without SSE
    _log_in(page, server.url)
    page.wait_for_url("**/docks")
    assert page.locator("section.cradle[data-dock=cradle-1] .phase").text_content() == "empty"
    hub.publish(PhaseChanged("cradle-1", T, Phase.AUTHENTICATING))
    with page.expect_event("load", timeout=20_000):         # refreshed, not pushed
        pass
    assert page.locator("section.cradle[data-dock=cradle-1] .phase").text_content() == \
        "authenticating"


def test_markup_in_a_cradles_data_is_shown_as_text_never_run(served, page):
    server, hub = served
    _log_in(page, server.url)
    page.wait_for_url("**/docks")
    hub.publish(PhaseChanged("cradle-1", T, Phase.AUTHENTICATING))
    hub.publish(SessionEnded("cradle-1", T, "HHU-<b>9</b>", "auth_failed",
                             ("<img src=x onerror=alert(1)>",)))
    error = page.locator("section[data-dock=cradle-1] .error")
    error.wait_for(timeout=10_000)
    assert error.inner_text() == "<img src=x onerror=alert(1)>"
    page.reload()
    assert page.locator("section[data-dock=cradle-1] .error").inner_text() == \
        "<img src=x onerror=alert(1)>"
    assert page.dialogs == []


def _upload(hhu: str, key: bytes, size: int) -> bytes:
    """A readings upload of about ``size`` bytes that zlib cannot shrink much."""
    visits = []
    while True:
        rnd = os.urandom(24).hex()
        n = len(visits)
        visits.append({"meter": f"{n:08d}", "list": "", "time": "2026-11-25T10:00:00+00:00",
                       "outcome": "done", "notes": rnd,
                       "registers": [[f"1.8.{i}", f"{int(rnd[i * 4:i * 4 + 6], 16)}.{i}",
                                      "kWh", "2026-11-25T10:00:00+00:00"] for i in range(4)]})
        if n % 50 == 49:
            data = encode_transfer("readings", {"visits": visits}, source=hhu, target="depot",
                                   key=key, bundle_id=f"R-{hhu}")
            if len(data) >= size:
                return data


def test_the_docks_page_follows_an_unload_over_a_paced_line_to_safe_to_remove(tmp_path,
                                                                            page):
    from hhu_firmware_sim.device import load_device
    from hhu_firmware_sim.flash import FlashStore
    from hhu_firmware_sim.line import LineSim
    from hhu_firmware_sim.server import DeviceServer

    depot = Depot(tmp_path, "")
    key_file = tmp_path / "var" / "keystore" / "hhus" / "HHU-001.key"
    flash = FlashStore(tmp_path / "flash" / "HHU-001")
    flash.store_upload("R-HHU-001", _upload("HHU-001", load_key_file(key_file), 40_000))
    device = load_device("HHU-001", key_file, tmp_path / "flash" / "HHU-001")
    store = SqliteStore(tmp_path / "var" / "hhu-sync.db")
    Accounts(store).add("dana", "depot", PASSWORD, actor="test")
    store.close()
    with DeviceServer(device).start() as server, \
            LineSim(server.address, baud=115200, latency_ms=2).start() as line:
        depot.write(f'[[docks]]\nname = "cradle-1"\nport = "{line.url}"\n'
                    '[web]\nlisten = "127.0.0.1:0"\n')
        daemon = Daemon(load_config(depot.config))
        assert daemon.web is not None
        runner = threading.Thread(target=daemon.run, daemon=True)
        runner.start()
        try:
            for _ in range(200):
                if daemon.web.server.started:
                    break
                daemon.stop.wait(0.05)
            _log_in(page, daemon.web.url)
            page.wait_for_url("**/docks")
            bar = page.locator("section[data-dock=cradle-1] progress")
            bar.first.wait_for(timeout=30_000)             # the upload began
            seen = set()
            for _ in range(300):                           # bounded: 30 s at most
                if page.locator("section[data-dock=cradle-1] .remove").count():
                    break
                if bar.count():
                    seen.add(bar.first.get_attribute("value"))
                    if len(seen) == 3:
                        shoot(page, "docks-unloading")
                page.wait_for_timeout(100)
            shoot(page, "docks")
            assert page.locator("section[data-dock=cradle-1] .remove").inner_text() == \
                "Safe to remove"
            assert len(seen) >= 2, f"the bar never moved: {seen}"   # live, not reloaded
            assert page.locator("html[data-live=yes]").count() == 1
        finally:
            daemon.stop.set()
            runner.join(30)
    assert flash.uploads() == []                           # committed, then cleared
