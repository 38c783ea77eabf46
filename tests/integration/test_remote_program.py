"""Remote programming and clock setting (issue 17, point 2): a remote list that allows it
programs its meters, verified by read-back, only inside its maintenance window; outside,
the meter is left (``outside_window``) and the run stays open for the window. The
window is checked against the runner's injected clock, on both sides and across
midnight. A meter clock further off than the tolerance is set, in the window only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hhu_firmware_sim.meter.network import serve_fleet
from hhu_firmware_sim.meter.tou import TouTable
from hhu_sync.model.loader import load_toml
from hhu_sync.model.meterlist import parse_meter_list_toml
from hhu_sync.model.scheme import parse_scheme
from hhu_sync.remote.program import OUTSIDE_WINDOW
from hhu_sync.remote.runner import RemoteRunner, RunSettings
from hhu_sync.store.base import ListState
from hhu_sync.store.sqlite import SqliteStore
from tests.conftest import EXAMPLES

FLEET = """
[[links]]
name = "m1"
kind = "modem"

[[links]]
name = "bus1"
kind = "bus"

[[meters]]
serial = "35000001"
model = "A1700"
link = "m1"
passwords = { 1 = "DEMO-L1", 3 = "DEMO-L3" }
start = START

[[meters]]
serial = "40000011"
address = "11"
link = "bus1"
passwords = { 1 = "DEMO-L1" }
start = START
"""

SECRETS = {"a1700-level1": "DEMO-L1", "a1700-level3": "DEMO-L3", "bus-writer": "DEMO-L1"}
REAL = datetime.now(UTC).replace(microsecond=0)
START = (REAL - timedelta(days=2)).replace(tzinfo=None, minute=0, second=0)
NO_CLOCK = RunSettings(concurrency=2, meter_budget_s=20.0, run_budget_s=60.0, retries=1,
                       backoff_s=0.05, answer_timeout_s=1.5, reaction_s=0.0,
                       clock_tolerance_s=1e9)


def clock_at(hhmm: str):
    """The depot's clock, stopped at ``hhmm`` UTC today: the window's side never moves
    however long a test takes."""
    h, m = map(int, hhmm.split(":"))
    frozen = REAL.replace(hour=h, minute=m, second=0)
    return lambda: frozen


def running_clock():
    """The depot's clock, running (setting a meter's clock reads the time back)."""
    return lambda: datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def net(tmp_path):
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET.replace("START", START.isoformat()), encoding="utf-8")
    with serve_fleet(path, idle_timeout=3.0) as network:
        for server in network.links.values():
            for meter in server.link.fleet.meters:
                # five minutes slow from now (REAL is the module's import: long before,
                # on a busy machine with the suite in parallel)
                meter.at((datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None,
                                                                          microsecond=0))
        yield network


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "db.sqlite")
    yield s
    s.close()


@pytest.fixture
def scheme(catalog, store):
    data, locate = load_toml(EXAMPLES / "a1700-ci-tou.toml")
    s = parse_scheme(data, "a1700-ci-tou.toml", catalog, locate)
    store.accept_input(sha256="5" * 64, name="a1700-ci-tou.toml", kind="scheme",
                       moved_to="archive/a1700-ci-tou.toml", now=REAL.isoformat(), scheme=s)
    return s


def sim(net, serial):
    return next(m for server in net.links.values() for m in server.link.fleet.meters
                if m.serial == serial)


def program_list(net, catalog, *, window="01:00-04:00", allow=True, extra=()):
    head = {"id": "R-PROG", "target": "remote", "due": "2026-12-31",
            "allow_remote_program": allow, "maintenance_window": window}
    meters = [{"serial": "35000001", "task": "read+program", "scheme": "a1700-ci-tou-2026",
               "model": "A1700", "port": net.meters["35000001"].url}, *extra]
    return parse_meter_list_toml({"list": head, "meters": meters}, "prog.toml", catalog)


def runner(store, now, settings=NO_CLOCK):
    return RemoteRunner(store, runner_id="remote-depot", settings=settings,
                        secret=SECRETS.__getitem__, now=now)


def test_inside_its_window_a_meter_is_programmed_and_verified_by_read_back(
        net, catalog, store, scheme):
    store.add_meter_list(program_list(net, catalog), REAL.isoformat())
    report = runner(store, clock_at("02:00")).run(store.remote_runs()[0])
    assert report is not None
    [meter] = report.meters
    assert meter.outcome == "done", meter.notes
    assert report.state == store.list_state("R-PROG") == ListState.COMPLETE
    assert sim(net, "35000001").tou == TouTable.from_scheme(scheme)    # on the meter
    # recorded as an HHU's programming visit is: the scheme in force from the visit
    [visit] = store.meter_visits("35000001")
    assert visit.outcome == "done"
    assert store.scheme_in_force("35000001", (REAL + timedelta(days=1)).isoformat()) \
        == "a1700-ci-tou-2026"
    assert any(r.meter == "35000001" for r in store.readings())       # its registers too


@pytest.mark.parametrize("window, outside, inside", [
    ("01:00-04:00", "00:59", "01:00"),
    ("01:00-04:00", "04:00", "03:59"),
    ("22:00-02:00", "21:59", "23:30"),       # across midnight: the evening ...
    ("22:00-02:00", "02:00", "01:59"),       # ... and the morning after
])
def test_outside_its_window_a_meter_is_left_and_the_run_stays_open_for_it(
        net, catalog, store, scheme, window, outside, inside):
    store.add_meter_list(program_list(net, catalog, window=window), REAL.isoformat())
    [run] = store.remote_runs()
    early = runner(store, clock_at(outside))
    report = early.run(run)
    assert report is not None and report.state is None               # not ended
    [meter] = report.meters
    assert meter.outcome == OUTSIDE_WINDOW and window in meter.notes
    assert meter.attempts == 0                                       # no line opened
    assert store.meter_visits("35000001") == []
    assert sim(net, "35000001").tou == TouTable.flat()               # nothing written
    assert store.list_state("R-PROG") == ListState.RUNNING           # stays to be run
    assert not early.due() and early.tick() == 0                     # waits for it
    # the window opens: the same run takes the meter up
    later = runner(store, clock_at(inside))
    [left] = store.remote_runs()
    assert left.delivery_id == run.delivery_id and later.due()
    done = later.run(left)
    assert done is not None and done.outcomes() == {"35000001": "done"}
    assert done.state == ListState.COMPLETE
    assert sim(net, "35000001").tou == TouTable.from_scheme(scheme)


def test_a_read_task_on_the_same_list_is_read_outside_the_window(net, catalog, store,
                                                                 scheme):
    reader = {"serial": "40000011", "task": "read", "port": net.meters["40000011"].url,
              "device_address": "11"}
    store.add_meter_list(program_list(net, catalog, extra=[reader]), REAL.isoformat())
    report = runner(store, clock_at("12:00")).run(store.remote_runs()[0])
    assert report is not None
    assert report.outcomes() == {"35000001": OUTSIDE_WINDOW, "40000011": "done"}
    assert report.state is None and [v.outcome for v in store.meter_visits("40000011")] \
        == ["done"]


def test_a_refused_programming_password_is_password_rejected_at_once(net, catalog, store,
                                                                     scheme):
    store.add_meter_list(program_list(net, catalog), REAL.isoformat())
    wrong = {**SECRETS, "a1700-level3": "WRONG-L3"}
    r = RemoteRunner(store, runner_id="remote-depot", settings=NO_CLOCK,
                     secret=wrong.__getitem__, now=clock_at("02:00"))
    report = r.run(store.remote_runs()[0])
    assert report is not None
    [meter] = report.meters
    assert (meter.outcome, meter.attempts) == ("password_rejected", 1)
    assert sim(net, "35000001").tou == TouTable.flat()
    assert report.state == ListState.PARTIAL


def test_a_scheme_the_depot_does_not_hold_is_a_failed_verify_not_a_guess(net, catalog,
                                                                         store):
    store.add_meter_list(program_list(net, catalog), REAL.isoformat())
    report = runner(store, clock_at("02:00")).run(store.remote_runs()[0])
    assert report is not None
    [meter] = report.meters
    assert meter.outcome == "verify_failed" and "not in the depot's library" in meter.notes


CLOCKED = RunSettings(concurrency=2, meter_budget_s=20.0, run_budget_s=60.0, retries=1,
                      backoff_s=0.05, answer_timeout_s=1.5, reaction_s=0.0,
                      clock_tolerance_s=60.0)


def clock_list(net, catalog, *, allow=True):
    head = {"id": "R-CLOCK", "target": "remote", "due": "2026-12-31"}
    if allow:
        head |= {"allow_remote_program": True, "maintenance_window": "00:00-24:00"}
    meters = [{"serial": "40000011", "task": "read", "port": net.meters["40000011"].url,
               "device_address": "11", "read_password_ref": "bus-writer", "profile": True}]
    return parse_meter_list_toml({"list": head, "meters": meters}, "clock.toml", catalog)


def test_a_clock_off_by_more_than_the_tolerance_is_set_inside_the_window(net, catalog,
                                                                         store):
    store.add_meter_list(clock_list(net, catalog), REAL.isoformat())
    now = running_clock()
    report = runner(store, now, CLOCKED).run(store.remote_runs()[0])
    assert report is not None
    [meter] = report.meters
    assert meter.outcome == "done"
    assert meter.clock_offset_s is not None and -330 < meter.clock_offset_s < -270
    assert "s slow, set to the depot's" in meter.notes
    drift = sim(net, "40000011").now - now().replace(tzinfo=None)
    assert abs(drift.total_seconds()) < 10


def test_without_programming_allowed_the_clock_is_checked_not_set(net, catalog, store):
    store.add_meter_list(clock_list(net, catalog, allow=False), REAL.isoformat())
    before = sim(net, "40000011").now
    report = runner(store, running_clock(), CLOCKED).run(store.remote_runs()[0])
    assert report is not None
    [meter] = report.meters
    assert meter.outcome == "done" and meter.clock_offset_s is not None
    assert meter.clock_offset_s < -270 and "clock" not in meter.notes
    assert sim(net, "40000011").now - before < timedelta(minutes=1)   # left as it was


DAEMON_CONFIG = """
[depot]
id = "DEPOT-W"
[limits]
debounce_seconds = 0.05
outbox_workers = 0
[schedule]
poll_seconds = 0.1
rescan_seconds = 1
[remote]
poll_seconds = 0.1
meter_budget_seconds = 10
backoff_seconds = 0.05
"""


def test_a_daemon_run_once_does_not_wait_for_a_window_hours_away(net, catalog, tmp_path):
    from hhu_sync.config import load_config
    from hhu_sync.daemon import Daemon
    from hhu_sync.model.meterlist import render_meter_list_toml

    path = tmp_path / "hhu-sync.toml"
    path.write_text(DAEMON_CONFIG)
    config = load_config(path)
    away = datetime.now(UTC) + timedelta(hours=12)
    window = f"{away:%H}:00-{(away + timedelta(hours=1)):%H}:00"
    reader = {"serial": "40000011", "task": "read", "port": net.meters["40000011"].url,
              "device_address": "11"}
    config.paths.outbox.mkdir(parents=True, exist_ok=True)
    (config.paths.outbox / "a1700-ci-tou.toml").write_bytes(
        (EXAMPLES / "a1700-ci-tou.toml").read_bytes())
    (config.paths.outbox / "prog.toml").write_text(render_meter_list_toml(
        program_list(net, catalog, window=window, extra=[reader])))
    summary = Daemon(config, once=True).run(timeout=60)
    assert summary.finished
    store = SqliteStore(config.paths.database)
    try:
        assert store.list_state("R-PROG") == ListState.RUNNING       # left for its window
        assert [v.outcome for v in store.meter_visits("40000011")] == ["done"]
        assert store.meter_visits("35000001") == []
    finally:
        store.close()
    assert sim(net, "35000001").tou == TouTable.flat()
