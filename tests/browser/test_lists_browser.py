"""Meter lists in a real browser: requeue and cancel from a list's page, a role that
may not cancel gets 403 and nothing changes, and markup in a meter's visit note is shown
as text, never run."""

from __future__ import annotations

import pytest

from hhu_sync.config import parse_config
from hhu_sync.dock.events import EventHub
from hhu_sync.store import ListState, SqliteStore
from hhu_sync.web.accounts import Accounts
from hhu_sync.web.server import WebServer
from tests.browser.conftest import shoot
from tests.unit.store.helpers import meter_list, upload, visit

PASSWORD = "correct horse battery"
NOW = "2026-11-25T12:00:00+00:00"
NOTE = "<img src=x onerror=alert('gate')> dog in the yard"


@pytest.fixture
def served(tmp_path):
    store = SqliteStore(tmp_path / "depot.db")
    accounts = Accounts(store)
    accounts.add("dana", "depot", PASSWORD, actor="test")
    accounts.add("otto", "office", PASSWORD, actor="test")
    # L1: partial (M1 read, M2 no access with a note), L2: queued for a crew
    store.add_meter_list(meter_list("L1", ("M1", "M2")), NOW)
    (d,) = store.pending_deliveries("HHU-001", None, NOW)
    store.bind_delivery(d.delivery_id, "HHU-001", "B-1", b"sealed")
    store.delivery_done(d.delivery_id, "HHU-001", NOW)
    store.ingest(upload("U-1", [visit("M1"), visit("M2", outcome="no_access", notes=NOTE)]),
                 NOW)
    store.add_meter_list(meter_list("L2", ("M3",), hhu=None, crew="north"), NOW)
    config = parse_config({"web": {"listen": "127.0.0.1:0"}}, tmp_path / "c.toml")
    server = WebServer(config, store, EventHub()).start()
    yield server, store
    server.stop()
    store.close()


def _log_in(page, base: str, name: str) -> None:
    page.goto(base + "login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/docks")


def test_office_requeues_a_partial_list_and_cancels_a_queued_one(served, page):
    server, store = served
    _log_in(page, server.url, "otto")
    page.goto(server.url + "lists")
    shoot(page, "lists")
    page.click("a:text-is('L1')")
    page.wait_for_url("**/lists/L1")
    shoot(page, "list")
    page.click("button:text-is('Requeue')")
    page.wait_for_url("**/lists/L1")
    assert page.locator(".facts .state").inner_text() == ListState.QUEUED
    assert store.list_state("L1") == ListState.QUEUED
    page.goto(server.url + "lists/L2")
    page.click("button:text-is('Cancel list')")
    page.wait_for_url("**/lists/L2")
    assert page.locator(".facts .state").inner_text() == ListState.CANCELLED
    assert store.list_state("L2") == ListState.CANCELLED
    page.goto(server.url + "audit")
    rows = page.locator("table tbody tr")
    assert "list.cancel" in rows.nth(0).inner_text() and "otto" in rows.nth(0).inner_text()


def test_depot_staff_see_no_cancel_and_a_forged_cancel_gets_403_and_changes_nothing(
        served, page):
    server, store = served
    _log_in(page, server.url, "dana")
    page.goto(server.url + "lists/L2")
    assert page.locator("button:text-is('Requeue')").count() == 1
    assert page.locator("button:text-is('Cancel list')").count() == 0
    status = page.evaluate("""async () => {
        const csrf = document.querySelector('meta[name=csrf-token]').content;
        const r = await fetch('/lists/L2/cancel', {method: 'POST',
            headers: {'Content-Type': 'application/x-www-form-urlencoded'},
            body: 'csrf=' + encodeURIComponent(csrf)});
        return r.status;
    }""")
    assert status == 403
    assert store.list_state("L2") == ListState.QUEUED
    assert [e for e in store.audit_log() if e.action == "list.cancel"] == []


def test_markup_in_a_visit_note_is_shown_as_text_never_run(served, page):
    server, _ = served
    _log_in(page, server.url, "dana")
    page.goto(server.url + "lists/L1")
    note = page.locator(".visit-note")
    assert note.inner_text() == NOTE
    assert page.locator("main img").count() == 0
    assert page.dialogs == []
