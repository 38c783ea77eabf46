"""Logging in and out: a session cookie that scripts cannot read, the same answer for a
wrong password and an unknown user, lockout after repeated failures, expiry."""

from __future__ import annotations

import logging

from hhu_sync.web.app import CSP, LOGIN_FAILED
from hhu_sync.web.sessions import LoginThrottle
from tests.unit.web.conftest import PASSWORD, csrf_of, log_in


def test_only_the_login_page_healthz_and_static_files_are_open(client):
    assert client.get("/healthz").json() == {"ok": True}
    assert client.get("/login").status_code == 200
    assert client.get("/static/app.css").status_code == 200
    page = client.get("/docks")
    assert page.status_code == 303 and page.headers["location"] == "/login"
    api = client.get("/api/me")
    assert api.status_code == 401 and api.json()["status"] == 401


def test_a_login_sets_an_httponly_strict_cookie_and_opens_the_pages(client):
    r = log_in(client, "dana")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie                       # served over plain loopback HTTP
    assert client.get("/api/me").json()["user"] == "dana"
    assert client.get("/docks").status_code == 200


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(client):
    wrong = log_in(client, "dana", "not the password")
    unknown = log_in(client, "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert LOGIN_FAILED in wrong.text and LOGIN_FAILED in unknown.text
    assert wrong.text.replace("dana", "") == unknown.text.replace("nobody", "")
    assert "set-cookie" not in wrong.headers


def test_a_form_without_fields_or_with_huge_values_is_a_failed_login(client):
    assert client.post("/login", data={}).status_code == 401
    assert log_in(client, "dana", "x" * 5000).status_code == 401
    assert log_in(client, "d" * 5000).status_code == 401
    huge = client.post("/login", content=b"username=" + b"a" * 200_000,
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert huge.status_code == 413 and "set-cookie" not in huge.headers


def test_logout_needs_the_csrf_token_and_ends_the_session(client):
    log_in(client, "dana")
    assert client.post("/logout").status_code == 403            # no token: nothing changes
    assert client.get("/api/me").status_code == 200
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    r = client.post("/logout", data={"csrf": csrf_of(client)})
    assert r.status_code == 303
    assert client.get("/api/me").status_code == 401


def test_the_token_header_works_for_scripts_too(client):
    log_in(client, "dana")
    assert client.post("/logout", headers={"X-CSRF-Token": csrf_of(client)}).status_code == 303


def test_repeated_failures_lock_the_user_out_even_with_the_right_password(client, clock,
                                                                          caplog):
    with caplog.at_level(logging.WARNING, logger="hhu_sync.web.sessions"):
        for _ in range(5):
            assert log_in(client, "dana", "guess").status_code == 401
    assert "locked out" in caplog.text
    locked = log_in(client, "dana")
    assert locked.status_code == 429 and "try again in 15 minutes" in locked.text
    clock.t += 901
    assert log_in(client, "dana").status_code == 303


def test_one_users_typos_do_not_lock_out_the_others_at_the_same_address(client):
    # on loopback (or behind a proxy) every depot user logs in from one address
    for _ in range(5):
        assert log_in(client, "nobody", "guess").status_code == 401
    assert log_in(client, "nobody", "guess").status_code == 429
    assert log_in(client, "dana").status_code == 303


def test_an_address_trying_many_names_is_locked_out(app, client, clock):
    assert app.state.ctx.throttle.max_address_failures == 50
    app.state.ctx.throttle.max_address_failures = 8     # 50 argon2 checks take a while
    for i in range(8):
        assert log_in(client, f"name-{i}", "guess").status_code == 401
    assert log_in(client, "dana").status_code == 429           # that address, any name
    clock.t += 901
    assert log_in(client, "dana").status_code == 303


def test_a_session_ends_when_idle_and_at_its_absolute_limit(client, clock):
    log_in(client, "dana")
    clock.t += 1700
    assert client.get("/api/me").status_code == 200           # within the idle limit
    clock.t += 1801
    assert client.get("/api/me").status_code == 401           # idle too long
    log_in(client, "dana")
    for _ in range(30):                                       # busy all day long
        clock.t += 1500
        client.get("/api/me")
    assert client.get("/api/me").status_code == 401           # past 12 hours anyway


def test_a_disabled_user_or_a_changed_password_logs_them_out(client, store):
    from hhu_sync.web.accounts import Accounts
    log_in(client, "dana")
    Accounts(store).set_password("dana", "another long password", actor="test")
    assert client.get("/api/me").status_code == 401
    assert log_in(client, "dana", "another long password").status_code == 303
    Accounts(store).set_disabled("dana", True, actor="test")
    assert client.get("/api/me").status_code == 401
    assert log_in(client, "dana", "another long password").status_code == 401


def test_every_response_carries_a_strict_csp_without_inline_scripts(client):
    for response in (client.get("/login"), client.get("/api/me"), client.get("/nowhere"),
                     client.get("/healthz")):
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP
    assert "<script>" not in client.get("/login").text


def test_the_throttle_forgets_keys_rather_than_grow_without_bound(clock):
    throttle = LoginThrottle(clock, max_keys=100)
    for i in range(1000):
        throttle.failed(f"addr:{i}")
    assert len(throttle._failures) <= 100                     # noqa: SLF001
