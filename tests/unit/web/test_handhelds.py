"""The handhelds page: every HHU with its last sign, firmware, battery, flash and dock,
what is queued for it (by its id or by its crew), revoked ones marked; the same as JSON;
values shown as text; no transfer file or key in the answer."""

from __future__ import annotations

import base64

from hhu_sync.model.meterlist import MeterEntry, MeterList
from tests.unit.store.helpers import meter_list
from tests.unit.web.conftest import log_in

NOW = "2026-11-25T12:00:00+00:00"


def _fill(store) -> None:
    store.touch_hhu("HHU-001", dock="cradle-1", firmware="2.1", battery=87,
                    free_flash=3 << 20, now=NOW, crew="north")
    store.touch_hhu("HHU-002", dock="cradle-2", firmware="2.0", battery=12,
                    free_flash=None, now=NOW, crew="north")
    store.touch_hhu("HHU-003", dock="cradle-1", firmware="1.9", battery=50,
                    free_flash=1 << 20, now=NOW)
    store.add_meter_list(meter_list("L1", hhu="HHU-001"), NOW)           # its own
    store.add_meter_list(meter_list("L2", hhu=None, crew="north"), NOW)  # its crew's
    store.add_meter_list(meter_list("L3", hhu="HHU-003"), NOW)
    store.revoke_hhu("HHU-003", NOW)


def test_handhelds_need_a_session(client):
    assert client.get("/api/handhelds").status_code == 401
    r = client.get("/handhelds")
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_every_hhu_with_what_is_queued_for_it_and_the_revoked_marked(client, store):
    _fill(store)
    (d2,) = [d for d in store.pending_deliveries("HHU-002", "north", NOW) if d.ref == "L2"]
    store.bind_delivery(d2.delivery_id, "HHU-002", "B-L2", b"sealed-secret-bytes")
    log_in(client, "dana")
    hhus = {h["hhu_id"]: h for h in client.get("/api/handhelds").json()["hhus"]}
    assert list(hhus) == ["HHU-001", "HHU-002", "HHU-003"]
    one = hhus["HHU-001"]
    assert {k: one[k] for k in ("crew", "firmware", "battery_pct", "free_flash", "dock",
                                "last_seen", "revoked")} == {
        "crew": "north", "firmware": "2.1", "battery_pct": 87, "free_flash": 3 << 20,
        "dock": "cradle-1", "last_seen": NOW, "revoked": False}
    assert [(q["kind"], q["ref"], q["for"]) for q in one["queued"]] == [
        ("meter_list", "L1", "hhu")]                    # L2 is bound to HHU-002 now
    two = hhus["HHU-002"]
    assert [(q["ref"], q["for"], q["packed"]) for q in two["queued"]] == [("L2", "crew", True)]
    three = hhus["HHU-003"]
    assert three["revoked"] and three["dock"] is None and three["queued"] == []
    assert set(one) == {"hhu_id", "crew", "firmware", "battery_pct", "free_flash", "dock",
                        "depot", "last_seen", "last_activity", "session_running_since",
                        "revoked", "queued"}
    assert one["depot"] == store.depot             # the depot that saw it (test_depots.py)
    page = client.get("/handhelds").text
    assert "HHU-003 <span class=\"badge bad\">revoked</span>" in page
    assert '<a href="/lists/L1">L1</a>' in page and "3.0 MiB" in page
    for body in (client.get("/api/handhelds").text, page):
        assert "sealed-secret-bytes" not in body
        assert base64.b64encode(b"sealed-secret-bytes").decode() not in body


def test_a_crew_list_not_yet_bound_is_queued_for_every_hhu_of_the_crew(client, store):
    _fill(store)
    log_in(client, "dana")
    hhus = {h["hhu_id"]: h for h in client.get("/api/handhelds").json()["hhus"]}
    assert [q["ref"] for q in hhus["HHU-001"]["queued"]] == ["L1", "L2"]
    assert [q["ref"] for q in hhus["HHU-002"]["queued"]] == ["L2"]


def test_values_on_the_handhelds_page_are_shown_as_text(client, store):
    store.touch_hhu("HHU-9", dock="<b>cradle</b>", firmware="<script>alert(1)</script>",
                    battery=None, free_flash=None, now=NOW, crew="<i>x</i>")
    store.add_meter_list(MeterList("L9", "n", "HHU-9", None, "2026-12-01", "",
                                   (MeterEntry("M1", "", "", "read", None, None, ""),)), NOW)
    log_in(client, "dana")
    page = client.get("/handhelds").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<b>cradle</b>" not in page and "&lt;b&gt;cradle&lt;/b&gt;" in page
    assert "<i>x</i>" not in page


def test_the_nav_links_to_the_new_pages(client):
    log_in(client, "dana")
    page = client.get("/docks").text
    assert '<a href="/handhelds">' in page and '<a href="/lists">' in page
