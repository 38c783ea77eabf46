"""The admin pages: users listed (never a hash), added, disabled and enabled, their
passwords set, by the rules of ``hhu-sync user``; an HHU revoked as ``hhu-sync revoke``
does. Admins only; every change needs the CSRF token and is audited in its transaction;
a changed password or a disabled account ends that user's sessions."""

from __future__ import annotations

import json

import pytest

from hhu_sync.keys import KeyStore
from tests.unit.store.helpers import meter_list
from tests.unit.web.conftest import PASSWORD, csrf_of, log_in

NEW = "a new long password"
NOW = "2026-11-25T12:00:00+00:00"
CHANGES = [("post", "/api/users", {"name": "eve", "role": "depot", "password": NEW}),
           ("post", "/api/users/dana/password", {"password": NEW}),
           ("post", "/api/users/dana/disable", None),
           ("post", "/api/users/dana/enable", None),
           ("post", "/api/handhelds/HHU-001/revoke", None)]


def _audit(store, action: str) -> list:
    return [e for e in store.audit_log() if e.action == action]


def _state(store) -> tuple:
    return ([(u.name, u.role, u.pw_hash, u.disabled) for u in store.users()],
            [e.audit_id for e in store.audit_log()])


@pytest.fixture
def enrolled(config, store):
    keys = KeyStore(config.paths.keystore)
    keys.enroll("HHU-001")
    store.touch_hhu("HHU-001", dock="cradle-1", firmware="2.1", battery=80, free_flash=1,
                    now=NOW, crew="north")
    store.add_meter_list(meter_list("L1", hhu="HHU-001"), NOW)
    return keys


def test_admin_pages_need_a_session(depot_client, store, enrolled):
    c = depot_client
    before = _state(store)
    assert c.get("/api/users").status_code == 401
    for path in ("/admin/users", "/handhelds/HHU-001/revoke"):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    for method, path, body in CHANGES:
        assert c.request(method, path, json=body).status_code == 401
    assert _state(store) == before


@pytest.mark.parametrize("who", ["dana", "otto"])
def test_only_admins_may_manage_users_and_revoke(depot_client, store, enrolled, who):
    c = depot_client
    log_in(c, who)
    token = csrf_of(c)
    before = _state(store)
    assert c.get("/api/users").status_code == 403
    assert c.get("/admin/users").status_code == 403
    assert c.get("/handhelds/HHU-001/revoke").status_code == 403
    for method, path, body in CHANGES:
        r = c.request(method, path, json=body, headers={"x-csrf-token": token})
        assert r.status_code == 403 and "may not" in r.json()["error"], path
    assert c.post("/admin/users/dana/disable", data={"csrf": token}).status_code == 403
    assert _state(store) == before and enrolled.hhu_key("HHU-001") is not None
    assert "Users</a>" not in c.get("/docks").text and "Revoke" not in c.get("/handhelds").text


def test_every_change_needs_the_csrf_token(depot_client, store, enrolled):
    c = depot_client
    log_in(c, "ada")
    before = _state(store)
    for method, path, body in CHANGES:
        r = c.request(method, path, json=body)
        assert r.status_code == 403 and "CSRF" in r.json()["error"], path
        r = c.request(method, path, json=body, headers={"x-csrf-token": "forged"})
        assert r.status_code == 403, path
    for path in ("/admin/users/dana/disable", "/handhelds/HHU-001/revoke"):
        assert c.post(path, data={"csrf": "forged"}).status_code == 403
    assert _state(store) == before and enrolled.hhu_key("HHU-001") is not None


def test_users_are_listed_without_their_hashes(depot_client, store):
    c = depot_client
    log_in(c, "ada")
    users = c.get("/api/users").json()["users"]
    assert [(u["name"], u["role"], u["disabled"]) for u in users] == [
        ("ada", "admin", False), ("dana", "depot", False), ("otto", "office", False)]
    assert set(users[0]) == {"name", "role", "disabled", "created_at", "updated_at"}
    page = c.get("/admin/users").text
    for body in (page, c.get("/api/users").text):
        assert "argon2" not in body and all(u.pw_hash not in body for u in store.users())
    assert '<a href="/admin/users">Users</a>' in page


def test_add_a_user_by_form_with_the_password_twice(depot_client, store):
    c = depot_client
    log_in(c, "ada")
    token = csrf_of(c)
    form = {"csrf": token, "name": "eve", "role": "office", "password": NEW, "password2": NEW}
    r = c.post("/admin/users", data=form)
    assert r.status_code == 303 and r.headers["location"] == "/admin/users"
    assert store.user("eve").role == "office"
    (entry,) = _audit(store, "user.add")[:1]
    assert (entry.user, entry.target, json.loads(entry.after)) == ("ada", "eve",
                                                                  {"role": "office"})
    c.post("/logout", data={"csrf": token})
    assert log_in(c, "eve", NEW).status_code == 303           # the new user logs in


@pytest.mark.parametrize(("form", "status", "field"), [
    ({"name": "fay", "role": "office", "password": NEW, "password2": "other pass 1"}, 400,
     "password2"),
    ({"name": "fay", "role": "boss", "password": NEW, "password2": NEW}, 400, "role"),
    ({"name": "", "role": "depot", "password": NEW, "password2": NEW}, 400, "name"),
    ({"name": "../fay", "role": "depot", "password": NEW, "password2": NEW}, 400, "user name"),
    ({"name": "fay", "role": "depot", "password": "short", "password2": "short"}, 400,
     "password"),
    ({"name": "otto", "role": "depot", "password": NEW, "password2": NEW}, 409, "user"),
])
def test_a_refused_user_is_not_added(depot_client, store, form, status, field):
    c = depot_client
    log_in(c, "ada")
    before = _state(store)
    r = c.post("/admin/users", data={"csrf": csrf_of(c), **form})
    assert r.status_code == status
    assert field in r.text
    assert _state(store) == before


def test_the_api_adds_from_json_and_says_what_is_wrong(depot_client, store):
    c = depot_client
    log_in(c, "ada")
    h = {"x-csrf-token": csrf_of(c)}
    r = c.post("/api/users", json={"name": "eve", "role": "depot", "password": NEW},
               headers=h)
    assert r.status_code == 201 and r.json()["name"] == "eve" and "pw_hash" not in r.json()
    r = c.post("/api/users", content=b"{not json", headers=h)
    assert r.status_code == 400 and r.json()["error"].startswith("body: not JSON")
    r = c.post("/api/users", json=["eve"], headers=h)
    assert r.status_code == 400 and r.json()["error"].startswith("body: must be a JSON object")
    r = c.post("/api/users", json={"name": "gus", "role": "depot", "password": 12345678901},
               headers=h)
    assert r.status_code == 400 and r.json()["error"].startswith("password:")
    r = c.post("/api/users", content=b"{" + b" " * 20_000 + b"}", headers=h)
    assert r.status_code == 413


def test_a_new_password_ends_that_users_sessions(depot_client, store, app=None):
    from starlette.testclient import TestClient

    c = depot_client
    with TestClient(c.app, base_url="http://127.0.0.1:8080", follow_redirects=False) as dana:
        log_in(dana, "dana")
        assert dana.get("/api/me").status_code == 200
        log_in(c, "ada")
        token = csrf_of(c)
        r = c.post("/admin/users/dana/password",
                   data={"csrf": token, "password": NEW, "password2": "not the same"})
        assert r.status_code == 400 and "password2" in r.text
        assert dana.get("/api/me").status_code == 200             # nothing changed
        r = c.post("/admin/users/dana/password",
                   data={"csrf": token, "password": NEW, "password2": NEW})
        assert r.status_code == 303
        assert dana.get("/api/me").status_code == 401             # logged out
        assert log_in(dana, "dana", PASSWORD).status_code == 401
        assert log_in(dana, "dana", NEW).status_code == 303
    (entry,) = _audit(store, "user.passwd")
    assert (entry.user, entry.target) == ("ada", "dana") and NEW not in entry.after


def test_disable_ends_the_sessions_and_enable_lets_them_in_again(depot_client, store):
    from starlette.testclient import TestClient

    c = depot_client
    with TestClient(c.app, base_url="http://127.0.0.1:8080", follow_redirects=False) as dana:
        log_in(dana, "dana")
        log_in(c, "ada")
        h = {"x-csrf-token": csrf_of(c)}
        r = c.post("/api/users/dana/disable", headers=h)
        assert r.status_code == 200 and r.json() == {"name": "dana", "disabled": True}
        assert dana.get("/api/me").status_code == 401
        assert log_in(dana, "dana").status_code == 401
        assert c.post("/api/users/dana/enable", headers=h).status_code == 200
        assert log_in(dana, "dana").status_code == 303
        r = c.post("/api/users/nobody/disable", headers=h)
        assert r.status_code == 404 and "no user" in r.json()["error"]
        r = c.post("/api/users/ada/disable", headers=h)           # not one's own account
        assert r.status_code == 409 and not store.user("ada").disabled
    assert [(e.action, e.target, json.loads(e.after)) for e in store.audit_log()
            if e.action in ("user.disable", "user.enable")] == [
        ("user.enable", "dana", {"disabled": False}), ("user.disable", "dana", {"disabled": True})]


def test_revoke_an_hhu_as_the_cli_does(depot_client, store, enrolled, config):
    c = depot_client
    log_in(c, "ada")
    assert 'href="/handhelds/HHU-001/revoke"' in c.get("/handhelds").text
    confirm = c.get("/handhelds/HHU-001/revoke")
    assert confirm.status_code == 200 and 'action="/handhelds/HHU-001/revoke"' in confirm.text
    r = c.post("/handhelds/HHU-001/revoke", data={"csrf": csrf_of(c)})
    assert r.status_code == 303 and r.headers["location"] == "/handhelds"
    assert enrolled.hhu_key("HHU-001") is None                     # the key left the store
    assert [p.name.split(".key")[0] for p in (config.paths.keystore / "revoked").iterdir()] \
        == ["HHU-001"]
    (hhu,) = c.get("/api/handhelds").json()["hhus"]
    assert hhu["revoked"] and hhu["queued"] == []
    (entry,) = _audit(store, "hhu.revoke")
    assert (entry.user, entry.target) == ("ada", "HHU-001")
    assert json.loads(entry.before) == {"dock": "cradle-1"}
    after = json.loads(entry.after)
    assert after["dock"] == "revoked" and after["cancelled"] == 1
    assert after["key_moved_to"].startswith("HHU-001.key.")
    r = c.post("/api/handhelds/HHU-001/revoke", headers={"x-csrf-token": csrf_of(c)})
    assert r.status_code == 404 and "not enrolled" in r.json()["error"]
    assert str(config.paths.keystore) not in r.text
    r = c.post("/api/handhelds/..%2Fx/revoke", headers={"x-csrf-token": csrf_of(c)})
    assert r.status_code in (400, 404)
    assert len(_audit(store, "hhu.revoke")) == 1


def test_revoke_by_the_api_answers_the_counts(depot_client, store, enrolled):
    c = depot_client
    log_in(c, "ada")
    r = c.post("/api/handhelds/HHU-001/revoke", headers={"x-csrf-token": csrf_of(c)})
    assert r.status_code == 200
    assert r.json() == {"hhu_id": "HHU-001", "revoked": True, "cancelled": 1,
                        "returned_to_crew": 0, "lists_on_hhu": 0}


def test_markup_in_an_hhu_id_is_text(depot_client, store):
    c = depot_client
    log_in(c, "ada")
    r = c.get("/handhelds/<img src=x onerror=alert(1)>/revoke")
    assert r.status_code == 400 and "hhu_id" in r.text
    assert "<img" not in r.text and "&lt;img" in r.text
