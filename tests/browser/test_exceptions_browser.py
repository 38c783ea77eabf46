"""Resolving an exception in a real browser changes the next export: a conflict no
export bills, accepted on its page, is billed with the chosen value by the next one."""

from __future__ import annotations

import pytest

from hhu_sync.config import parse_config
from hhu_sync.dock.events import EventHub
from hhu_sync.export.formats import export
from hhu_sync.store import SqliteStore
from hhu_sync.store.sqlite import read_export_rows
from hhu_sync.web.accounts import Accounts
from hhu_sync.web.server import WebServer
from tests.browser.conftest import shoot
from tests.unit.store.helpers import meter_list, upload, visit

PASSWORD = "correct horse battery"
NOW = "2026-11-25T12:00:00+00:00"
NOTE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def served(tmp_path):
    store = SqliteStore(tmp_path / "depot.db")
    Accounts(store).add("otto", "office", PASSWORD, actor="test")
    store.add_meter_list(meter_list("L1", ("M1",)))
    store.ingest(upload("U1", [visit("M1", value="100.0")]), NOW)
    store.ingest(upload("U2", [visit("M1", value="999.9", notes=NOTE)]), NOW)
    server = WebServer(parse_config({"web": {"listen": "127.0.0.1:0"}}, tmp_path / "c.toml"),
                       store, EventHub()).start()
    yield server, store, tmp_path / "depot.db"
    server.stop()
    store.close()


def _billed(db, tmp_path) -> str:
    path = tmp_path / "billing.cmep"
    export(read_export_rows(db), "cmep", path)
    return path.read_text()


def test_accepting_a_conflicts_value_changes_the_next_export(served, page, tmp_path):
    server, store, db = served
    assert "999.9" not in _billed(db, tmp_path) and "100.0" not in _billed(db, tmp_path)
    page.goto(server.url + "exceptions")
    page.fill("input[name=username]", "otto")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(server.url + "exceptions?kind=conflict")
    page.locator("table.exceptions tbody a").first.click()
    page.wait_for_url("**/exceptions/*")
    assert page.locator(".evidence .held td.value").inner_text() == "100.0 kWh"
    assert page.locator(".evidence .brought dd.value").inner_text() == "999.9"
    assert page.locator(".visit-note").inner_text() == NOTE      # text, never markup
    shoot(page, "exception")
    page.click("button:has-text('Accept 999.9')")
    page.wait_for_selector(".resolution")
    assert "otto" in page.locator(".resolution").inner_text()
    assert page.locator("form.dismiss").count() == 0              # resolved once
    billed = _billed(db, tmp_path)
    assert "999.9" in billed and "100.0" not in billed
    assert [e.action for e in store.audit_log()][0] == "exception.resolve"
    assert page.dialogs == []
