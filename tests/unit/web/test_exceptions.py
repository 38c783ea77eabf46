"""The exceptions pages: filtered, paged, counted by kind; one exception's evidence side
by side; resolving it (office and admin) once, audited, through the store's rules; the
same as JSON; bad requests 400 naming the field; values shown as text."""

from __future__ import annotations

import json

import pytest

from hhu_sync.store.exceptions import ExceptionFilter
from tests.unit.store.helpers import meter_list, upload, visit
from tests.unit.web.conftest import csrf_of, log_in

NOW = "2026-11-25T12:00:00+00:00"
NOTE = "<script>alert('gate')</script>"
VALUE = "<b>9</b>"


@pytest.fixture
def conflict(store) -> int:
    """M1 1.8.1 held 100.0 from U1; U2 (HHU-002, a note with markup) brought 999.9 (and
is a second reading on L1: already_read too)."""
    store.add_meter_list(meter_list("L1", ("M1", "M2")))
    store.ingest(upload("U1", [visit("M1", value="100.0")]), NOW)
    store.ingest(upload("U2", [visit("M1", value="999.9", notes=NOTE)], hhu="HHU-002"), NOW)
    (row,) = store.exceptions(ExceptionFilter(kind="conflict")).rows
    return row.exception_id


def _resolutions(store) -> list:
    return [e for e in store.audit_log() if e.action == "exception.resolve"]


def _post(client, eid, body, csrf):
    return client.post(f"/api/exceptions/{eid}/resolve", content=body,
                       headers={"X-CSRF-Token": csrf, "content-type": "application/json"})


def test_exceptions_need_a_session(client, conflict, store):
    for path in ("/api/exceptions", f"/api/exceptions/{conflict}"):
        assert client.get(path).status_code == 401
    for path in ("/exceptions", f"/exceptions/{conflict}"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.post(f"/api/exceptions/{conflict}/resolve",
                       json={"decision": "dismiss", "reason": "x"}).status_code == 401
    assert _resolutions(store) == []


def test_the_list_with_counts_by_kind_filters_and_pages(client, conflict, store):
    for n in range(3):
        store.ingest(upload(f"X{n}", [visit(f"Z{n}")]), NOW)
    log_in(client, "dana")
    body = client.get("/api/exceptions").json()
    assert body["counts"] == {"already_read": 1, "conflict": 1, "not_on_list": 3}
    first = client.get("/api/exceptions?kind=not_on_list&limit=2").json()
    assert [x["meter"] for x in first["exceptions"]] == ["Z2", "Z1"]
    rest = client.get(f"/api/exceptions?kind=not_on_list&limit=2&before="
                      f"{first['next_before']}").json()
    assert [x["meter"] for x in rest["exceptions"]] == ["Z0"] and rest["next_before"] is None
    assert [x["upload_id"] for x in client.get("/api/exceptions?upload=X1").json()[
        "exceptions"]] == ["X1"]
    assert client.get("/api/exceptions?meter=M1&state=open").json()["counts"] == {
        "already_read": 1, "conflict": 1}
    for query, field in (("kind=nope", "kind"), ("state=closed", "state"),
                         ("limit=201", "limit"), ("before=x", "before"),
                         ("meter=" + "m" * 129, "meter")):
        r = client.get(f"/api/exceptions?{query}")
        assert r.status_code == 400 and r.json()["error"].startswith(f"{field}:")
    page = client.get("/exceptions?kind=not_on_list&limit=2").text
    assert 'rel="next"' in page and "before=" in page
    assert '<a href="/exceptions?kind=conflict"' in client.get("/exceptions").text


def test_one_exception_with_its_evidence_as_json_and_page(client, conflict):
    log_in(client, "dana")
    e = client.get(f"/api/exceptions/{conflict}").json()
    assert (e["exception"]["kind"], e["brought"], e["choices"]) == (
        "conflict", "999.9", ["100.0", "999.9"])
    (held,) = e["held"]
    assert (held["value"], held["status"], held["upload_id"], held["hhu"]) == (
        "100.0", "conflict", "U1", "HHU-001")
    assert (e["visit"]["notes"], e["visit"]["operator"], e["upload"]["hhu_id"]) == (
        NOTE, "crew-a", "HHU-002")
    page = client.get(f"/exceptions/{conflict}").text
    assert "100.0" in page and "999.9" in page
    assert "Your role may not resolve" in page and "/resolve" not in page   # depot


def test_markup_in_a_note_and_a_value_is_shown_as_text(client, store):
    store.ingest(upload("U7", [visit("M1", list_id="L7", value=VALUE, notes=NOTE)]), NOW)
    log_in(client, "otto")
    rows = client.get("/api/exceptions").json()["exceptions"]
    for x in rows:
        page = client.get(f"/exceptions/{x['exception_id']}").text
        assert "<script>alert" not in page and "<b>9</b>" not in page
    assert "&lt;b&gt;9&lt;/b&gt;" in client.get("/exceptions").text
    unknown = next(x for x in rows if x["kind"] == "unknown_list")
    page = client.get(f"/exceptions/{unknown['exception_id']}").text
    assert "&lt;script&gt;alert(&#39;gate&#39;)&lt;/script&gt;" in page


def test_an_unknown_exception_is_404(client, conflict):
    log_in(client, "otto")
    csrf = csrf_of(client)
    for path in ("/api/exceptions/9999", "/api/exceptions/x"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["status"] == 404
    assert client.get("/exceptions/9999").status_code == 404
    r = _post(client, 9999, json.dumps({"decision": "dismiss", "reason": "r"}), csrf)
    assert r.status_code == 404 and r.json()["error"] == "no exception 9999"


def test_a_resolve_without_the_csrf_token_is_403_and_changes_nothing(client, conflict,
                                                                     store):
    log_in(client, "otto")
    body = {"decision": "accept", "value": "999.9"}
    assert client.post(f"/api/exceptions/{conflict}/resolve", json=body).status_code == 403
    assert client.post(f"/api/exceptions/{conflict}/resolve", json=body,
                       headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.post(f"/exceptions/{conflict}/resolve",
                       data={**body, "csrf": "wrong"}).status_code == 403
    assert _resolutions(store) == [] and next(store.readings()).status == "conflict"


def test_depot_may_not_resolve(client, conflict, store):
    log_in(client, "dana")
    r = _post(client, conflict, json.dumps({"decision": "accept", "value": "999.9"}),
              csrf_of(client))
    assert r.status_code == 403 and r.json()["error"] == "role depot may not resolve"
    assert _resolutions(store) == [] and next(store.readings()).status == "conflict"


@pytest.mark.parametrize(("body", "field"), [
    ("{not json", "body"), ("[1, 2]", "body"), ("{}", "decision"),
    ('{"decision": 1}', "decision"), ('{"decision": "maybe"}', "decision"),
    ('{"decision": "dismiss"}', "reason"),
    (json.dumps({"decision": "dismiss", "reason": "r" * 501}), "reason"),
    ('{"decision": "accept", "value": 7}', "value"),
    ('{"decision": "accept", "value": "1", "extra": 1}', "extra"),
])
def test_a_bad_body_is_400_naming_the_field(client, conflict, store, body, field):
    log_in(client, "otto")
    r = _post(client, conflict, body, csrf_of(client))
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(f"{field}:")
    assert _resolutions(store) == []


def test_office_accepts_a_value_once_and_the_second_resolve_is_409(client, conflict, store):
    log_in(client, "otto")
    csrf = csrf_of(client)
    r = _post(client, conflict, json.dumps({"decision": "accept", "value": "999.9"}), csrf)
    assert r.status_code == 200
    assert {k: r.json()[k] for k in ("decision", "value", "replaced", "user")} == {
        "decision": "accept", "value": "999.9", "replaced": "100.0", "user": "otto"}
    assert [(x.value, x.status) for x in store.readings()] == [("999.9", "ok")]
    again = _post(client, conflict, json.dumps({"decision": "dismiss", "reason": "no"}), csrf)
    assert again.status_code == 409 and "resolved already" in again.json()["error"]
    (entry,) = _resolutions(store)
    assert (entry.user, entry.target) == ("otto", str(conflict))
    assert client.get(f"/api/exceptions/{conflict}").json()["resolution"]["user"] == "otto"


def test_a_value_not_seen_under_the_key_is_409(client, conflict, store):
    log_in(client, "otto")
    r = _post(client, conflict, json.dumps({"decision": "accept", "value": "1"}),
              csrf_of(client))
    assert r.status_code == 409 and r.json()["error"].startswith("value:")
    assert _resolutions(store) == []


def test_the_form_dismisses_with_a_reason_and_goes_back_to_the_exception(client, conflict,
                                                                         store):
    log_in(client, "ada")
    page = client.get(f"/exceptions/{conflict}").text
    assert page.count(f'action="/exceptions/{conflict}/resolve"') == 3   # 2 values, dismiss
    csrf = csrf_of(client)
    r = client.post(f"/exceptions/{conflict}/resolve",
                    data={"csrf": csrf, "decision": "dismiss", "reason": NOTE})
    assert r.status_code == 303 and r.headers["location"] == f"/exceptions/{conflict}"
    assert next(store.readings()).status == "conflict"
    page = client.get(f"/exceptions/{conflict}").text
    assert "/resolve" not in page and "&lt;script&gt;" in page and "<script>alert" not in page
    r = client.post(f"/exceptions/{conflict}/resolve",
                    data={"csrf": csrf, "decision": "dismiss", "reason": "again"})
    assert r.status_code == 409


def test_a_billing_mismatch_shows_the_register_read_it_disagrees_with(client, store):
    """``hhu-sync billing`` records it (hhu_sync.store.billing_rules): kept under the
    register read at the span's end, so the page shows that read; dismiss only."""
    store.ingest(upload("U1", [visit("M1", obis="1.8.0", value="1801.0")]), NOW)
    read = "2026-11-25T10:00:00+00:00"
    detail = ("billing 2026-11: import kWh 721.000 from intervals; register 1.8.0 advanced "
              "801.0 (1000.0 at 2026-11-01T00:00:00+00:00 to 1801.0 at " + read + ")")
    assert store.add_exceptions_once([("U1", "billing_mismatch", "M1", "1.8.0", read, None,
                                       detail, NOW)]) == 1
    log_in(client, "otto")
    (row,) = client.get("/api/exceptions?kind=billing_mismatch").json()["exceptions"]
    e = client.get(f"/api/exceptions/{row['exception_id']}").json()
    assert e["exception"]["detail"] == detail and e["choices"] == []
    assert [(h["obis"], h["value"]) for h in e["held"]] == [("1.8.0", "1801.0")]
    page = client.get(f"/exceptions/{row['exception_id']}").text
    assert "billing_mismatch" in page and "721.000" in page and "Dismiss only" in page
