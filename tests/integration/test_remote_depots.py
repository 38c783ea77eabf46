"""Several depots share one run of a remote list (issue 17, point 5): two daemons' runners
on one PostgreSQL database read a simulated fleet meter by meter, each meter once; a
runner that dies mid-run leaves its meter claimed until its lease lapses, and the other
runner then takes it over and ends the run.

Each runner has a store object of its own on the one database (two depots' daemons) and
an injected clock for its leases; ports are chosen by the OS.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from hhu_firmware_sim.meter.network import serve_fleet
from hhu_sync.model.meterlist import parse_meter_list_toml
from hhu_sync.remote.runner import RemoteRunner, RunSettings, open_serial, upload_id_of
from hhu_sync.store.base import ListState
from hhu_sync.store.claim_rules import ClaimState
from hhu_sync.store.postgres import PostgresStore
from tests.pg_server import fresh_database

FLEET = """
[[links]]
name = "m1"
kind = "modem"

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
serial = "72000001"
link = "m1"

[[meters]]
serial = "72000002"
link = "m2"

[[meters]]
serial = "42000001"
address = "101"
link = "gw1"

[[meters]]
serial = "42000002"
address = "102"
link = "gw1"

[[meters]]
serial = "42000011"
address = "11"
link = "bus1"

[[meters]]
serial = "42000012"
address = "12"
link = "bus1"
"""

NOW = datetime.now(UTC).replace(microsecond=0, second=0)
LEASE_S = 60.0
FAST = RunSettings(concurrency=4, meter_budget_s=10.0, run_budget_s=60.0, retries=2,
                   backoff_s=0.05, answer_timeout_s=1.5, reaction_s=0.0, lease_s=LEASE_S)
ADDRESSES = {"42000001": "101", "42000002": "102", "42000011": "11", "42000012": "12"}


class Clock:
    """A runner's wall clock, moved by the test (leases are reckoned on it)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def net(tmp_path):
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET, encoding="utf-8")
    with serve_fleet(path, idle_timeout=3.0) as network:
        yield network


@pytest.fixture
def depots():
    """Two depots' stores on one fresh PostgreSQL database."""
    with fresh_database() as url:
        a, b = PostgresStore(url), PostgresStore(url)
        try:
            yield a, b
        finally:
            a.close()
            b.close()


def night(net, catalog):
    meters = [{"serial": serial, "task": "read", "port": end.url,
               **({"device_address": ADDRESSES[serial]} if serial in ADDRESSES else {})}
              for serial, end in sorted(net.meters.items())]
    return parse_meter_list_toml({"list": {"id": "R-SHARED", "target": "remote",
                                           "due": "2026-12-31"}, "meters": meters},
                                 "remote.toml", catalog)


def readouts(net) -> Counter:
    """Readouts each meter of the fleet gave, over every link and session."""
    return Counter(session.meter.serial for server in net.links.values()
                   for session in server.meters.sessions if session.meter is not None
                   for _ in range(session.log.readouts))


def test_two_depots_on_one_run_read_every_meter_once(net, catalog, depots):
    a_store, b_store = depots
    a_store.add_meter_list(night(net, catalog), NOW.isoformat())
    [run] = a_store.remote_runs()
    a = RemoteRunner(a_store, runner_id="remote-A", settings=FAST, now=Clock(NOW))
    b = RemoteRunner(b_store, runner_id="remote-B", settings=FAST, now=Clock(NOW))
    reports = {}
    threads = [threading.Thread(target=lambda r=r: reports.update({r.runner_id: r.run(run)}))
               for r in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for _ in range(3):         # a meter left busy by the other at its look: the next look
        if a_store.list_state("R-SHARED") == ListState.COMPLETE:
            break
        a.run(run)
    assert a_store.list_state("R-SHARED") == ListState.COMPLETE
    serials = set(net.meters)
    assert readouts(net) == Counter({serial: 1 for serial in serials})   # each read once
    claims = b_store.remote_claims(run.delivery_id)
    assert [c.seq for c in claims] == list(range(6))
    assert all(c.state == ClaimState.DONE and c.outcome == "done" and c.attempts == 1
               and c.takeovers == 0 for c in claims)
    assert {c.runner for c in claims} <= {"remote-A", "remote-B"}
    # one session at a time on the gateway and the bus, across both depots
    assert net.links["gw1"].refused == net.links["bus1"].refused == 0
    uploads = Counter(r.upload_id for r in a_store.readings())
    assert set(uploads) == {upload_id_of(run.delivery_id, n, "R-SHARED") for n in range(6)}
    [summary] = b_store.remote_run_summaries()
    assert (summary.state, summary.settled, summary.claimed) == (ListState.COMPLETE, 6, 0)
    # every upload carries the run's id (the runner that began it), whoever read it
    assert summary.runner in ("remote-A", "remote-B")
    assert {r.hhu for r in a_store.readings()} == {summary.runner}
    assert all(rep is not None for rep in reports.values())


class Killed(BaseException):
    """The daemon died (not an error the runner handles)."""


def test_a_depot_that_dies_mid_run_leaves_its_meter_to_the_other_once_its_lease_lapses(
        net, catalog, depots):
    a_store, b_store = depots
    mlist = night(net, catalog)
    a_store.add_meter_list(mlist, NOW.isoformat())
    [run] = a_store.remote_runs()
    first = mlist.meters[0]
    one_port = RunSettings(concurrency=1, meter_budget_s=10.0, run_budget_s=60.0,
                           retries=2, backoff_s=0.05, reaction_s=0.0, lease_s=LEASE_S)

    def dies_on_its_first_meter(url: str):
        a.stop.set()              # nothing more of this daemon runs ...
        raise Killed              # ... and it dies holding the first meter's claim

    a = RemoteRunner(a_store, runner_id="remote-A", settings=one_port, now=Clock(NOW),
                     open_port=dies_on_its_first_meter)
    with pytest.raises(Killed):
        a.run(run)
    a.shutdown()
    [held] = b_store.remote_claims(run.delivery_id)
    assert (held.serial, held.runner, held.state) == (first.serial, "remote-A",
                                                      ClaimState.CLAIMED)

    clock = Clock(NOW + timedelta(seconds=10))
    b = RemoteRunner(b_store, runner_id="remote-B", settings=FAST, now=clock,
                     open_port=open_serial)
    report = b.run(run)
    assert report is not None and report.state is None          # not ended: A's meter
    # A's meter, and the other meter behind its gateway (one session a port), are left
    same_port = {m.serial for m in mlist.meters if m.port == first.port}
    assert len(same_port) == 2
    assert {s for s, o in report.outcomes().items() if o == "elsewhere"} == same_port
    assert {o for s, o in report.outcomes().items() if s not in same_port} == {"done"}
    assert b_store.list_state("R-SHARED") == ListState.RUNNING
    assert b.renew() == 0                   # B holds nothing; A's lease is not renewed

    clock.at = NOW + timedelta(seconds=LEASE_S + 1)             # A's lease has lapsed
    again = b.run(run)
    assert again is not None and again.state == ListState.COMPLETE
    assert {s for s, o in again.outcomes().items() if o == "done"} == same_port
    assert {o for s, o in again.outcomes().items() if s not in same_port} == {"held"}
    taken = b_store.remote_claims(run.delivery_id)[0]
    assert (taken.runner, taken.takeovers, taken.state) == ("remote-B", 1, ClaimState.DONE)
    assert readouts(net) == Counter({serial: 1 for serial in net.meters})  # none twice
    assert len({r.upload_id for r in b_store.readings()}) == 6
    assert b_store.remote_runs() == []
