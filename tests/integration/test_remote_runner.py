"""Remote lists read by the depot over a simulated field (issue 17, point 2): meters
behind modems (one whose line drops mid-profile), a gateway and an RS-485 bus, each
visit committed through the same ingest as an HHU's upload.

Ports are chosen by the OS; budgets and back-offs are short, so a meter that never
answers costs a fraction of a second.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hhu_firmware_sim.meter.network import serve_fleet
from hhu_sync.config import load_config
from hhu_sync.daemon import Daemon
from hhu_sync.iec62056.loadprofile import to_series
from hhu_sync.model.meterlist import parse_meter_list_toml, render_meter_list_toml
from hhu_sync.remote.runner import RemoteRunner, RunSettings, open_serial, upload_id_of
from hhu_sync.store.base import ListState, StorageUnavailable
from hhu_sync.store.sqlite import SqliteStore

FLEET = """
[[links]]
name = "m1"
kind = "modem"
line = { drops = [[0, 1500]] }     # the first call drops mid-profile

[[links]]
name = "m2"
kind = "modem"

[[links]]
name = "gw1"
kind = "gateway"

[[links]]
name = "bus1"
kind = "bus"

[[meters]]
serial = "71000001"
model = "LZQJ"
link = "m1"
start = START
load = [["00:00", "1.0"], ["08:00", "5.5"]]

[[meters]]
serial = "71000002"
model = "LZQJ"
link = "m2"
start = START
load_kw = "3.0"

[[meters]]
serial = "40000001"
address = "101"
link = "gw1"

[[meters]]
serial = "40000002"
address = "102"
link = "gw1"
model = "MT174"

[[meters]]
serial = "40000011"
address = "11"
link = "bus1"

[[meters]]
serial = "40000012"
address = "12"
link = "bus1"
"""

#: the meters' clocks, a little before the depot's now; profiles are read for 6 hours
NOW = datetime.now(UTC).replace(microsecond=0, second=0)
METER_NOW = (NOW - timedelta(minutes=5)).replace(tzinfo=None)
START = (METER_NOW - timedelta(hours=2)).replace(minute=0)
SINCE = (METER_NOW - timedelta(hours=6)).replace(minute=0)
FAST = RunSettings(concurrency=4, meter_budget_s=10.0, run_budget_s=60.0, retries=2,
                   backoff_s=0.05, answer_timeout_s=1.5, reaction_s=0.0)


@pytest.fixture
def net(tmp_path):
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET.replace("START", START.isoformat()), encoding="utf-8")
    with serve_fleet(path, idle_timeout=3.0) as network:
        for server in network.links.values():
            for meter in server.link.fleet.meters:
                meter.at(METER_NOW)
        yield network


def remote_list(net, catalog, *, extra=(), list_id="R-NIGHT", profile=True):
    ep = net.meters
    meters = [
        {"serial": "71000001", "task": "read", "port": ep["71000001"].url, "profile": profile,
         **({"since": SINCE.isoformat() + "Z"} if profile else {})},
        {"serial": "71000002", "task": "read", "port": ep["71000002"].url},
        {"serial": "40000001", "task": "read", "port": ep["40000001"].url,
         "device_address": "101"},
        {"serial": "40000002", "task": "read", "port": ep["40000002"].url,
         "device_address": "102"},
        {"serial": "40000011", "task": "read", "port": ep["40000011"].url,
         "device_address": "11"},
        {"serial": "40000012", "task": "read", "port": ep["40000012"].url,
         "device_address": "12"},
        *extra]
    return parse_meter_list_toml({"list": {"id": list_id, "target": "remote",
                                           "due": "2026-12-31"}, "meters": meters},
                                 "remote.toml", catalog)


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "db.sqlite")
    yield s
    s.close()


def runner(store, **kw):
    return RemoteRunner(store, runner_id="remote-depot", settings=FAST, **kw)


def stored_meters(store) -> Counter:
    """Each meter's register rows held, counted once per (obis) key."""
    return Counter(r.meter for r in store.readings())


def test_a_remote_list_reads_every_meter_once_and_settles_like_an_upload(net, catalog,
                                                                         store):
    store.add_meter_list(remote_list(net, catalog), NOW.isoformat())
    [run] = store.remote_runs()
    assert run.state == ListState.QUEUED
    committed = []
    r = runner(store, committed=lambda uid, hhu: committed.append(uid))
    report = r.run(run)
    assert report is not None
    assert set(report.outcomes().values()) == {"done"}
    assert report.state == store.list_state("R-NIGHT") == ListState.COMPLETE
    held = stored_meters(store)
    assert set(held) == {"71000001", "71000002", "40000001", "40000002", "40000011",
                         "40000012"}
    assert all(r.status == "ok" and r.list_id == "R-NIGHT" and r.hhu == "remote-depot"
               for r in store.readings())
    assert sorted(committed) == sorted(upload_id_of(run.delivery_id, n, "R-NIGHT")
                                       for n in range(6))
    # one session per bus and gateway at a time: none was refused as busy
    assert net.links["bus1"].refused == net.links["gw1"].refused == 0
    assert sum(s.log.sign_ons for s in net.links["bus1"].meters.sessions) == 2


def test_a_modem_that_drops_mid_profile_is_retried_and_its_intervals_are_stored_once(
        net, catalog, store):
    store.add_meter_list(remote_list(net, catalog), NOW.isoformat())
    report = runner(store).run(store.remote_runs()[0])
    assert report is not None
    m1 = next(m for m in report.meters if m.serial == "71000001")
    assert (m1.outcome, m1.attempts) == ("done", 2) and report.retries == 1
    line = net.links["m1"].line
    assert line is not None and line.stats.dropped == [0]
    assert net.links["m1"].meters.sessions[0].log.profile_reads == 1   # mid-profile
    meter = next(m for m in net.links["m1"].link.fleet.meters if m.serial == "71000001")
    rec = meter.recorder
    assert rec is not None
    since = int(SINCE.replace(tzinfo=UTC).timestamp())
    expected = sum(1 for series in to_series(list(rec.sections(meter.utc_now)),
                                             rec.clock).series
                   for run in series.runs for n in range(len(run.values))
                   if run.first_end + n * series.interval_s > since)
    held = store.intervals("71000001")
    ends = Counter((i.channel, i.interval_end) for i in held)
    assert held and max(ends.values()) == 1                   # each interval once
    assert len(held) == expected
    assert sum(rep.intervals_stored for rep in report.reports) == len(held)


def test_a_meter_that_never_answers_is_not_found_after_its_budget(net, catalog, store):
    ghost = {"serial": "40000099", "task": "read", "port": net.meters["40000001"].url,
             "device_address": "199"}
    echoed = {"serial": "40000098", "task": "read", "port": net.meters["40000011"].url,
              "device_address": "98"}                # on the bus: only our echo comes back
    store.add_meter_list(remote_list(net, catalog, extra=[ghost, echoed], profile=False),
                         NOW.isoformat())
    quick = RunSettings(concurrency=4, meter_budget_s=1.0, run_budget_s=60.0, retries=2,
                        backoff_s=0.05, answer_timeout_s=0.3, reaction_s=0.0)
    report = RemoteRunner(store, runner_id="remote-depot", settings=quick).run(
        store.remote_runs()[0])
    assert report is not None
    outcomes = report.outcomes()
    assert outcomes.pop("40000099") == outcomes.pop("40000098") == "not_found"
    assert set(outcomes.values()) == {"done"}
    ghost_out = next(m for m in report.meters if m.serial == "40000099")
    # one attempt fills the 1 s budget (its sign-on tries 0.3 s each): no time to retry
    assert ghost_out.attempts == 1
    assert "no meter answered" in ghost_out.notes and "address 199" in ghost_out.notes
    assert report.state == store.list_state("R-NIGHT") == ListState.PARTIAL
    visits = store.meter_visits("40000099")
    assert [v.outcome for v in visits] == ["not_found"]


def test_a_meter_that_never_answers_is_tried_every_retry_its_budget_allows(
        net, catalog, store):
    ghost = {"serial": "40000099", "task": "read", "port": net.meters["40000001"].url,
             "device_address": "199"}
    store.add_meter_list(remote_list(net, catalog, extra=[ghost], profile=False),
                         NOW.isoformat())
    ample = RunSettings(concurrency=4, meter_budget_s=30.0, run_budget_s=60.0, retries=1,
                        backoff_s=0.05, answer_timeout_s=0.3, reaction_s=0.0)
    report = RemoteRunner(store, runner_id="remote-depot", settings=ample).run(
        store.remote_runs()[0])
    assert report is not None
    ghost_out = next(m for m in report.meters if m.serial == "40000099")
    assert (ghost_out.outcome, ghost_out.attempts) == ("not_found", ample.retries + 1)
    assert "2 attempts" in ghost_out.notes


def test_running_the_same_run_again_stores_nothing_twice(net, catalog, store):
    store.add_meter_list(remote_list(net, catalog), NOW.isoformat())
    [run] = store.remote_runs()
    first = runner(store).run(run)
    assert first is not None
    readings, intervals = len(list(store.readings())), len(store.intervals("71000001"))
    # an ended run is not run again (a schedule or requeue makes a new run) ...
    assert runner(store).run(run) is None
    # ... and one begun, whose every meter is held, reads no meter and stores nothing
    with store._tx() as db:           # as if the daemon died just before it ended
        db.execute("UPDATE lists SET state='running' WHERE list_id='R-NIGHT'")
    again = runner(store).run(run)
    assert again is not None and again.state == ListState.COMPLETE
    assert set(again.outcomes().values()) == {"held"} and again.reports == []
    assert len(list(store.readings())) == readings
    assert len(store.intervals("71000001")) == intervals


def test_a_run_stopped_midway_resumes_with_the_meters_not_yet_held(net, catalog, store):
    store.add_meter_list(remote_list(net, catalog), NOW.isoformat())
    [run] = store.remote_runs()
    one = RemoteRunner(store, runner_id="remote-depot",
                       settings=RunSettings(concurrency=1, meter_budget_s=10.0,
                                            run_budget_s=60.0, retries=2, backoff_s=0.05,
                                            answer_timeout_s=1.5, reaction_s=0.0))
    done: list[str] = []

    def committed(upload_id: str, hhu: str) -> None:
        done.append(upload_id)
        if len(done) == 2:
            one.stop.set()                      # the daemon is stopped after two meters

    one.committed = committed
    stopped = one.run(run)
    assert stopped is not None and stopped.state is None
    assert store.list_state("R-NIGHT") == ListState.RUNNING      # not settled midway
    [left] = store.remote_runs()
    assert (left.delivery_id, left.state, left.runner) == (run.delivery_id,
                                                           ListState.RUNNING,
                                                           "remote-depot")
    resumed = runner(store).run(left)
    assert resumed is not None
    assert Counter(resumed.outcomes().values()) == {"held": 2, "done": 4}
    assert resumed.state == ListState.COMPLETE
    assert len({r.upload_id for r in store.readings()}) == 6
    assert store.remote_runs() == []


def test_another_runners_run_is_joined_and_its_uploads_carry_that_runners_id(
        net, catalog, store):
    store.add_meter_list(remote_list(net, catalog), NOW.isoformat())
    [run] = store.remote_runs()
    assert store.begin_remote_run(run.delivery_id, "remote-other", NOW.isoformat())
    report = runner(store).run(run)           # the other depot read nothing: all ours
    assert report is not None and report.state == ListState.COMPLETE
    assert {r.hhu for r in store.readings()} == {"remote-other"}
    assert {c.runner for c in store.remote_claims(run.delivery_id)} == {"remote-depot"}


def gateway_list(net, catalog, list_id="R-GW"):
    """The gateway's two meters: one session, one meter after the other."""
    ep = net.meters
    return parse_meter_list_toml(
        {"list": {"id": list_id, "target": "remote", "due": "2026-12-31"},
         "meters": [{"serial": s, "task": "read", "port": ep[s].url,
                     "device_address": ep[s].address} for s in ("40000001", "40000002")]},
        "remote.toml", catalog)


def test_a_session_starts_its_next_meter_while_the_last_visit_is_committed(
        net, catalog, store):
    store.add_meter_list(gateway_list(net, catalog), NOW.isoformat())
    [run] = store.remote_runs()
    opened: list[str] = []
    second = threading.Event()

    def open_port(url):
        opened.append(url)
        if len(opened) == 2:
            second.set()
        return open_serial(url)

    overlapped: list[bool] = []
    ingest = store.ingest

    def ingest_once_the_next_meter_is_on_the_line(upload, now):
        # the first visit's commit waits for the session's next meter: on the
        # session's own thread it would wait in vain
        overlapped.append(second.wait(timeout=5.0))
        return ingest(upload, now)

    store.ingest = ingest_once_the_next_meter_is_on_the_line
    report = RemoteRunner(store, runner_id="remote-depot",
                          settings=replace(FAST, concurrency=1),
                          open_port=open_port).run(run)
    assert overlapped == [True, True]
    assert report is not None and report.state == ListState.COMPLETE
    assert report.outcomes() == {"40000001": "done", "40000002": "done"}
    assert set(stored_meters(store)) == {"40000001", "40000002"}
    assert {c.state for c in store.remote_claims(run.delivery_id)} == {"done"}


def test_a_storage_fault_in_a_commit_leaves_the_run_to_resume_without_doubling(
        net, catalog, store):
    store.add_meter_list(gateway_list(net, catalog), NOW.isoformat())
    [run] = store.remote_runs()
    ingest = store.ingest
    calls: list[str] = []

    def disk_full_once(upload, now):
        calls.append(upload.upload_id)
        if len(calls) == 1:
            raise StorageUnavailable("database or disk is full (injected)")
        return ingest(upload, now)

    store.ingest = disk_full_once
    first = runner(store).run(run)
    assert first is not None and first.state is None          # stopped midway
    assert any(e.startswith("storage:") for e in first.errors)
    assert store.list_state("R-GW") == ListState.RUNNING
    held = {r.upload_id for r in store.readings()}
    assert upload_id_of(run.delivery_id, 0, "R-GW") not in held   # the one refused
    [left] = store.remote_runs()
    again = runner(store).run(left)
    assert again is not None and again.state == ListState.COMPLETE
    assert {r.upload_id for r in store.readings()} == {
        upload_id_of(run.delivery_id, seq, "R-GW") for seq in (0, 1)}
    assert len(store.meter_visits("40000001")) == 1
    assert len(store.meter_visits("40000002")) == 1


DAEMON_CONFIG = """
[depot]
id = "DEPOT-T"
[limits]
debounce_seconds = 0.05
outbox_workers = 0
[schedule]
poll_seconds = 0.1
rescan_seconds = 1
[remote]
poll_seconds = 0.1
concurrency = 5
meter_budget_seconds = 10
run_budget_seconds = 60
retries = 2
backoff_seconds = 0.05
"""


@pytest.fixture
def daemon_config(tmp_path):
    path = tmp_path / "hhu-sync.toml"
    path.write_text(DAEMON_CONFIG)
    return load_config(path)


def test_the_daemon_runs_a_queued_remote_list_dropped_in_its_outbox(net, catalog,
                                                                    daemon_config):
    assert daemon_config.remote.concurrency == 5
    outbox = daemon_config.paths.outbox
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / "night.toml").write_text(render_meter_list_toml(remote_list(net, catalog)))
    summary = Daemon(daemon_config, once=True).run(timeout=60)
    assert summary.finished and summary.files["accepted"] == 1
    store = SqliteStore(daemon_config.paths.database)
    try:
        assert store.list_state("R-NIGHT") == ListState.COMPLETE
        assert {r.hhu for r in store.readings()} == {"remote-DEPOT-T"}
        assert len(stored_meters(store)) == 6
    finally:
        store.close()
    exported = sorted(p.name for p in daemon_config.paths.exports.iterdir())
    assert any(name.startswith("RM-") for name in exported)     # exported for billing


def test_a_daemon_killed_during_a_run_resumes_it_without_doubling(net, catalog,
                                                                  daemon_config):
    store = SqliteStore(daemon_config.paths.database)
    try:
        store.add_meter_list(remote_list(net, catalog), NOW.isoformat())
        [run] = store.remote_runs()
        killed = RemoteRunner(store, runner_id="remote-DEPOT-T", settings=RunSettings(
            concurrency=1, meter_budget_s=10.0, retries=2, backoff_s=0.05, reaction_s=0.0))
        killed.committed = lambda uid, hhu: killed.stop.set()   # gone after one meter
        assert killed.run(run) is not None
        assert store.list_state("R-NIGHT") == ListState.RUNNING
        first = {r.upload_id for r in store.readings()}
        assert len(first) == 1
    finally:
        store.close()
    summary = Daemon(daemon_config, once=True).run(timeout=60)
    assert summary.finished
    store = SqliteStore(daemon_config.paths.database)
    try:
        assert store.list_state("R-NIGHT") == ListState.COMPLETE
        uploads = Counter(r.upload_id for r in store.readings())
        assert len(uploads) == 6 and first <= set(uploads)
        assert len(store.meter_visits("71000001")) == 1          # one visit a meter
    finally:
        store.close()


def test_a_nightly_read_since_last_takes_only_the_intervals_not_held(net, catalog, store):
    url = net.meters["71000002"].url

    def one(list_id, since):
        return parse_meter_list_toml(
            {"list": {"id": list_id, "target": "remote", "due": "2026-12-31"},
             "meters": [{"serial": "71000002", "task": "read", "port": url,
                         "profile": True, "since": since}]}, "remote.toml", catalog)

    store.add_meter_list(one("N1", SINCE.isoformat() + "Z"), NOW.isoformat())
    first = runner(store).run(store.remote_runs()[0])
    assert first is not None and first.reports[0].intervals_stored > 0
    last_end = max(store.last_interval_ends("71000002").values())
    meter = net.links["m2"].link.fleet.meters[0]
    meter.at(METER_NOW + timedelta(hours=1))            # the next night, an hour on
    store.add_meter_list(one("N2", "last"), NOW.isoformat())
    second = runner(store).run(store.remote_runs()[0])
    assert second is not None
    [report] = second.reports
    channels = len(store.last_interval_ends("71000002"))
    assert report.intervals_already_held == 0              # nothing read twice
    assert report.intervals_stored == 4 * channels          # one hour at 15 minutes
    assert min(store.last_interval_ends("71000002").values()) == last_end + 3600
