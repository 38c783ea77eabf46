"""The OpenAPI document: built from the app's own routes, so every /api route is in it
with its methods, who may call it, and the CSRF header every change needs."""

from __future__ import annotations

from starlette.routing import Route

from hhu_sync.web.outbox import OUTCOME_STATUS
from tests.unit.web.conftest import log_in


def test_every_api_route_is_described_with_who_may_call_it(app, client):
    assert client.get("/api/openapi.json").status_code == 401
    log_in(client, "dana")
    doc = client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    served = {(r.path, m.lower()) for r in app.routes if isinstance(r, Route)
              and r.path.startswith("/api/") for m in (r.methods or {"GET"}) - {"HEAD"}}
    described = {(path, m) for path, ops in doc["paths"].items() for m in ops}
    assert described == served
    cancel = doc["paths"]["/api/lists/{list_id}/cancel"]["post"]
    assert cancel["x-roles"] == ["admin", "office"]
    assert {p["name"] for p in cancel["parameters"]} == {"list_id", "X-CSRF-Token"}
    assert {"401", "403", "404", "409"} <= set(cancel["responses"])
    events = doc["paths"]["/api/docks/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    assert all("summary" in op and op["summary"] for ops in doc["paths"].values()
               for op in ops.values())


def test_declared_query_parameters_are_described_as_they_are_checked(client):
    log_in(client, "dana")
    doc = client.get("/api/openapi.json").json()
    (state,) = [p for p in doc["paths"]["/api/lists"]["get"]["parameters"]
                if p["name"] == "state"]
    assert state["in"] == "query" and not state["required"]
    assert "cancelled" in state["schema"]["enum"]
    bad = client.get("/api/lists?state=lost")
    assert bad.status_code == 400 and bad.json()["error"].startswith("state: must be one of")


def test_a_route_with_answers_of_its_own_declares_each(client):
    log_in(client, "dana")
    doc = client.get("/api/openapi.json").json()
    upload = doc["paths"]["/api/outbox"]["post"]["responses"]
    assert {"201", "202", "400", "401", "403", "409", "413", "422", "503"} <= set(upload)
    assert "200" not in upload                   # an upload never answers 200
    assert {str(code) for code in OUTCOME_STATUS.values()} <= set(upload)
    assert "duplicate" in upload["409"]["description"]
    assert "rejected" in upload["422"]["description"]
    added = doc["paths"]["/api/users"]["post"]["responses"]
    assert "201" in added and "200" not in added
    # every change may be refused as too large, unread
    assert all("413" in op["responses"] for ops in doc["paths"].values()
               for method, op in ops.items() if method != "get")
