"""Every /api route, taken from the app itself (a new route cannot be missed): without a
session 401, a change without its CSRF token 403, a role that may not 403, a declared
JSON body that is not JSON 400 with a message; none of them changes anything."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from hhu_sync.web.app import ACTIONS, BODIES
from hhu_sync.web.roles import Role, may
from tests.unit.web.conftest import ON_BOTH_BACKENDS, csrf_of, log_in

pytestmark = ON_BOTH_BACKENDS

USERS = {Role.DEPOT: "dana", Role.OFFICE: "otto", Role.ADMIN: "ada"}


def _api_routes(app) -> list[tuple[str, str, Route]]:
    out = []
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith("/api/"):
            path = re.sub(r"\{[^}]+\}", "X1", route.path)
            out += [(m, path, route) for m in sorted((route.methods or {"GET"}) - {"HEAD"})]
    return out


def _audit_count(store) -> int:
    return len(store.audit_log())


def test_every_api_route_needs_a_session(app, client, store):
    routes = _api_routes(app)
    assert len(routes) > 20
    for method, path, _route in routes:
        r = client.request(method, path)
        assert r.status_code == 401, (method, path)
        assert r.json()["status"] == 401 and r.json()["error"]


def test_every_change_without_its_csrf_token_is_403_and_changes_nothing(app, client, store):
    log_in(client, "ada")                                 # admin: may do everything
    before = _audit_count(store)
    for method, path, _route in _api_routes(app):
        if method == "GET":
            continue
        r = client.request(method, path, json={})
        assert r.status_code == 403 and "CSRF" in r.json()["error"], (method, path)
    assert _audit_count(store) == before


@pytest.mark.parametrize("role", [Role.DEPOT, Role.OFFICE])
def test_every_route_a_role_may_not_call_is_403_and_changes_nothing(app, client, store, role):
    log_in(client, USERS[role])
    token = csrf_of(client)
    before = _audit_count(store)
    refused = 0
    for method, path, route in _api_routes(app):
        action = ACTIONS.get(route.endpoint)
        if action is None or may(role, action):
            continue
        r = client.request(method, path, json={}, headers={"X-CSRF-Token": token})
        assert r.status_code == 403 and f"role {role.value} may not" in r.json()["error"], \
            (method, path)
        refused += 1
    assert refused > 0 and _audit_count(store) == before


def test_every_declared_json_body_that_is_not_json_is_400_with_a_message(app, client, store):
    log_in(client, "ada")
    token = csrf_of(client)
    before = _audit_count(store)
    checked = 0
    for method, path, route in _api_routes(app):
        if method == "GET" or route.endpoint not in BODIES:
            continue
        r = client.request(method, path, content=b"{not json",
                           headers={"X-CSRF-Token": token,
                                    "content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"], (method, path)
        checked += 1
    assert checked > 0 and _audit_count(store) == before
