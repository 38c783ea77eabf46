"""The delivery queue: routing to an HHU or a crew, requeue, cancel, back-off."""

from __future__ import annotations

import pytest

from hhu_sync.store import ListState, SqliteStore, StoreError
from tests.unit.store.helpers import meter_list

NOW = "2026-11-25T12:00:00+00:00"


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "db.sqlite")
    yield s
    s.close()


def test_a_list_for_an_hhu_is_queued_for_that_hhu_only(store):
    store.add_meter_list(meter_list(hhu="HHU-001"))
    assert [d.ref for d in store.pending_deliveries("HHU-001", None, NOW)] == ["L1"]
    assert store.pending_deliveries("HHU-002", None, NOW) == []


def test_a_list_for_a_crew_goes_to_the_first_crew_hhu_that_takes_it(store):
    store.add_meter_list(meter_list(hhu=None, crew="north"))
    (d,) = store.pending_deliveries("HHU-001", "north", NOW)
    assert store.pending_deliveries("HHU-009", "south", NOW) == []
    assert store.bind_delivery(d.delivery_id, "HHU-001", "B1", b"sealed for 1")
    assert not store.bind_delivery(d.delivery_id, "HHU-002", "B2", b"sealed for 2")
    assert store.bundle(d.delivery_id) == b"sealed for 1"
    assert store.pending_deliveries("HHU-002", "north", NOW) == []


def test_delivering_a_list_moves_it_on_hhu(store):
    store.add_meter_list(meter_list())
    (d,) = store.pending_deliveries("HHU-001", None, NOW)
    store.delivery_done(d.delivery_id, "HHU-001", NOW)
    assert store.list_state("L1") == ListState.ON_HHU
    assert store.pending_deliveries("HHU-001", None, NOW) == []


def test_a_failed_attempt_backs_off_then_gives_up(store):
    store.add_meter_list(meter_list())
    (d,) = store.pending_deliveries("HHU-001", None, NOW)
    store.delivery_failed(d.delivery_id, "flash full", "2026-11-25T12:05:00+00:00", 2)
    assert store.pending_deliveries("HHU-001", None, NOW) == []
    assert store.pending_deliveries("HHU-001", None, "2026-11-25T12:05:00+00:00")
    store.delivery_failed(d.delivery_id, "flash full", NOW, 2)
    assert store.pending_deliveries("HHU-001", None, "2027-01-01") == []
    assert store.status()["failed_deliveries"][0]["last_error"] == "flash full"


def test_requeue_sends_a_delivered_list_again(store):
    store.add_meter_list(meter_list())
    (d,) = store.pending_deliveries("HHU-001", None, NOW)
    store.delivery_done(d.delivery_id, "HHU-001", NOW)
    store.requeue_list("L1")
    assert store.list_state("L1") == ListState.QUEUED
    assert len(store.pending_deliveries("HHU-001", None, NOW)) == 1


def test_cancel_withdraws_a_queued_list(store):
    store.add_meter_list(meter_list())
    store.cancel_list("L1")
    assert store.list_state("L1") == ListState.CANCELLED
    assert store.pending_deliveries("HHU-001", None, NOW) == []


def test_a_list_id_already_held_is_refused_until_cancelled(store):
    store.add_meter_list(meter_list())
    with pytest.raises(StoreError, match="already held"):
        store.add_meter_list(meter_list())
    store.cancel_list("L1")
    store.add_meter_list(meter_list())
    assert store.list_state("L1") == ListState.QUEUED


def test_unknown_list_ids_are_refused(store):
    with pytest.raises(StoreError, match="no meter list 'nope'"):
        store.requeue_list("nope")
