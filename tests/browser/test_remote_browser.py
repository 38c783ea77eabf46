"""A remote run followed in a real browser (issue 17, point 4): the run's page shows a
meter being read, and when a depot settles it (its visit stored) the page shows it read,
without a reload, over the run's event stream; a note's markup stays text."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from hhu_sync.config import parse_config
from hhu_sync.dock.events import EventHub
from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.remote.runner import upload_id_of
from hhu_sync.store import SqliteStore
from hhu_sync.store.claim_rules import ClaimState
from hhu_sync.web.accounts import Accounts
from hhu_sync.web.server import WebServer
from tests.browser.conftest import shoot
from tests.unit.store.helpers import upload, visit

PASSWORD = "correct horse battery"
NOW = "2026-11-25T08:00:00+00:00"
NOTE = "<img src=x onerror=alert('modem')> slow line"


@pytest.fixture
def served(tmp_path):
    store = SqliteStore(tmp_path / "depot.db")
    Accounts(store).add("dana", "depot", PASSWORD, actor="test")
    entries = tuple(MeterEntry(serial, "", "", "read", None, None, "",
                               port=f"socket://10.0.0.{n}:9000")
                    for n, serial in enumerate(("M1", "M2"), start=1))
    store.add_meter_list(MeterList("NIGHT", "NIGHT", None, None, "2026-12-31", "", entries,
                                   target="remote"), NOW)
    [run] = store.remote_runs()
    store.begin_remote_run(run.delivery_id, "remote-A", NOW)
    for seq, runner in ((0, "remote-A"), (1, "remote-B")):
        store.claim_remote_meter(run.delivery_id, seq, serial=entries[seq].serial,
                                 port=entries[seq].port or "", runner=runner,
                                 at=time.time(), lease_s=3600)
    config = parse_config({"web": {"listen": "127.0.0.1:0"}}, tmp_path / "c.toml")
    server = WebServer(config, store, EventHub()).start()
    yield server, store, run.delivery_id
    server.stop()
    store.close()


def _settle(store, rid: int, seq: int, runner: str, outcome: str, notes: str = "") -> None:
    uid = upload_id_of(rid, seq, "NIGHT")
    store.ingest(upload(uid, [visit(f"M{seq + 1}", list_id="NIGHT", outcome=outcome,
                                    notes=notes)], hhu="remote-A"), NOW)
    store.settle_remote_meter(rid, seq, runner, state=ClaimState.DONE, outcome=outcome,
                              attempts=2, upload_id=uid, notes=notes, at=time.time())


def test_the_run_page_shows_a_meter_read_as_soon_as_a_depot_settles_it(served, page):
    server, store, rid = served
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url.removeprefix(server.url.rstrip("/"))))
    page.goto(server.url + "login")
    page.fill("input[name=username]", "dana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/docks")
    page.click("nav a:text-is('Remote runs')")
    page.wait_for_url("**/remote")
    page.click(f"a:text-is('{rid}')")
    page.wait_for_url(f"**/remote/runs/{rid}")
    m2 = page.locator('tr[data-seq="1"]')
    expect(m2.locator(".meter-state")).to_have_text("reading")
    expect(page.locator('[data-fact="done"]')).to_have_text("0 / 2")
    _settle(store, rid, 1, "remote-B", "not_found", NOTE)         # depot B: no answer
    expect(m2.locator(".meter-outcome")).to_have_text("not_found", timeout=15_000)
    expect(m2.locator(".meter-state")).to_have_text("done")
    expect(m2).to_contain_text("remote-B")
    expect(m2).to_contain_text(NOTE)                              # the markup as text
    expect(page.locator('[data-fact="done"]')).to_have_text("1 / 2")
    _settle(store, rid, 0, "remote-A", "done")
    store.end_remote_run("NIGHT", NOW)
    expect(page.locator('[data-fact="state"]')).to_have_text("partial", timeout=15_000)
    expect(page.locator('tr[data-seq="0"] .meter-outcome')).to_have_text("done")
    assert page.dialogs == []
    # followed over the run's event stream, not by asking its JSON again and again
    assert f"/api/remote/runs/{rid}/events" in asked
    assert f"/api/remote/runs/{rid}" not in asked
    assert page.locator("table#remote-run").get_attribute("data-live") == "no"
    shoot(page, "remote-run")
