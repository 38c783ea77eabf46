"""A route's parameters, declared once: checked before its handler runs (400 naming
the field) and described by the same declaration in the OpenAPI document."""

from __future__ import annotations

import json

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hhu_sync.web.app import guarded
from hhu_sync.web.params import MAX_BODY_BYTES, BadInput, Field, Params
from hhu_sync.web.roles import Action
from tests.unit.web.conftest import csrf_of, log_in

SPEC = Params((
    Field("decision", required=True, choices=("accept", "dismiss")),
    Field("reason", max_length=20),
    Field("limit", int, minimum=1, maximum=500, default=50),
    Field("open", bool),
))


def _query(**values: str | list[str]) -> dict:
    multi = {k: v if isinstance(v, list) else [v] for k, v in values.items()}
    return SPEC.parse_query({k: v[0] for k, v in multi.items()},
                            lambda name: multi.get(name, []))


def test_a_query_is_converted_and_absent_values_take_their_defaults():
    assert _query(decision="accept", limit="20", open="true") == {
        "decision": "accept", "reason": None, "limit": 20, "open": True}
    assert _query(decision="dismiss")["limit"] == 50


@pytest.mark.parametrize(("values", "field", "says"), [
    ({}, "decision", "is required"),
    ({"decision": "maybe"}, "decision", "must be one of accept, dismiss"),
    ({"decision": "accept", "limit": "0"}, "limit", "at least 1"),
    ({"decision": "accept", "limit": "1e3"}, "limit", "whole number"),
    ({"decision": "accept", "limit": "9" * 40}, "limit", "whole number"),
    ({"decision": "accept", "open": "yes"}, "open", "true or false"),
    ({"decision": "accept", "reason": "x" * 21}, "reason", "at most 20 characters"),
    ({"decision": "accept", "typo": "1"}, "typo", "unknown parameter"),
    ({"decision": ["accept", "dismiss"]}, "decision", "more than once"),
])
def test_a_bad_query_names_its_field(values, field, says):
    with pytest.raises(BadInput) as caught:
        _query(**values)
    assert caught.value.field == field and says in str(caught.value)


def test_a_body_is_a_json_object_of_declared_fields_of_their_json_types():
    assert SPEC.parse_body(b'{"decision": "dismiss", "reason": "meter swapped"}') == {
        "decision": "dismiss", "reason": "meter swapped", "limit": 50, "open": None}


@pytest.mark.parametrize(("body", "field", "says"), [
    (b"", "body", "JSON object"),
    (b"[1, 2]", "body", "JSON object"),
    (b'{"decision": ', "body", "not JSON"),
    (b"[" * 30_000 + b"]" * 30_000, "body", "not JSON"),   # deep: refused, never a crash
    (b'{"decision": "accept", "limit": "20"}', "limit", "whole number"),  # text is not int
    (b'{"decision": "accept", "limit": true}', "limit", "whole number"),
    (b'{"decision": "accept", "open": 1}', "open", "true or false"),
    (b'{"decision": 3}', "decision", "must be text"),
    (b'{"decision": "accept", "<b>x</b>": 1}', "<b>x</b>", "unknown field"),
])
def test_a_bad_body_names_its_field(body, field, says):
    with pytest.raises(BadInput) as caught:
        SPEC.parse_body(body)
    assert caught.value.field == field and says in str(caught.value)


def test_a_body_over_the_bound_is_refused_before_it_is_parsed():
    big = json.dumps({"decision": "accept", "reason": "x" * MAX_BODY_BYTES}).encode()
    with pytest.raises(BadInput, match="larger than"):
        SPEC.parse_body(big)


def test_the_description_is_the_declaration():
    schema = SPEC.body_schema()
    assert schema["required"] == ["decision"] and schema["additionalProperties"] is False
    assert schema["properties"]["decision"]["enum"] == ["accept", "dismiss"]
    assert schema["properties"]["limit"] == {"type": "integer", "minimum": 1,
                                             "maximum": 500, "default": 50}
    names = [p["name"] for p in SPEC.query_parameters()]
    assert names == ["decision", "reason", "limit", "open"]


@guarded(Action.RESOLVE, body=SPEC)
async def _echo(request: Request, session, user) -> Response:
    """Echo a declared body (a route for this test only)."""
    return JSONResponse(request.state.body)


@pytest.fixture
def echo(app, client):
    app.router.routes.append(Route("/api/test/echo", _echo, methods=["POST"]))
    log_in(client, "otto")
    return {"X-CSRF-Token": csrf_of(client), "Content-Type": "application/json"}


def test_a_guarded_route_hands_its_handler_the_checked_body(client, echo):
    answer = client.post("/api/test/echo", headers=echo, content=b'{"decision": "accept"}')
    assert answer.status_code == 200 and answer.json()["limit"] == 50


def test_a_guarded_route_refuses_a_bad_body_before_its_handler_with_400_or_413(client, echo):
    bad = client.post("/api/test/echo", headers=echo, content=b'{"decision": "later"}')
    assert bad.status_code == 400 and bad.json()["error"].startswith("decision:")
    huge = client.post("/api/test/echo", headers=echo, content=b" " * (MAX_BODY_BYTES + 1))
    assert huge.status_code == 413

    def chunks():                          # no Content-Length: counted as it comes
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    assert client.post("/api/test/echo", headers=echo, content=chunks()).status_code == 413


def test_the_checks_come_after_the_session_csrf_and_role(client, echo):
    no_csrf = {"Content-Type": "application/json"}
    assert client.post("/api/test/echo", headers=no_csrf, content=b"{}").status_code == 403
    client.post("/logout", headers=echo)
    log_in(client, "dana")                 # depot staff may not resolve
    depot = {**echo, "X-CSRF-Token": csrf_of(client)}
    assert client.post("/api/test/echo", headers=depot, content=b"{}").status_code == 403
