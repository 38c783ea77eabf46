"""Requeue and cancel as the CLI and the web app apply them: an unknown list refused by
id, the state before and after returned, the audit entry written in the change's own
transaction; a list's view with its deliveries and visits."""

from __future__ import annotations

import json

import pytest

from hhu_sync import failpoints
from hhu_sync.store import ListState, StorageUnavailable, StoreError
from hhu_sync.store.accounts import Change
from hhu_sync.store.list_actions import UnknownList, change_list
from tests.unit.store.helpers import meter_list, upload, visit

NOW = "2026-11-25T12:00:00+00:00"


def test_a_change_says_the_state_before_and_after_and_audits_it_when_asked(store):
    store.add_meter_list(meter_list(), NOW)
    done = change_list(store, "L1", "cancel", NOW, user="otto")
    assert (done.before, done.after) == (ListState.QUEUED, ListState.CANCELLED)
    done = change_list(store, "L1", "requeue", NOW)                  # the CLI: no user
    assert (done.before, done.after) == (ListState.CANCELLED, ListState.QUEUED)
    (entry,) = store.audit_log()
    assert (entry.user, entry.action, entry.target, entry.at) == (
        "otto", "list.cancel", "L1", NOW)
    assert (json.loads(entry.before), json.loads(entry.after)) == (
        {"state": "queued"}, {"state": "cancelled"})


def test_an_unknown_list_or_action_is_refused_and_nothing_is_written(store):
    with pytest.raises(UnknownList, match="no meter list 'nope'") as caught:
        change_list(store, "nope", "requeue", NOW, user="dana")
    assert caught.value.list_id == "nope"
    store.add_meter_list(meter_list(), NOW)
    with pytest.raises(ValueError, match="no list action 'delete'"):
        change_list(store, "L1", "delete", NOW, user="dana")
    assert store.audit_log() == [] and store.list_state("L1") == ListState.QUEUED


def test_the_audit_entry_keeps_what_the_change_adds_and_fails_with_it(store, monkeypatch):
    store.add_meter_list(meter_list(), NOW)
    change = Change("dana", "list.requeue", "L1", {"via": "web"}, {"via": "web"})
    assert store.requeue_list("L1", NOW, change=change) == ListState.QUEUED
    (entry,) = store.audit_log()
    assert json.loads(entry.before) == {"via": "web", "state": "queued"}
    monkeypatch.setattr(failpoints, "_ARMED", frozenset({"store.commit"}))
    with pytest.raises(StorageUnavailable):
        store.cancel_list("L1", NOW, change=Change("otto", "list.cancel", "L1"))
    monkeypatch.undo()
    assert store.list_state("L1") == ListState.QUEUED and len(store.audit_log()) == 1


def test_a_list_view_has_its_row_deliveries_and_visits_and_no_transfer_file(store):
    assert store.list_view("L1") is None
    store.add_meter_list(meter_list("L1", ("M1", "M2")), NOW)
    (d,) = store.pending_deliveries("HHU-001", None, NOW)
    store.bind_delivery(d.delivery_id, "HHU-001", "B1", b"sealed")
    store.delivery_done(d.delivery_id, "HHU-001", NOW)
    store.ingest(upload("U-1", [visit("M2", outcome="no_access", notes="gate locked"),
                                visit("M1", time="2026-11-25T09:00:00+00:00")]), NOW)
    view = store.list_view("L1")
    assert view is not None
    assert (view["list"]["state"], view["list"]["delivered_to"]) == ("partial", "HHU-001")
    assert [(v["meter"], v["outcome"], v["notes"], v["hhu"]) for v in view["visits"]] == [
        ("M1", "done", "", "HHU-001"), ("M2", "no_access", "gate locked", "HHU-001")]
    (delivery,) = view["deliveries"]
    assert delivery["state"] == "delivered" and b"sealed" not in repr(view).encode()


def test_a_complete_or_cancelled_list_cannot_be_cancelled_and_nothing_is_written(store):
    store.add_meter_list(meter_list("L1", ("M1",)), NOW)
    (d,) = store.pending_deliveries("HHU-001", None, NOW)
    store.bind_delivery(d.delivery_id, "HHU-001", "B-1", b"sealed")
    store.delivery_done(d.delivery_id, "HHU-001", NOW)
    store.ingest(upload("U-1", [visit("M1")]), NOW)
    assert store.list_state("L1") == ListState.COMPLETE
    with pytest.raises(StoreError, match="complete: every meter on it was read"):
        change_list(store, "L1", "cancel", NOW, user="otto")
    store.add_meter_list(meter_list("L2", ("M2",)), NOW)
    change_list(store, "L2", "cancel", NOW, user="otto")
    with pytest.raises(StoreError, match="cancelled already"):
        change_list(store, "L2", "cancel", NOW, user="otto")
    assert store.list_state("L1") == ListState.COMPLETE
    assert [e.target for e in store.audit_log()] == ["L2"]          # the one that happened
