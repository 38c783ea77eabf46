"""The outbox and admin pages in a real browser, served by a running daemon: a bad
scheme uploaded from the browser shows each problem with its line and field (the
daemon's processor rejected it into rejected/), a good one is accepted into the
library; an admin adds a user by the form."""

from __future__ import annotations

import threading

import pytest

from hhu_sync.config import load_config
from hhu_sync.daemon import Daemon
from hhu_sync.store import SqliteStore
from hhu_sync.web.accounts import Accounts
from tests.browser.conftest import shoot
from tests.integration.test_daemon_docks import Depot
from tests.unit.web.configured import BAD_SCHEME, SCHEME

PASSWORD = "correct horse battery"


@pytest.fixture
def daemon(tmp_path):
    depot = Depot(tmp_path, '[web]\nlisten = "127.0.0.1:0"\n')
    store = SqliteStore(tmp_path / "var" / "hhu-sync.db")
    accounts = Accounts(store)
    accounts.add("otto", "office", PASSWORD, actor="test")
    accounts.add("ada", "admin", PASSWORD, actor="test")
    store.close()
    d = Daemon(load_config(depot.config))
    assert d.web is not None
    runner = threading.Thread(target=d.run, daemon=True)
    runner.start()
    for _ in range(200):
        if d.web.server.started:
            break
        d.stop.wait(0.05)
    yield d, depot
    d.stop.set()
    runner.join(30)


def _log_in(page, base: str, name: str) -> None:
    page.goto(base + "login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/docks")


def _upload(page, name: str, data: bytes) -> None:
    page.set_input_files("input[name=file]", files=[
        {"name": name, "mimeType": "application/toml", "buffer": data}])
    page.click("form.upload button[type=submit]")
    page.locator(".upload-result h2").wait_for(timeout=20_000)


def test_uploading_a_bad_scheme_shows_its_error_with_line_and_field(daemon, page):
    d, depot = daemon
    _log_in(page, d.web.url, "otto")
    page.click("header nav >> text=Outbox")
    page.wait_for_url("**/outbox")
    _upload(page, "<img src=x onerror=alert(1)>.toml", BAD_SCHEME)
    assert page.locator(".upload-result h2").inner_text() == \
        "<img src=x onerror=alert(1)>.toml: rejected (scheme)"   # the kind it declares
    rows = page.locator(".upload-result table.problems tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator("td.line").inner_text() == "7"
    assert rows.nth(0).locator("td.field").inner_text() == "scheme.bogus"
    assert rows.nth(1).locator("td.line").inner_text() == "16"
    assert rows.nth(1).locator("td.field").inner_text() == "day_profiles[0].switches[0].rate"
    assert "unknown field" in rows.nth(0).inner_text()
    shoot(page, "outbox-rejected")
    rejected = depot.root / "var" / "rejected"
    assert (rejected / "<img src=x onerror=alert(1)>.toml.reason.txt").exists()

    _upload(page, "as230-flat.toml", SCHEME)
    assert page.locator(".upload-result h2").inner_text() == "as230-flat.toml: accepted (scheme)"
    assert "moved to archive/" in page.locator(".upload-result").inner_text()
    received = page.locator("table.inputs tbody tr")
    assert received.count() == 2
    assert "accepted" in received.nth(0).inner_text()
    assert "line 7: scheme.bogus" in received.nth(1).inner_text()
    assert d.store.scheme("as230-flat") is not None
    _upload(page, "again.toml", SCHEME)                       # the same content again
    assert page.locator(".upload-result h2").inner_text() == "again.toml: duplicate (scheme)"
    received = page.locator("table.inputs tbody tr")
    assert received.count() == 3                              # listed, with what it repeats
    assert received.nth(0).locator(".duplicate-of").inner_text() == "of as230-flat.toml"
    shoot(page, "outbox")
    assert page.dialogs == []


def test_an_admin_adds_a_user_by_the_form(daemon, page):
    d, _ = daemon
    _log_in(page, d.web.url, "ada")
    page.click("header nav >> text=Users")
    page.wait_for_url("**/admin/users")
    page.fill("form.stacked input[name=name]", "eve")
    page.select_option("form.stacked select[name=role]", "depot")
    page.fill("form.stacked input[name=password]", "a long new password")
    page.fill("form.stacked input[name=password2]", "a long new password")
    page.click("form.stacked button[type=submit]")
    page.wait_for_url("**/admin/users")
    row = page.locator("table.users tbody tr", has_text="eve")
    assert "depot" in row.inner_text() and "enabled" in row.inner_text()
    shoot(page, "users")
    assert d.store.user("eve") is not None
