"""The remote runs pages (issue 17, point 4): each run of a remote list with its state,
when and by whom it was begun and its meters done of all; a run's page with each
meter's state, outcome, attempts and the depot's runner that read it; the same as JSON
(in the OpenAPI document), for every role that may view; values shown as text."""

from __future__ import annotations

from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.remote.runner import upload_id_of
from hhu_sync.store.claim_rules import ClaimState
from tests.unit.store.helpers import upload, visit
from tests.unit.web.conftest import log_in

NOW = "2026-11-25T08:00:00+00:00"
AT = 1_800_000_000.0                   # the web tests' clock (conftest.Clock)
NOTE = "<script>alert('modem')</script>"
BUS = "socket://10.0.0.1:4001"


def _night() -> MeterList:
    entries = tuple(MeterEntry(serial, f"Unit {n}", "", "read", None, None, "", port=port,
                               device_address=address)
                    for n, (serial, port, address) in enumerate(
                        [("M1", BUS, "1"), ("M2", BUS, "2"),
                         ("M3", "socket://10.0.0.2:9000", None),
                         ("M4", "socket://10.0.0.3:9000", None)], start=1))
    return MeterList("NIGHT", "Night estate", None, None, "2026-12-31", "", entries,
                     target="remote")


def _running(store) -> int:
    """Run of NIGHT begun by remote-A: M1 read by A, M3 not found by B (3 attempts,
    a note), M2 held by A now, M4 waiting."""
    store.add_meter_list(_night(), NOW)
    [run] = store.remote_runs()
    rid = run.delivery_id
    assert store.begin_remote_run(rid, "remote-A", NOW) == "remote-A"
    for seq, runner in ((0, "remote-A"), (2, "remote-B")):
        entry = _night().meters[seq]
        assert store.claim_remote_meter(rid, seq, serial=entry.serial, port=entry.port or "",
                                        runner=runner, at=AT - 30, lease_s=60) == "claimed"
    store.ingest(upload(upload_id_of(rid, 0, "NIGHT"), [visit("M1", list_id="NIGHT")],
                        hhu="remote-A"), NOW)
    store.settle_remote_meter(rid, 0, "remote-A", state=ClaimState.DONE, outcome="done",
                              attempts=1, upload_id=upload_id_of(rid, 0, "NIGHT"), notes="",
                              at=AT - 20)
    store.ingest(upload(upload_id_of(rid, 2, "NIGHT"),
                        [visit("M3", list_id="NIGHT", outcome="not_found", notes=NOTE)],
                        hhu="remote-A"), NOW)
    store.settle_remote_meter(rid, 2, "remote-B", state=ClaimState.DONE,
                              outcome="not_found", attempts=3,
                              upload_id=upload_id_of(rid, 2, "NIGHT"), notes=NOTE, at=AT - 10)
    assert store.claim_remote_meter(rid, 1, serial="M2", port=BUS, runner="remote-A",
                                    at=AT - 5, lease_s=60) == "claimed"
    return rid


def test_remote_runs_need_a_session(client, store):
    rid = _running(store)
    for path in ("/api/remote/runs", f"/api/remote/runs/{rid}"):
        assert client.get(path).status_code == 401
    for path in ("/remote", f"/remote/runs/{rid}"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login"


def test_the_runs_as_json_with_their_meters_done_of_all_and_their_readers(client, store):
    rid = _running(store)
    log_in(client, "dana")                                   # depot staff may view
    body = client.get("/api/remote/runs").json()
    [run] = body["runs"]
    assert (run["delivery_id"], run["list_id"], run["name"], run["state"], run["runner"],
            run["started_at"], run["total"], run["settled"], run["claimed"],
            run["readers"], run["live"]) == (
        rid, "NIGHT", "Night estate", "running", "remote-A", NOW, 4, 2, 1,
        ["remote-A", "remote-B"], True)
    assert body["poll_seconds"] > 0
    assert client.get("/api/remote/runs?limit=0").status_code == 400


def test_a_run_as_json_gives_each_meters_state_outcome_attempts_and_reader(client, store):
    rid = _running(store)
    log_in(client, "otto")
    run = client.get(f"/api/remote/runs/{rid}").json()
    assert run["settled"] == 2 and run["total"] == 4
    got = [(m["serial"], m["state"], m["outcome"], m["attempts"], m["runner"])
           for m in run["meters"]]
    assert got == [("M1", "done", "done", 1, "remote-A"),
                   ("M2", "reading", None, 0, "remote-A"),
                   ("M3", "done", "not_found", 3, "remote-B"),
                   ("M4", "waiting", None, 0, None)]
    m2 = run["meters"][1]
    assert m2["lease_until"] is not None and m2["port"] == BUS and m2["device_address"] == "2"
    assert run["meters"][2]["notes"] == NOTE


def test_a_claim_whose_lease_ran_out_is_shown_lapsed(client, store, clock):
    rid = _running(store)
    log_in(client, "dana")
    clock.t = AT + 120                  # remote-A's lease on M2 ran out a minute ago
    states = [m["state"] for m in client.get(f"/api/remote/runs/{rid}").json()["meters"]]
    assert states == ["done", "lapsed", "done", "waiting"]


def test_the_pages_show_runs_and_meters_as_text_and_poll_their_json(client, store):
    rid = _running(store)
    log_in(client, "dana")
    listing = client.get("/remote")
    assert listing.status_code == 200
    assert f'href="/remote/runs/{rid}"' in listing.text and "2 / 4" in listing.text
    assert 'data-api="/api/remote/runs?limit=100"' in listing.text
    assert '<a href="/remote">Remote runs</a>' in listing.text        # in the menu
    page = client.get(f"/remote/runs/{rid}")
    assert page.status_code == 200
    assert NOTE not in page.text and "&lt;script&gt;alert(" in page.text
    assert f'data-api="/api/remote/runs/{rid}"' in page.text and 'data-live="yes"' in page.text
    assert '<script src="/static/remote.js" defer></script>' in page.text
    assert "remote-B" in page.text and "not_found" in page.text
    assert client.get("/static/remote.js").status_code == 200


def test_an_ended_run_stops_asking(client, store):
    rid = _running(store)
    store.requeue_list("NIGHT", NOW)               # a new run: this one has ended
    log_in(client, "dana")
    run = client.get(f"/api/remote/runs/{rid}").json()
    assert (run["state"], run["live"]) == ("ended", False)
    assert 'data-live="no"' in client.get(f"/remote/runs/{rid}").text


def test_an_unknown_run_is_404(client, store):
    _running(store)
    log_in(client, "dana")
    for path in ("/api/remote/runs/999", "/api/remote/runs/x1", "/remote/runs/999"):
        assert client.get(path).status_code == 404, path
    assert "no remote run" in client.get("/api/remote/runs/999").json()["error"]


def test_the_runs_are_in_the_openapi_document_for_every_role(client, store):
    log_in(client, "dana")
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in ("/api/remote/runs", "/api/remote/runs/{run_id}"):
        op = paths[path]["get"]
        assert op["x-action"] == "view" and op["x-roles"] == ["admin", "depot", "office"]
    assert "404" in paths["/api/remote/runs/{run_id}"]["get"]["responses"]


def test_the_events_of_an_unknown_run_are_404_and_the_pages_name_their_streams(client,
                                                                               store):
    rid = _running(store)
    log_in(client, "dana")
    assert client.get("/api/remote/runs/999/events").status_code == 404
    assert f'data-events="/api/remote/runs/{rid}/events"' in client.get(
        f"/remote/runs/{rid}").text
    assert 'data-events="/api/remote/runs/events"' in client.get("/remote").text
    paths = client.get("/api/openapi.json").json()["paths"]
    op = paths["/api/remote/runs/{run_id}/events"]["get"]
    assert "text/event-stream" in op["responses"]["200"]["content"]
