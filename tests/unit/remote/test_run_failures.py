"""A run that fails as a whole (an error out of the run, not one meter's: a storage
constraint, say) is counted, tried again after a back-off that doubles, and ``--once``
stops waiting for it after RUN_GIVE_UP failures in a row: never a busy loop of errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.remote import runner as runner_module
from hhu_sync.remote.runner import RemoteRunner
from hhu_sync.store import SqliteStore


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "db.sqlite")
    s.add_meter_list(MeterList("R1", "R1", None, None, "2026-12-31", "",
                               (MeterEntry("M1", "", "", "read", None, None, "",
                                           port="socket://127.0.0.1:9"),),
                               target="remote"), "2026-12-03T02:00:00+00:00")
    yield s
    s.close()


def test_a_failing_run_backs_off_is_counted_and_once_gives_up_on_it(store, monkeypatch):
    clock = Clock()
    r = RemoteRunner(store, runner_id="remote-depot", clock=clock,
                     now=lambda: datetime(2026, 12, 3, 2, 0, tzinfo=UTC))
    tries = []

    def broken(run):
        tries.append(clock.t)
        raise RuntimeError("NOT NULL constraint failed: remote_claims.lease_until")

    monkeypatch.setattr(r, "run", broken)
    [run] = store.remote_runs()
    try:
        waits = []
        for n in range(runner_module.RUN_GIVE_UP):
            assert r.due()                                  # --once waits for it ...
            assert r._guarded(run) is None
            assert r.failures == n + 1
            assert r._waiting(run) and r.tick() == 0        # ... not started in back-off
            waits.append(r._failing[run.delivery_id][1] - clock.t)
            clock.t += waits[-1]                            # its back-off over
            assert not r._waiting(run)
        assert waits == [5.0, 10.0, 20.0]
        assert not r.due() and r.given_up() == [run.delivery_id]   # --once ends
        assert len(tries) == runner_module.RUN_GIVE_UP
    finally:
        r.shutdown()


def test_a_run_that_works_again_is_no_longer_failing(store, monkeypatch):
    clock = Clock()
    r = RemoteRunner(store, runner_id="remote-depot", clock=clock)
    [run] = store.remote_runs()
    calls = []

    def flaky(run):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a storage fault")
        return None

    monkeypatch.setattr(r, "run", flaky)
    try:
        r._guarded(run)
        assert run.delivery_id in r._failing
        r._guarded(run)
        assert run.delivery_id not in r._failing and r.failures == 1
    finally:
        r.shutdown()


@pytest.mark.parametrize(("key", "value"), [
    ("lease_seconds", float("nan")), ("lease_seconds", float("inf")),
    ("poll_seconds", 1e30), ("sessions_per_gateway", 10 ** 23),
    ("concurrency", 2 ** 60)])
def test_numbers_that_are_no_amounts_are_refused_naming_the_key(tmp_path, key, value):
    from hhu_sync.config import parse_config
    from hhu_sync.model.problems import ModelError

    with pytest.raises(ModelError) as err:
        parse_config({"remote": {key: value}}, tmp_path / "hhu-sync.toml")
    assert [p.field for p in err.value.problems] == [f"remote.{key}"]
