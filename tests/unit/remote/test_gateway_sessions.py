"""Sessions per port (issue 17, point 2): a gateway (meters sharing one socket:// or
rfc2217:// URL) carries up to ``sessions_per_gateway`` sessions at once, an RS-485 bus on
a local device always one, and all of them together at most ``concurrency``.

The ports here are fakes that hold each session open until enough are open at once (a
barrier, generous timeout): the limit is shown by what was open together, never by time.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict

import pytest

from hhu_sync.model.meterlist import parse_meter_list_toml
from hhu_sync.remote.gateways import PortQueue, is_gateway, lanes, sessions_for
from hhu_sync.remote.runner import RemoteRunner, RunSettings
from hhu_sync.store.sqlite import SqliteStore

GW_A, GW_B = "socket://10.0.0.1:4001", "rfc2217://10.0.0.2:4002"
BUS = "/dev/ttyUSB3"


def test_a_local_device_is_a_bus_and_has_one_session_whatever_the_setting():
    assert not is_gateway(BUS) and sessions_for(BUS, 10, 4) == 1
    assert is_gateway(GW_A) and is_gateway(GW_B)
    assert sessions_for(GW_A, 10, 4) == 4 and sessions_for(GW_A, 2, 4) == 2
    assert sessions_for(GW_A, 10, 1) == 1


def test_each_ports_first_session_comes_before_any_ports_second():
    got = lanes({GW_A: [1, 2, 3], BUS: [4, 5], GW_B: [6]}, 2)
    assert [port for port, _ in got] == [GW_A, BUS, GW_B, GW_A]
    assert got[0][1] is got[3][1]                         # one queue a port


def test_a_ports_sessions_share_its_meters_each_taken_once():
    queue = PortQueue(list(range(500)))
    taken: list[int] = []
    lock = threading.Lock()

    def session() -> None:
        for item in queue:
            with lock:
                taken.append(item)

    threads = [threading.Thread(target=session) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(taken) == list(range(500))


class Ports:
    """open_port for the runner: records how many sessions each port has open at once;
    each gateway session waits (barrier) until ``together`` of its port are open."""

    def __init__(self, together: dict[str, int]) -> None:
        self.lock = threading.Lock()
        self.open: Counter[str] = Counter()
        self.peak: dict[str, int] = defaultdict(int)
        self.total_peak = 0
        self.barriers = {p: threading.Barrier(n, timeout=20) for p, n in together.items()}
        self.opened: Counter[str] = Counter()

    def __call__(self, url: str):
        with self.lock:
            self.open[url] += 1
            self.opened[url] += 1
            self.peak[url] = max(self.peak[url], self.open[url])
            self.total_peak = max(self.total_peak, sum(self.open.values()))
        try:
            barrier = self.barriers.get(url)
            if barrier is not None and self.opened[url] <= barrier.parties:
                barrier.wait()           # the first sessions of the port, all together
            raise OSError("no line (a fake port)")
        finally:
            with self.lock:
                self.open[url] -= 1


def _list(catalog):
    meters = ([{"serial": f"A{n}", "task": "read", "port": GW_A, "device_address": str(n)}
               for n in range(6)]
              + [{"serial": f"B{n}", "task": "read", "port": GW_B, "device_address": str(n)}
                 for n in range(6)]
              + [{"serial": f"C{n}", "task": "read", "port": BUS, "device_address": str(n)}
                 for n in range(4)])
    return parse_meter_list_toml({"list": {"id": "R-GW", "target": "remote",
                                           "due": "2026-12-31"}, "meters": meters},
                                 "gw.toml", catalog)


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "db.sqlite")
    yield s
    s.close()


def _run(store, catalog, ports, *, sessions, concurrency, own=()):
    store.add_meter_list(_list(catalog), "2026-12-03T02:00:00+00:00")
    settings = RunSettings(concurrency=concurrency, meter_budget_s=5.0, run_budget_s=120.0,
                           retries=0, backoff_s=0.0, sessions_per_gateway=sessions,
                           gateway_sessions=own)
    runner = RemoteRunner(store, runner_id="remote-depot", settings=settings,
                          open_port=ports)
    try:
        report = runner.run(store.remote_runs()[0])
    finally:
        runner.shutdown()
    assert report is not None
    return report


def test_a_gateway_carries_its_sessions_at_once_and_a_bus_one(store, catalog):
    ports = Ports({GW_A: 3, GW_B: 3})
    report = _run(store, catalog, ports, sessions=3, concurrency=7)
    assert set(report.outcomes().values()) == {"not_found"} and len(report.meters) == 16
    assert ports.peak[GW_A] == ports.peak[GW_B] == 3       # reached, never passed
    assert ports.peak[BUS] == 1
    assert ports.total_peak <= 7
    assert sum(ports.opened.values()) == 16                # each meter once (no retries)


def test_the_default_is_one_session_a_gateway(store, catalog):
    ports = Ports({})
    _run(store, catalog, ports, sessions=1, concurrency=8)
    assert ports.peak[GW_A] == ports.peak[GW_B] == ports.peak[BUS] == 1


def test_all_sessions_together_keep_to_the_concurrency(store, catalog):
    ports = Ports({GW_A: 2})
    _run(store, catalog, ports, sessions=4, concurrency=2)
    assert ports.total_peak <= 2 and ports.peak[GW_A] == 2


def test_the_settings_come_from_the_remote_config_section(tmp_path):
    from hhu_sync.config import load_config

    path = tmp_path / "hhu-sync.toml"
    path.write_text("[remote]\nsessions_per_gateway = 3\nclock_tolerance_seconds = 30\n")
    settings = RunSettings.of(load_config(path).remote)
    assert (settings.sessions_per_gateway, settings.clock_tolerance_s) == (3, 30)
    path.write_text("[remote]\n")
    assert RunSettings.of(load_config(path).remote).sessions_per_gateway == 1


def test_a_gateway_given_its_own_number_carries_that_many_and_the_others_the_default(
        store, catalog):
    ports = Ports({GW_A: 3})
    _run(store, catalog, ports, sessions=1, concurrency=8, own=((GW_A, 3),))
    assert ports.peak[GW_A] == 3 and ports.peak[GW_B] == 1 and ports.peak[BUS] == 1


def test_a_bus_given_a_number_of_its_own_still_has_one_session():
    from hhu_sync.remote.gateways import GatewaySessions, sessions_for
    own = GatewaySessions(2, {"/dev/ttyUSB3": 4, GW_A: 5})
    assert sessions_for("/dev/ttyUSB3", 10, own) == 1
    assert sessions_for(GW_A, 10, own) == 5 and sessions_for(GW_A, 2, own) == 2
    assert sessions_for(GW_B, 10, own) == 2


def test_gateways_of_their_own_come_from_the_config_and_bad_ones_are_named(tmp_path):
    from hhu_sync.cli.common import CliError
    from hhu_sync.config import load_config

    path = tmp_path / "hhu-sync.toml"
    path.write_text('[remote]\nsessions_per_gateway = 2\n\n[[remote.gateways]]\n'
                    f'port = "{GW_A}"\nsessions = 4\n')
    settings = RunSettings.of(load_config(path).remote)
    assert settings.sessions.of(GW_A) == 4 and settings.sessions.of(GW_B) == 2
    for body, field in [
            (f'port = "{GW_A}"\nsessions = 0\n', "remote.gateways[0].sessions"),
            (f'port = "{GW_A}"\nsessions = 65\n', "remote.gateways[0].sessions"),
            ('port = "/dev/ttyUSB3"\nsessions = 2\n', "remote.gateways[0].port"),
            (f'port = "{GW_A}"\nsessions = 2\nspeed = 9600\n', "remote.gateways[0].speed"),
            (f'port = "{GW_A}"\n', "remote.gateways[0].sessions"),
            (f'port = "{GW_A}"\nsessions = 2\n\n[[remote.gateways]]\nport = "{GW_A}"\n'
             'sessions = 3\n', "remote.gateways[1].port")]:
        path.write_text(f"[[remote.gateways]]\n{body}")
        with pytest.raises(CliError, match=re.escape(field)):
            load_config(path)


@pytest.mark.parametrize("port", ["socket://", "socket://gw", "socket://gw:1\x00",
                                  "socket://gw:70000", "spy://gw:1", "x" * 100_000])
def test_a_gateway_in_the_config_is_checked_as_a_meters_port_is(tmp_path, port):
    from hhu_sync.config import parse_config
    from hhu_sync.model.problems import ModelError

    with pytest.raises(ModelError) as err:
        parse_config({"remote": {"gateways": [{"port": port, "sessions": 4}]}},
                     tmp_path / "hhu-sync.toml")
    assert all(len(str(p)) < 400 for p in err.value.problems)


def test_a_gateway_matches_its_meters_ports_whatever_the_case_of_scheme_and_host():
    from hhu_sync.config import parse_config
    config = parse_config({"remote": {"gateways": [
        {"port": "SOCKET://GW.Example:4001", "sessions": 4}]}}, None)
    sessions = RunSettings.of(config.remote).sessions
    assert sessions.of("socket://gw.example:4001") == 4
    assert sessions.of("socket://gw.example:4002") == 1


def test_a_gateway_given_twice_in_two_spellings_is_told():
    from hhu_sync.config import parse_config
    from hhu_sync.model.problems import ModelError

    with pytest.raises(ModelError, match="given twice"):
        parse_config({"remote": {"gateways": [
            {"port": "socket://gw:4001", "sessions": 2},
            {"port": "SOCKET://GW:4001/", "sessions": 3}]}}, None)
