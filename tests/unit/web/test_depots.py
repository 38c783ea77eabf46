"""Depots sharing one store, as the web app shows them: every session and handheld
names the depot that recorded it; ``?depot=X`` shows that depot's alone, no filter every
depot's; a depot id that is not one is a 400 naming the parameter."""

from __future__ import annotations

from hhu_sync.store import SqliteStore
from hhu_sync.web.app import create_app
from tests.unit.web.conftest import log_in

NOW = "2026-11-25T12:00:00+00:00"


def _two_depots(store: SqliteStore) -> None:
    """North's daemon (the fixture's store, renamed) and south's, on one database."""
    store.depot = "north"
    store.touch_hhu("HHU-N", dock="cradle-1", firmware="2.1", battery=80, free_flash=None,
                    now=NOW)
    north = store.start_session("cradle-1", NOW, hhu_id="HHU-N")
    store.end_session(north, hhu_id="HHU-N", outcome="done", pushed=1, pulled=2, report={},
                      now=NOW)
    south = SqliteStore(store.path, depot="south")
    try:
        south.touch_hhu("HHU-S", dock="cradle-1", firmware="2.0", battery=70,
                        free_flash=None, now=NOW)
        south.start_session("cradle-1", NOW, hhu_id="HHU-S")
    finally:
        south.close()


def test_sessions_name_their_depot_and_one_depot_is_shown_alone(client, store):
    _two_depots(store)
    log_in(client, "dana")
    every = client.get("/api/sessions").json()
    assert every["depot"] is None
    assert [(s["depot"], s["hhu_id"], s["outcome"]) for s in every["sessions"]] == [
        ("south", "HHU-S", "running"), ("north", "HHU-N", "done")]
    (north,) = client.get("/api/sessions?depot=north").json()["sessions"]
    assert (north["depot"], north["dock"], north["pushed"], north["pulled"]) == (
        "north", "cradle-1", 1, 2)
    assert client.get("/api/sessions?depot=east").json()["sessions"] == []
    page = client.get("/sessions?depot=south").text
    assert "Sessions of depot south" in page and "HHU-S" in page and "HHU-N" not in page
    assert '<option value="north">' in page and '<option value="south" selected>' in page
    both = client.get("/sessions").text
    assert "HHU-S" in both and "HHU-N" in both


def test_handhelds_name_the_depot_that_last_saw_them_and_filter_by_it(client, store):
    _two_depots(store)
    log_in(client, "dana")
    every = client.get("/api/handhelds").json()["hhus"]
    assert [(h["hhu_id"], h["depot"]) for h in every] == [("HHU-N", "north"),
                                                          ("HHU-S", "south")]
    (south,) = client.get("/api/handhelds?depot=south").json()["hhus"]
    assert (south["hhu_id"], south["dock"]) == ("HHU-S", "cradle-1")
    page = client.get("/handhelds?depot=north").text
    assert "last seen at depot north" in page and "HHU-N" in page and "HHU-S" not in page


def test_sessions_come_a_page_at_a_time_within_the_depot(client, store):
    _two_depots(store)
    for n in range(3):
        store.start_session(f"cradle-{n}", NOW)
    log_in(client, "dana")
    first = client.get("/api/sessions?depot=north&limit=2").json()
    assert [s["dock"] for s in first["sessions"]] == ["cradle-2", "cradle-1"]
    rest = client.get(f"/api/sessions?depot=north&limit=2&before={first['next']}").json()
    assert [s["dock"] for s in rest["sessions"]] == ["cradle-0", "cradle-1"]
    assert rest["next"] is None and {s["depot"] for s in rest["sessions"]} == {"north"}


def test_a_depot_that_is_not_an_id_is_refused_naming_the_parameter(client, store):
    log_in(client, "dana")
    for path in ("/api/sessions", "/api/handhelds"):
        r = client.get(f"{path}?depot=../x")
        assert r.status_code == 400 and "depot" in r.json()["error"], path


def test_the_docks_page_names_this_servers_depot(store, clock):
    app = create_app(store, clock=clock, extra={"depot": "north"})
    from starlette.testclient import TestClient
    with TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False) as c:
        log_in(c, "dana")
        assert c.get("/api/docks").json()["depot"] == "north"
        page = c.get("/docks").text
        assert "Docks of depot north" in page and 'href="/sessions?depot=north"' in page
        assert '<a href="/sessions">Sessions</a>' in page             # in the nav


def test_the_audit_log_names_the_depot_that_recorded_each_change(client, store):
    store.depot = "north"
    log_in(client, "ada")
    csrf = client.get("/api/me").json()["csrf"]
    r = client.post("/api/users", headers={"x-csrf-token": csrf},
                    json={"name": "newbie", "role": "depot", "password": "a long passphrase"})
    assert r.status_code in (200, 201), r.text
    newest = client.get("/api/audit").json()[0]
    assert (newest["action"], newest["depot"]) == ("user.add", "north")
    assert "<td>north</td>" in client.get("/audit").text


def test_the_docks_page_of_another_depot_shows_its_docks_as_recorded(store, clock):
    _two_depots(store)
    app = create_app(store, clock=clock, extra={"depot": "north"})
    from starlette.testclient import TestClient
    with TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False) as c:
        log_in(c, "dana")
        south = c.get("/api/docks?depot=south").json()
        assert (south["live"], south["depot"], south["cradles"]) == (False, "south", [])
        assert [(d["dock"], d["hhu_id"], d["session_running_since"])
                for d in south["recorded"]] == [("cradle-1", "HHU-S", NOW)]
        assert c.get("/api/docks?depot=north").json()["depot"] == "north"   # its own
        page = c.get("/docks?depot=south").text
        assert "Docks of depot south" in page and "HHU-S" in page
        assert 'id="docks"' not in page                 # not the live board of north's
        assert '<option value="south" selected>' in page
        assert c.get("/api/docks?depot=..").status_code == 400
