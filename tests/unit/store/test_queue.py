"""The delivery queue: routing to an HHU or a crew, requeue, cancel, back-off."""

from __future__ import annotations

import pytest

from hhu_sync.store import ListState, SqliteStore, StoreError
from tests.unit.store.helpers import meter_list

NOW = "2026-11-25T12:00:00+00:00"


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


def _accepted_batch() -> list[dict]:
    from hhu_sync.model.scheme import SchemeRecord

    def scheme(n: int, version: int = 1) -> SchemeRecord:
        return SchemeRecord(f"S{n}", "A1700", version, f'{{"id": "S{n}", "v": {version}}}')

    return [
        dict(sha256="a" * 64, name="s1.toml", kind="scheme", moved_to="arch/s1.toml", now=NOW,
             scheme=scheme(1)),
        dict(sha256="b" * 64, name="q2.toml", kind="quick_send", moved_to="arch/q2.toml",
             now=NOW, scheme=scheme(2), quick_send_hhu="HHU-001",
             bundle=("HHU-001", "B2", b"sealed q2")),
        dict(sha256="c" * 64, name="l1.csv", kind="meter_list", moved_to="arch/l1.csv", now=NOW,
             mlist=meter_list("L1"), bundle=("HHU-001", "B3", b"sealed l1")),
        dict(sha256="d" * 64, name="q3.toml", kind="quick_send", moved_to="arch/q3.toml",
             now=NOW, scheme=scheme(3), quick_send_hhu="HHU-002"),             # not sealed yet
        dict(sha256="e" * 64, name="l2.csv", kind="meter_list", moved_to="arch/l2.csv", now=NOW,
             mlist=meter_list("L2", hhu=None, crew="north")),
        dict(sha256="f" * 64, name="s1b.toml", kind="scheme", moved_to="arch/s1b.toml", now=NOW,
             scheme=scheme(1, version=2)),                                   # newer wins
        dict(sha256="9" * 64, name="q4.toml", kind="quick_send", moved_to="arch/q4.toml",
             now=NOW, scheme=scheme(4), quick_send_hhu="HHU-001",
             bundle=("HHU-003", "B4", b"sealed for another")),                # not bound
    ]


def _tables(store) -> dict:
    return {t: store._rows(f"SELECT * FROM {t} ORDER BY 1")
            for t in ("deliveries", "schemes", "inputs", "lists", "list_entries")}


@pytest.mark.sqlite_only("compares two SQLite files' rows (ids given in Python)")
def test_a_batch_accepted_together_leaves_what_one_by_one_would(tmp_path):
    together, alone = SqliteStore(tmp_path / "a.sqlite"), SqliteStore(tmp_path / "b.sqlite")
    together.add_meter_list(meter_list("L0"))           # ids go on from what is there
    alone.add_meter_list(meter_list("L0"))
    ids = together.accept_inputs(_accepted_batch())
    assert ids == [alone.accept_input(**item) for item in _accepted_batch()]
    assert ids == [None, 2, 3, 4, 5, None, 6]
    assert _tables(together) == _tables(alone)
    together.close()
    alone.close()


def test_a_batch_with_a_list_already_held_commits_nothing(store):
    store.add_meter_list(meter_list("L1"))
    with pytest.raises(StoreError):
        store.accept_inputs(_accepted_batch())
    assert _tables(store)["inputs"] == [] and _tables(store)["schemes"] == []
    assert [d.ref for d in store.pending_deliveries("HHU-001", None, NOW)] == ["L1"]
