"""Meters of a remote run claimed one at a time by several runners (issue 17, point 5):
a claim has a lease its runner renews; a lapsed one is taken over; one live claim a port
of the run; a settled meter is never claimed again. On both backends."""

from __future__ import annotations

import pytest

from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.store.base import ListState
from hhu_sync.store.claim_rules import ClaimState, ClaimVerdict

NOW = "2026-12-02T02:00:00+00:00"
T0 = 1_796_000_000.0
LEASE = 60.0
BUS = "socket://10.0.0.1:4001"
MODEM = "socket://10.0.0.2:9000"


def remote(list_id: str = "NIGHT") -> MeterList:
    entries = (MeterEntry("M1", "", "", "read", None, None, "", port=BUS, device_address="1"),
               MeterEntry("M2", "", "", "read", None, None, "", port=BUS, device_address="2"),
               MeterEntry("M3", "", "", "read", None, None, "", port=MODEM))
    return MeterList(list_id, list_id, None, None, "2026-12-31", "", entries,
                     target="remote")


@pytest.fixture
def run(store) -> int:
    store.add_meter_list(remote(), NOW)
    [queued] = store.remote_runs()
    assert store.begin_remote_run(queued.delivery_id, "remote-A", NOW) == "remote-A"
    return queued.delivery_id


def claim(store, run, seq, runner, at, port=None):
    port = port or (MODEM if seq == 2 else BUS)
    return store.claim_remote_meter(run, seq, serial=f"M{seq + 1}", port=port,
                                    runner=runner, at=at, lease_s=LEASE)


def settle(store, run, seq, runner, at, state=ClaimState.DONE):
    return store.settle_remote_meter(run, seq, runner, state=state, outcome="done",
                                     attempts=1, upload_id=f"RM-{run}-{seq}", notes="",
                                     at=at)


def test_a_second_runner_joins_the_run_the_first_began_and_carries_its_id(store, run):
    assert store.begin_remote_run(run, "remote-B", NOW) == "remote-A"
    [running] = store.remote_runs()
    assert (running.state, running.runner) == (ListState.RUNNING, "remote-A")


def test_a_run_superseded_by_a_requeue_is_joined_by_nobody(store, run):
    store.requeue_list("NIGHT", NOW)
    assert store.begin_remote_run(run, "remote-B", NOW) is None


def test_a_claimed_meter_is_busy_for_another_runner_until_its_lease_lapses(store, run):
    assert claim(store, run, 0, "remote-A", T0) == ClaimVerdict.CLAIMED
    assert claim(store, run, 0, "remote-B", T0 + LEASE - 1) == ClaimVerdict.BUSY
    assert claim(store, run, 0, "remote-A", T0 + 10) == ClaimVerdict.CLAIMED  # its own
    assert claim(store, run, 0, "remote-B", T0 + 10 + LEASE + 1) == ClaimVerdict.CLAIMED
    [taken] = store.remote_claims(run)
    assert (taken.runner, taken.takeovers, taken.state) == ("remote-B", 1,
                                                            ClaimState.CLAIMED)
    assert claim(store, run, 0, "remote-A", T0 + 10 + LEASE + 2) == ClaimVerdict.BUSY


def test_a_renewed_lease_keeps_the_meter_with_its_runner(store, run):
    assert claim(store, run, 0, "remote-A", T0) == ClaimVerdict.CLAIMED
    assert store.renew_remote_claims("remote-A", T0 + 50, LEASE) == 1
    assert claim(store, run, 0, "remote-B", T0 + 70) == ClaimVerdict.BUSY
    assert store.renew_remote_claims("remote-B", T0 + 70, LEASE) == 0
    assert claim(store, run, 0, "remote-B", T0 + 50 + LEASE + 1) == ClaimVerdict.CLAIMED


def test_one_live_claim_a_port_other_ports_are_free(store, run):
    assert claim(store, run, 0, "remote-A", T0) == ClaimVerdict.CLAIMED
    assert claim(store, run, 1, "remote-B", T0) == ClaimVerdict.BUSY     # M2: A's bus
    assert claim(store, run, 2, "remote-B", T0) == ClaimVerdict.CLAIMED  # M3: a modem
    assert settle(store, run, 0, "remote-A", T0 + 5)
    assert claim(store, run, 1, "remote-B", T0 + 6) == ClaimVerdict.CLAIMED  # bus free


def test_a_port_another_runner_talks_to_in_another_lists_run_is_busy_until_it_is_free(
        store, run):
    """Two depots, two lists, one gateway: B's run of DAY waits for A's claim on the
    gateway in NIGHT's run (it lapses or settles), and its other ports are free."""
    day = MeterList("DAY", "DAY", None, None, "2026-12-31", "",
                    (MeterEntry("D1", "", "", "read", None, None, "", port=BUS,
                                device_address="9"),
                     MeterEntry("D2", "", "", "read", None, None, "",
                                port="socket://10.0.0.3:9000")), target="remote")
    store.add_meter_list(day, NOW)
    [other] = [r for r in store.remote_runs() if r.list_id == "DAY"]
    assert store.begin_remote_run(other.delivery_id, "remote-B", NOW) == "remote-B"

    def b_claims(seq, at):
        port = BUS if seq == 0 else "socket://10.0.0.3:9000"
        return store.claim_remote_meter(other.delivery_id, seq, serial=f"D{seq + 1}",
                                        port=port, runner="remote-B", at=at, lease_s=LEASE)

    assert claim(store, run, 0, "remote-A", T0) == ClaimVerdict.CLAIMED
    assert b_claims(0, T0 + 1) == ClaimVerdict.BUSY           # A talks to the gateway
    assert b_claims(1, T0 + 1) == ClaimVerdict.CLAIMED        # a port of its own
    assert claim(store, run, 1, "remote-A", T0 + 2) == ClaimVerdict.CLAIMED   # A's own
    assert settle(store, run, 0, "remote-A", T0 + 3)
    assert b_claims(0, T0 + 4) == ClaimVerdict.BUSY           # still: A holds M2 there
    assert b_claims(0, T0 + 2 + LEASE + 1) == ClaimVerdict.CLAIMED   # A's lease lapsed
    assert claim(store, run, 1, "remote-A", T0 + 2 + LEASE + 2) == ClaimVerdict.BUSY


def test_a_settled_meter_is_never_claimed_again(store, run):
    assert claim(store, run, 0, "remote-A", T0) == ClaimVerdict.CLAIMED
    assert settle(store, run, 0, "remote-A", T0 + 5)
    assert not settle(store, run, 0, "remote-B", T0 + 6)               # settled once
    for runner in ("remote-A", "remote-B"):
        assert claim(store, run, 0, runner, T0 + 10 * LEASE) == ClaimVerdict.SETTLED
    [held] = store.remote_claims(run)
    assert (held.state, held.runner, held.outcome, held.attempts) == (
        ClaimState.DONE, "remote-A", "done", 1)


def test_a_runner_that_stops_releases_its_meters_at_once(store, run):
    assert claim(store, run, 0, "remote-A", T0) == ClaimVerdict.CLAIMED
    assert claim(store, run, 2, "remote-A", T0) == ClaimVerdict.CLAIMED
    assert settle(store, run, 2, "remote-A", T0 + 1)
    assert store.release_remote_claims(run, "remote-A") == 1           # the unsettled one
    assert claim(store, run, 0, "remote-B", T0 + 2) == ClaimVerdict.CLAIMED


def test_a_meter_of_no_run_is_not_claimed(store):
    assert claim(store, 999, 0, "remote-A", T0) == ClaimVerdict.SETTLED


def test_a_settle_is_done_or_skipped(store, run):
    claim(store, run, 0, "remote-A", T0)
    with pytest.raises(ValueError, match="done or skipped"):
        settle(store, run, 0, "remote-A", T0, state=ClaimState.CLAIMED)


def test_run_summaries_count_settled_and_claimed_meters_and_name_the_readers(store, run):
    claim(store, run, 0, "remote-A", T0)
    settle(store, run, 0, "remote-A", T0 + 1)
    claim(store, run, 2, "remote-B", T0 + 1)
    [summary] = store.remote_run_summaries()
    assert (summary.delivery_id, summary.list_id, summary.state, summary.runner,
            summary.meters, summary.settled, summary.claimed, summary.readers) == (
        run, "NIGHT", ListState.RUNNING, "remote-A", 3, 1, 1, ("remote-A", "remote-B"))
    assert summary.started_at == NOW
    store.requeue_list("NIGHT", NOW)
    newer, older = store.remote_run_summaries()
    assert (newer.state, older.state, older.delivery_id) == (ListState.QUEUED, "ended", run)
    assert store.remote_run_summaries(delivery_id=run) == [older]
    assert store.remote_run_summaries(limit=1) == [newer]


class _Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self):
        from datetime import UTC, datetime
        return datetime.fromtimestamp(self.at, UTC)


def _runner(store, runner_id: str, at: float, **settings):
    from hhu_sync.remote.runner import RemoteRunner, RunSettings
    return RemoteRunner(store, runner_id=runner_id, now=_Clock(at), clock=lambda: 0.0,
                        settings=RunSettings(lease_s=LEASE, **settings))


def test_a_released_or_lapsed_claim_is_not_renewed_and_another_runner_may_take_it(store, run):
    """A program task left for its window frees its claim; the runner's next renewal
    must not bring it back, or no other depot could program the meter in the window."""
    assert claim(store, run, 0, "remote-A", T0) == ClaimVerdict.CLAIMED
    assert claim(store, run, 2, "remote-A", T0) == ClaimVerdict.CLAIMED
    assert store.release_remote_claims(run, "remote-A") == 2
    assert store.renew_remote_claims("remote-A", T0 + 1, LEASE) == 0
    assert claim(store, run, 0, "remote-B", T0 + 2) == ClaimVerdict.CLAIMED
    assert store.renew_remote_claims("remote-A", T0 + LEASE + 5, LEASE) == 0  # 2: lapsed
    assert claim(store, run, 2, "remote-B", T0 + LEASE + 6) == ClaimVerdict.CLAIMED
    assert claim(store, run, 2, "remote-A", T0 + LEASE + 7) == ClaimVerdict.BUSY


def test_a_runner_renews_the_leases_of_the_meters_it_holds(store, run):
    assert claim(store, run, 0, "remote-A", T0) == ClaimVerdict.CLAIMED
    a = _runner(store, "remote-A", T0 + 50)
    try:
        assert a.renew() == 1                        # at each look and each attempt
    finally:
        a.shutdown()
    assert claim(store, run, 0, "remote-B", T0 + 70) == ClaimVerdict.BUSY


def test_meters_a_runner_reaches_after_its_run_budget_are_skipped_and_the_run_ends(
        store, run):
    b = _runner(store, "remote-B", T0, run_budget_s=0.0)
    try:
        [running] = store.remote_runs()
        report = b.run(running)
    finally:
        b.shutdown()
    assert report is not None and report.state == ListState.PARTIAL
    assert set(report.outcomes().values()) == {"not_visited"}
    assert [(c.state, c.runner, c.attempts) for c in store.remote_claims(run)] == [
        (ClaimState.SKIPPED, "remote-B", 0)] * 3
    assert store.remote_runs() == []
