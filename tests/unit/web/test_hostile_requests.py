"""Hostile requests get a clear 4xx, never a 500 and never an unbounded read: crafted
ids, cursors and numbers, tokens that are not ASCII, bodies without a Content-Length,
forms sent to JSON routes, JSON names given twice (found by an attack review)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from hhu_sync.store.exceptions import ExceptionFilter
from hhu_sync.store.paging import encode_cursor
from tests.unit.store.helpers import meter_list, upload, visit
from tests.unit.web.conftest import csrf_of, log_in

NOW = "2026-11-25T12:00:00+00:00"
PAD = {f"p{i}": "A" * 1_000_000 for i in range(3)}


@pytest.fixture
def conflict(store) -> int:
    store.add_meter_list(meter_list("L1", ("M1", "M2")))
    store.ingest(upload("U1", [visit("M1", value="100.0")]), NOW)
    store.ingest(upload("U2", [visit("M1", value="999.9")], hhu="HHU-002"), NOW)
    (row,) = store.exceptions(ExceptionFilter(kind="conflict")).rows
    return row.exception_id


@pytest.fixture
def raw(app):
    """A client that answers a handler's crash as the server would: 500."""
    with TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False,
                    raise_server_exceptions=False) as c:
        yield c


def test_an_id_of_digits_that_are_not_0_to_9_is_not_found(raw, conflict):
    log_in(raw, "otto")
    assert raw.get("/api/exceptions/%C2%B2").status_code == 404       # '²'.isdigit()
    assert raw.get("/exceptions/%C2%B2").status_code == 404
    r = raw.post("/api/exceptions/%C2%B2/resolve", json={"decision": "dismiss",
                                                          "reason": "x"},
                 headers={"X-CSRF-Token": csrf_of(raw)})
    assert r.status_code == 404


def test_numbers_beyond_what_the_database_holds_are_400(raw):
    log_in(raw, "dana")
    r = raw.get("/api/audit?before=" + "9" * 30)
    assert r.status_code == 400 and r.json()["error"].startswith("before:")
    after = encode_cursor("2026-01-01T00:00:00+00:00", "9" * 19)
    assert raw.get(f"/api/outbox?after={after}").status_code == 400
    assert raw.get(f"/outbox?after={after}").status_code == 400


def test_a_token_that_is_not_ascii_is_a_wrong_token(raw):
    log_in(raw, "dana")
    assert raw.post("/logout", data={"csrf": "é"}).status_code == 403
    r = raw.post("/api/lists/L1/requeue", headers={"X-CSRF-Token": "\xe9".encode("latin-1")})
    assert r.status_code == 403


def test_a_form_sent_to_a_json_route_is_400_not_a_crash(raw, conflict, store):
    log_in(raw, "otto")
    r = raw.post(f"/api/exceptions/{conflict}/resolve",
                 data={"csrf": csrf_of(raw), "decision": "dismiss", "reason": "x"})
    assert r.status_code == 400 and r.json()["error"].startswith("body:")
    assert store.exception(conflict).resolution is None


def test_a_json_name_given_twice_is_refused(client, conflict, store):
    log_in(client, "otto")
    h = {"X-CSRF-Token": csrf_of(client), "content-type": "application/json"}
    body = b'{"decision": "accept", "decision": "dismiss", "reason": "x"}'
    r = client.post(f"/api/exceptions/{conflict}/resolve", content=body, headers=h)
    assert r.status_code == 400 and r.json()["error"] == "decision: given more than once"
    assert store.exception(conflict).resolution is None


def test_every_change_is_bounded_counted_as_it_arrives(client):
    log_in(client, "dana")
    token = csrf_of(client)
    assert client.post("/lists/L9/requeue", data={"csrf": token, **PAD}).status_code == 413
    assert client.post("/logout", data={"csrf": token, **PAD}).status_code == 413

    def chunks():                                     # no Content-Length
        yield f"csrf={token}".encode()
        for _ in range(3):
            yield b"&p=" + b"A" * 1_000_000

    r = client.post("/lists/L9/requeue", content=chunks(),
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


def test_the_login_form_is_bounded_without_a_content_length_too(client):
    def chunks():
        yield b"username=dana&password=nope"
        for k in range(5):
            yield b"&f%d=" % k + b"A" * 1_000_000

    r = client.post("/login", content=chunks(),
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


def test_a_role_that_may_not_is_refused_before_its_body_is_read(client):
    log_in(client, "dana")                            # depot may not upload
    r = client.post("/api/outbox?filename=x.toml", content=b"x" * 100,
                    headers={"X-CSRF-Token": csrf_of(client)})
    assert r.status_code == 403


@pytest.mark.parametrize("path", ["/login", "/api/outbox", "/api/users"])
def test_a_client_that_hangs_up_mid_body_is_one_quiet_line_not_a_crash(app, path, caplog):
    """Found by a new user's attack: a chunked body broken off by the client raised
    ``ClientDisconnect`` out of the app (a traceback in the daemon's log)."""
    import asyncio

    async def call() -> list[dict]:
        sent: list[dict] = []
        parts = iter([{"type": "http.request", "body": b"username=da", "more_body": True},
                      {"type": "http.disconnect"}])

        async def receive() -> dict:
            return next(parts, {"type": "http.disconnect"})

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "root_path": "", "query_string": b"", "client": ("127.0.0.1", 5000),
                 "server": ("127.0.0.1", 8080),
                 "headers": [(b"host", b"127.0.0.1:8080"),
                             (b"transfer-encoding", b"chunked"),
                             (b"content-type", b"application/x-www-form-urlencoded")]}
        await app(scope, receive, send)
        return sent

    sent = asyncio.run(call())
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses and all(400 <= s < 500 for s in statuses), statuses
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
