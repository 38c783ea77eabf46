"""The meter lists pages: each list's state, due date and meters, a list's visits with
their outcomes and notes; requeue (depot and up) and cancel (office and up) through the
CLI's rules, each audited with the state before and after in the change's transaction;
the same as JSON; values shown as text."""

from __future__ import annotations

import json

import pytest

from hhu_sync import failpoints
from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.store import ListState, StoreError
from tests.unit.store.helpers import meter_list, upload, visit
from tests.unit.web.conftest import csrf_of, log_in

NOW = "2026-11-25T12:00:00+00:00"
NOTE = "<script>alert('gate')</script>"


def _fill(store) -> None:
    """L1 partial (M1 done, M2 no access with a note), L2 queued for a crew."""
    store.add_meter_list(meter_list("L1", ("M1", "M2")), NOW)
    (d,) = store.pending_deliveries("HHU-001", None, NOW)
    store.bind_delivery(d.delivery_id, "HHU-001", "B-1", b"sealed-secret-bytes")
    store.delivery_done(d.delivery_id, "HHU-001", NOW)
    store.ingest(upload("U-1", [visit("M1"), visit("M2", outcome="no_access", notes=NOTE)]),
                 NOW)
    store.add_meter_list(meter_list("L2", ("M3",), hhu=None, crew="north"), NOW)


def _audit(store, action: str) -> list:
    return [e for e in store.audit_log() if e.action == action]


@pytest.fixture
def filled(store):
    _fill(store)
    assert store.list_state("L1") == ListState.PARTIAL
    return store


def test_lists_need_a_session_and_nothing_changes_without_one(client, filled):
    for path in ("/api/lists", "/api/lists/L1"):
        assert client.get(path).status_code == 401
    for path in ("/lists", "/lists/L1"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.post("/api/lists/L1/cancel").status_code == 401
    assert client.post("/lists/L1/requeue", data={"csrf": "x"}).status_code == 303
    assert filled.list_state("L1") == ListState.PARTIAL and _audit(filled, "list.cancel") == []


def test_every_list_by_state_as_json_and_one_state_alone(client, filled):
    log_in(client, "dana")
    body = client.get("/api/lists").json()
    assert body["by_state"] == {"queued": 1, "on_hhu": 0, "running": 0, "uploaded": 0,
                                "complete": 0, "partial": 1, "cancelled": 0}
    assert [(r["list_id"], r["state"], r["entries"], r["hhu"], r["crew"], r["due"],
             r["delivered_to"]) for r in body["lists"]] == [
        ("L1", "partial", 2, "HHU-001", None, "2026-12-01", "HHU-001"),
        ("L2", "queued", 1, None, "north", "2026-12-01", None)]
    assert set(body["lists"][0]) == {"list_id", "name", "hhu", "crew", "due", "state",
                                     "entries", "delivered_to"}
    only = client.get("/api/lists?state=queued").json()["lists"]
    assert [r["list_id"] for r in only] == ["L2"]
    bad = client.get("/api/lists?state=lost")
    assert bad.status_code == 400 and bad.json()["error"].startswith("state: must be one of")
    page = client.get("/lists").text
    assert '<a href="/lists/L1">L1</a>' in page and "partial 1" in page


def test_a_list_with_its_meters_visits_outcomes_and_notes(client, filled):
    log_in(client, "dana")
    one = client.get("/api/lists/L1").json()
    assert {k: one[k] for k in ("list_id", "state", "due", "entries", "delivered_to")} == {
        "list_id": "L1", "state": "partial", "due": "2026-12-01", "entries": 2,
        "delivered_to": "HHU-001"}
    m1, m2 = one["meters"]
    assert (m1["serial"], m1["outcome"], m2["serial"], m2["outcome"]) == (
        "M1", "done", "M2", "no_access")
    (v,) = m2["visits"]
    assert (v["notes"], v["operator"], v["hhu"], v["upload_id"]) == (
        NOTE, "crew-a", "HHU-001", "U-1")
    (d,) = one["deliveries"]
    assert (d["state"], d["target_hhu"], d["attempts"]) == ("delivered", "HHU-001", 1)
    assert set(d) == {"delivery_id", "target_hhu", "target_crew", "state", "attempts",
                      "last_error", "created_at", "delivered_at"}
    assert one["other_visits"] == []
    assert client.get("/api/lists/L2").json()["meters"][0]["outcome"] is None


def test_notes_and_names_with_markup_are_shown_as_text(client, store):
    store.add_meter_list(MeterList("L7", "<b>route</b>", "HHU-001", None, "2026-12-01",
                                   "<img src=x onerror=alert(1)>",
                                   (MeterEntry("M1", "<i>site</i>", "", "read", None, None,
                                               "<script>alert(2)</script>"),)), NOW)
    store.ingest(upload("U-7", [visit("M1", list_id="L7", outcome="no_access",
                                      notes=NOTE)]), NOW)
    log_in(client, "dana")
    for path in ("/lists", "/lists/L7"):
        page = client.get(path).text
        assert "<b>route</b>" not in page and "&lt;b&gt;route&lt;/b&gt;" in page
    page = client.get("/lists/L7").text
    for raw in ("<script>alert", "<img src=x", "<i>site</i>"):
        assert raw not in page
    assert "&lt;script&gt;alert(&#39;gate&#39;)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_an_unknown_list_is_404_with_a_message(client, filled):
    log_in(client, "otto")
    csrf = csrf_of(client)
    r = client.get("/api/lists/nope")
    assert r.status_code == 404 and r.json() == {"error": "no meter list 'nope'",
                                                 "status": 404}
    page = client.get("/lists/nope")
    assert page.status_code == 404 and "no meter list &#39;nope&#39;" in page.text
    for action in ("requeue", "cancel"):
        r = client.post(f"/api/lists/nope/{action}", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 404 and r.json()["error"] == "no meter list 'nope'"
        assert client.post(f"/lists/nope/{action}", data={"csrf": csrf}).status_code == 404
    assert filled.audit_log()[0].action == "user.add"


def test_a_change_without_the_csrf_token_is_403_and_changes_nothing(client, filled):
    log_in(client, "otto")
    for path in ("/api/lists/L1/cancel", "/api/lists/L1/requeue"):
        assert client.post(path).status_code == 403
        assert client.post(path, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    for path in ("/lists/L1/cancel", "/lists/L1/requeue"):
        assert client.post(path, data={"csrf": "wrong"}).status_code == 403
        assert client.post(path, data={}).status_code == 403
    assert filled.list_state("L1") == ListState.PARTIAL
    assert not [e for e in filled.audit_log() if e.action.startswith("list.")]


def test_depot_requeues_audited_but_may_not_cancel(client, filled):
    log_in(client, "dana")
    csrf = csrf_of(client)
    r = client.post("/api/lists/L1/cancel", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and r.json()["error"] == "role depot may not cancel"
    assert filled.list_state("L1") == ListState.PARTIAL and _audit(filled, "list.cancel") == []
    r = client.post("/api/lists/L1/requeue", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    assert r.json() == {"list_id": "L1", "action": "requeue", "before": "partial",
                        "after": "queued"}
    assert filled.list_state("L1") == ListState.QUEUED
    assert len(filled.pending_deliveries("HHU-001", None, NOW)) == 1    # sent again
    (entry,) = _audit(filled, "list.requeue")
    assert (entry.user, entry.target) == ("dana", "L1")
    assert (json.loads(entry.before), json.loads(entry.after)) == (
        {"state": "partial"}, {"state": "queued"})
    page = client.get("/lists/L1").text
    assert 'action="/lists/L1/requeue"' in page and 'action="/lists/L1/cancel"' not in page


def test_office_cancels_from_the_form_and_is_sent_back_to_the_list(client, filled):
    log_in(client, "otto")
    page = client.get("/lists/L2").text
    assert 'action="/lists/L2/requeue"' in page and 'action="/lists/L2/cancel"' in page
    r = client.post("/lists/L2/cancel", data={"csrf": csrf_of(client)})
    assert r.status_code == 303 and r.headers["location"] == "/lists/L2"
    assert filled.list_state("L2") == ListState.CANCELLED
    assert filled.pending_deliveries("HHU-009", "north", NOW) == []     # nothing is sent
    (entry,) = _audit(filled, "list.cancel")
    assert (entry.user, entry.target, json.loads(entry.before), json.loads(entry.after)) == (
        "otto", "L2", {"state": "queued"}, {"state": "cancelled"})
    page = client.get("/lists/L2").text
    assert "cancelled" in page and 'action="/lists/L2/cancel"' not in page   # done already
    assert 'action="/lists/L2/requeue"' in page
    assert [e["action"] for e in client.get("/api/audit").json()][0] == "list.cancel"


def test_a_change_the_store_refuses_is_409_with_its_message(client, filled, monkeypatch):
    def refuse(list_id, now="", *, change=None):
        raise StoreError(f"meter list {list_id!r} is locked by an export")

    monkeypatch.setattr(filled, "requeue_list", refuse)
    log_in(client, "dana")
    csrf = csrf_of(client)
    r = client.post("/api/lists/L1/requeue", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 409
    assert r.json() == {"error": "meter list 'L1' is locked by an export", "status": 409}
    page = client.post("/lists/L1/requeue", data={"csrf": csrf})
    assert page.status_code == 409 and "is locked by an export" in page.text
    assert _audit(filled, "list.requeue") == []


def test_a_storage_fault_is_503_and_neither_the_change_nor_its_audit_is_kept(
        client, filled, monkeypatch):
    log_in(client, "otto")
    csrf = csrf_of(client)
    monkeypatch.setattr(failpoints, "_ARMED", frozenset({"store.commit"}))
    r = client.post("/api/lists/L2/cancel", headers={"X-CSRF-Token": csrf})
    monkeypatch.undo()
    assert r.status_code == 503 and "nothing changed" in r.json()["error"]
    assert str(filled.path) not in r.text
    assert filled.list_state("L2") == ListState.QUEUED
    assert _audit(filled, "list.cancel") == []          # one transaction: both or neither


def test_no_transfer_file_or_meter_secret_reaches_a_list_page_or_the_api(client, filled):
    log_in(client, "ada")
    for path in ("/api/lists", "/api/lists/L1", "/lists", "/lists/L1"):
        body = client.get(path).text
        assert "sealed-secret-bytes" not in body and "bundle" not in body
