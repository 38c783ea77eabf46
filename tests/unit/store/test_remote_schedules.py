"""Remote lists on a schedule (issue 17, point 3): a cron expression, a run at each fire
(a requeue: a new run, new upload ids), fires coalesced, one run of a list at a time,
and fires missed while the daemon was down caught up once, not replayed. On both
backends (the ``store`` fixture of tests/unit/store/conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.remote.runner import RemoteRunner
from hhu_sync.store.base import ListState

ADDED = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


def nightly(list_id="NIGHT", schedule="0 2 * * *"):
    return MeterList(list_id, list_id, None, None, "2026-12-31", "",
                     (MeterEntry("M1", "", "", "read", None, None, "",
                                 port="socket://127.0.0.1:9"),),
                     target="remote", schedule=schedule)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def runner(store, clock):
    return RemoteRunner(store, runner_id="remote-depot", now=clock)


def test_a_scheduled_list_waits_for_its_first_fire_then_runs_as_a_new_run(store):
    store.add_meter_list(nightly(), ADDED.isoformat())
    clock = Clock(datetime(2026, 12, 1, 20, 0, tzinfo=UTC))
    r = runner(store, clock)
    [first] = store.remote_runs()
    assert first.waits and not r.due()
    assert r.fire_schedules() == []
    clock.at = datetime(2026, 12, 2, 2, 0, 30, tzinfo=UTC)
    assert r.fire_schedules() == ["NIGHT"]
    [run] = store.remote_runs()
    assert run.delivery_id != first.delivery_id and not run.waits and r.due()
    assert r.fire_schedules() == []           # the same night: one run, not one a look
    r.shutdown()


def test_fires_missed_while_the_daemon_was_down_are_caught_up_once(store):
    store.add_meter_list(nightly(), ADDED.isoformat())
    clock = Clock(datetime(2026, 12, 6, 9, 0, tzinfo=UTC))    # four nights missed
    r = runner(store, clock)
    assert r.fire_schedules() == ["NIGHT"]
    assert r.fire_schedules() == []
    assert len([d for d in store.remote_runs() if not d.waits]) == 1
    r.shutdown()


def test_a_running_list_is_not_run_again_until_its_run_ends(store):
    store.add_meter_list(nightly(), ADDED.isoformat())
    clock = Clock(datetime(2026, 12, 2, 2, 1, tzinfo=UTC))
    r = runner(store, clock)
    assert r.fire_schedules() == ["NIGHT"]
    [run] = store.remote_runs()
    assert store.begin_remote_run(run.delivery_id, "remote-depot", clock().isoformat())
    clock.at = datetime(2026, 12, 3, 2, 1, tzinfo=UTC)        # the next night, still running
    assert r.fire_schedules() == []
    assert store.end_remote_run("NIGHT", clock().isoformat()) == ListState.PARTIAL
    assert r.fire_schedules() == ["NIGHT"]                    # caught up once it ended
    [again] = store.remote_runs()
    assert again.delivery_id > run.delivery_id and again.state == ListState.QUEUED
    r.shutdown()


def test_a_list_without_a_schedule_runs_once_when_queued(store):
    store.add_meter_list(nightly(schedule=None), ADDED.isoformat())
    r = runner(store, Clock(datetime(2026, 12, 9, tzinfo=UTC)))
    assert r.fire_schedules() == [] and store.remote_schedules() == []
    [run] = store.remote_runs()
    assert not run.waits and r.due()
    r.shutdown()


def test_a_schedule_in_a_lists_zone_fires_at_its_wall_clock_hour_summer_and_winter(store):
    """``timezone = "Europe/London"``: "0 2 * * *" is 02:00 in London, 01:00 UTC in
    summer (BST) and 02:00 UTC in winter; a list without one keeps UTC."""
    summer_added = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)
    london = replace(nightly("LONDON"), timezone="Europe/London")
    store.add_meter_list(london, summer_added.isoformat())
    assert ("LONDON", "0 2 * * *", ListState.QUEUED, summer_added.isoformat(),
            "Europe/London") in store.remote_schedules()
    clock = Clock(datetime(2026, 7, 2, 0, 59, tzinfo=UTC))    # 01:59 BST
    r = runner(store, clock)
    assert r.fire_schedules() == []
    clock.at = datetime(2026, 7, 2, 1, 0, 30, tzinfo=UTC)     # 02:00 BST
    assert r.fire_schedules() == ["LONDON"]
    r.shutdown()


def test_a_list_in_a_zone_fires_at_two_in_the_morning_there_in_winter(store):
    store.add_meter_list(replace(nightly("NY"), timezone="America/New_York"),
                         ADDED.isoformat())
    clock = Clock(datetime(2026, 12, 2, 2, 0, 30, tzinfo=UTC))    # 21:00 EST: not yet
    r = runner(store, clock)
    assert r.fire_schedules() == []
    clock.at = datetime(2026, 12, 2, 7, 0, 30, tzinfo=UTC)        # 02:00 EST
    assert r.fire_schedules() == ["NY"]
    r.shutdown()


def test_a_daily_schedule_fires_once_the_night_the_clocks_go_back(store):
    """"30 1 * * *" in London on 2026-10-25: 01:30 comes twice (BST, then GMT); cron
    runs a repeated time once, at its first coming, and so does a list."""
    added = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    store.add_meter_list(replace(nightly("LDN", "30 1 * * *"), timezone="Europe/London"),
                         added.isoformat())
    clock = Clock(datetime(2026, 10, 25, 0, 30, 30, tzinfo=UTC))    # 01:30 BST
    r = runner(store, clock)
    assert r.fire_schedules() == ["LDN"]
    clock.at = datetime(2026, 10, 25, 1, 30, 30, tzinfo=UTC)        # 01:30 GMT
    assert r.fire_schedules() == []
    clock.at = datetime(2026, 10, 26, 1, 30, 30, tzinfo=UTC)        # the next night
    assert r.fire_schedules() == ["LDN"]
    r.shutdown()


def test_a_schedule_whose_zone_was_hand_edited_into_a_folder_is_logged_not_fatal(store):
    bad = replace(nightly("BAD"), timezone="Europe")       # validation refuses it; a hand edit
    store.add_meter_list(bad, ADDED.isoformat())
    store.add_meter_list(nightly("GOOD"), ADDED.isoformat())
    r = runner(store, Clock(datetime(2026, 12, 2, 2, 0, 30, tzinfo=UTC)))
    assert r.fire_schedules() == ["GOOD"]
    r.shutdown()
