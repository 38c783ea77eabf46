"""The API described for its callers (OpenAPI 3.1), from the routes themselves: every
/api route with its methods, path parameters, who may call it (the role table) and the
errors every call can get. Built from the app, so it cannot drift from it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from starlette.routing import BaseRoute, Route

from hhu_sync import __version__
from hhu_sync.web.params import Params
from hhu_sync.web.roles import ALLOWED, Action

_ERROR = {"description": "", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Error"}}}}
_ERRORS = {
    "400": "bad input (the message names the field)",
    "401": "not logged in (or the session ended)",
    "403": "the role may not do this, or (for a change) the CSRF token is missing or wrong",
}
_CHANGE_ERRORS = {
    "404": "no such object",
    "409": "the store refused the change (its reason in the message)",
    "413": "the body is too large: refused unread, nothing changed",
    "503": "the storage is unavailable: nothing was changed, try again",
}


def _error(text: str) -> dict[str, Any]:
    return {**_ERROR, "description": text}


def _operation(route: Route, method: str, action: Action | None, query: Params | None,
               body: Params | None, own: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``own``: the endpoint's declared answers (``guarded(responses=)``): a success
    other than 200 replaces it; a refusal is added to (or words) the shared ones."""
    doc = (route.endpoint.__doc__ or "").strip()
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.param_convertors]
    if query is not None:
        params += query.query_parameters()
    responses: dict[str, Any] = {"200": {"description": "done", "content": {
        "text/event-stream" if route.path.endswith("/events") else "application/json": {}}}}
    responses |= {code: _error(text) for code, text in _ERRORS.items()}
    if method != "GET":
        params.append({"name": "X-CSRF-Token", "in": "header", "required": True,
                       "description": "the session's CSRF token (GET /api/me gives it)",
                       "schema": {"type": "string"}})
        responses |= {code: _error(text) for code, text in _CHANGE_ERRORS.items()}
    elif route.param_convertors:
        responses["404"] = _error(_CHANGE_ERRORS["404"])
    op: dict[str, Any] = {
        "operationId": f"{method.lower()}_{route.name}",
        "summary": doc.split("\n")[0] or route.name,
        "parameters": params,
        "responses": responses,
        "security": [{"session": []}],
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": body.body_schema()}}}
    if own:
        if any(code.startswith("2") for code in own) and "200" not in own:
            del responses["200"]
        for code, text in own.items():
            responses[code] = ({"description": text, "content": {"application/json": {}}}
                               if code.startswith("2") else _error(text))
        op["responses"] = dict(sorted(responses.items()))
    if doc:
        op["description"] = " ".join(doc.split())
    if action is not None:
        op["x-action"] = action.value
        op["x-roles"] = sorted(role.value for role in ALLOWED[action])
    return op


def document(routes: Iterable[BaseRoute], actions: dict[Callable[..., Any], Action],
             queries: Mapping[Callable[..., Any], Params] | None = None,
             bodies: Mapping[Callable[..., Any], Params] | None = None,
             responses: Mapping[Callable[..., Any], Mapping[str, str]] | None = None
             ) -> dict[str, Any]:
    queries, bodies, responses = queries or {}, bodies or {}, responses or {}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or not route.path.startswith("/api/"):
            continue
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            paths.setdefault(route.path, {})[method.lower()] = _operation(
                route, method, actions.get(route.endpoint), queries.get(route.endpoint),
                bodies.get(route.endpoint) if method != "GET" else None,
                responses.get(route.endpoint))
    return {
        "openapi": "3.1.0",
        "info": {"title": "hhu-sync depot web API", "version": __version__,
                 "description": "Every call needs a session (log in with POST /login, "
                                "form fields username and password; the cookie "
                                "hhu_session); every change needs the session's CSRF "
                                "token. docs/web.md has the rules."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie",
                                            "name": "hhu_session"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "status"],
                                  "properties": {"error": {"type": "string"},
                                                 "status": {"type": "integer"}}}},
        },
    }
