"""Roles: a route's action decides who may; a refused action answers 403 and changes
nothing; the audit log records every change and shows what it holds as text."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from hhu_sync.store.accounts import Change
from hhu_sync.web.app import guarded
from hhu_sync.web.roles import ALLOWED, Action, Role, may
from tests.unit.web.conftest import log_in


def test_depot_sees_and_requeues_office_also_resolves_admin_does_everything():
    assert may(Role.DEPOT, Action.REQUEUE) and not may(Role.DEPOT, Action.CANCEL)
    assert may(Role.OFFICE, Action.RESOLVE) and not may(Role.OFFICE, Action.MANAGE_USERS)
    assert all(may(Role.ADMIN, a) for a in Action)
    assert not may("intruder", Action.VIEW)
    assert set(ALLOWED) == set(Action)


def test_a_role_that_may_not_gets_403_and_the_handler_never_runs(app):
    ran = []

    @guarded(Action.CANCEL)
    async def cancel(request, session, user):
        ran.append(user.name)
        return JSONResponse({"cancelled": True})

    app.router.routes.insert(0, Route("/api/test-cancel", cancel, methods=["POST"]))
    with TestClient(app, follow_redirects=False) as client:
        log_in(client, "dana")
        csrf = client.get("/api/me").json()["csrf"]
        r = client.post("/api/test-cancel", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 403 and ran == []
        client.post("/logout", headers={"X-CSRF-Token": csrf})
        log_in(client, "otto")
        csrf = client.get("/api/me").json()["csrf"]
        assert client.post("/api/test-cancel").status_code == 403     # no CSRF token
        assert client.post("/api/test-cancel",
                           headers={"X-CSRF-Token": csrf}).status_code == 200
    assert ran == ["otto"]


def test_the_audit_log_records_who_added_whom_and_shows_markup_as_text(client, store):
    store.record_audit(Change("ada", "list.cancel", "<script>alert(1)</script>",
                              {"state": "queued"}, {"state": "cancelled"}), "2026-12-02")
    log_in(client, "dana")
    entries = client.get("/api/audit").json()
    assert entries[0]["action"] == "list.cancel"                    # newest first
    assert {(e["user"], e["action"], e["target"]) for e in entries[1:]} == {
        ("test", "user.add", "dana"), ("test", "user.add", "otto"), ("test", "user.add", "ada")}
    assert entries[1]["after"] == '{"role": "admin"}'
    page = client.get("/audit").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert client.get("/api/audit?limit=x").status_code == 400


def test_no_password_hash_reaches_a_page_or_the_api(client, store):
    log_in(client, "ada")
    hashes = [u.pw_hash for u in store.users()]
    for path in ("/api/me", "/api/audit", "/audit", "/docks"):
        body = client.get(path).text
        assert not any(h in body for h in hashes) and "argon2" not in body


def test_a_refused_page_keeps_its_menu_and_a_way_back(client):
    from tests.unit.web.conftest import csrf_of, log_in
    log_in(client, "dana")                               # depot staff may not cancel
    r = client.post("/lists/L1/cancel", data={"csrf": csrf_of(client)})
    assert r.status_code == 403
    assert '<a href="/docks">Docks</a>' in r.text and 'href="/">Back to hhu-sync' in r.text
