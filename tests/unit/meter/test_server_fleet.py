"""MeterServer over TCP, the fleet file loader and the CLI hook."""

from __future__ import annotations

import argparse
import socket
from datetime import datetime

import pytest

from hhu_firmware_sim.meter import Fleet, FleetError, MeterServer, Quirks, SimMeter, load_fleet
from hhu_firmware_sim.meter.cli import add_meter_commands, build_fleet
from hhu_sync.iec62056 import (
    NEED_DATA,
    ClientConnection,
    ClientSettings,
    OptionSelect,
    Readout,
    SignOnRequest,
)
from tests.unit.iec62056.helpers import sent

from .conftest import SCHEME


def read_out(server: MeterServer, settings: ClientSettings | None = None) -> Readout:
    client = ClientConnection(settings)
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(sent(client, SignOnRequest("")))
        for want_readout in (False, True):
            while True:
                event = client.next_event()
                if event is NEED_DATA:
                    client.receive_data(sock.recv(4096))
                    continue
                if want_readout and isinstance(event, Readout):
                    return event
                if not want_readout and event.__class__.__name__ == "Identification":
                    sock.sendall(sent(client, OptionSelect("0")))
                    break
    raise AssertionError("unreachable")


def test_tcp_readout():
    with MeterServer(SimMeter("35012345")) as server:
        assert read_out(server).get("0.0.0").value == "35012345"


def test_tcp_readout_through_echo_and_garbage():
    quirks = Quirks(echo=True, garbage=b"\x00JUNK")
    with MeterServer(SimMeter("35012345"), quirks=quirks) as server:
        readout = read_out(server, ClientSettings(echo=True))
    assert readout.get("C.1.0").value == "35012345"


FLEET = """
[[meters]]
serial = "35012345"
model = "A1700"
address = "12345"
passwords = { 1 = "AAAAAAAA", 3 = "FEDC0003" }
start = 2026-01-05T00:00:00
load_kw = "12.5"
scheme = "SCHEME"
flags = ["battery_low"]
quirks = ["garbage_after_etx"]
lockout_after = 3
[meters.registers]
"1.8.1" = "001234.500"

[[meters]]
serial = "90000001"
model = "MT174"
load = [["00:00", "0.5"], ["08:00", "2.0"]]
"""


@pytest.fixture
def fleet_file(tmp_path):
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET.replace("SCHEME", str(SCHEME)), encoding="utf-8")
    return path


def test_fleet_loads_meters(fleet_file):
    fleet = load_fleet(fleet_file)
    assert [m.serial for m in fleet.meters] == ["35012345", "90000001"]


def test_fleet_meter_gets_scheme_tou(fleet_file):
    meter = load_fleet(fleet_file).find("12345")
    assert [r.number for r in meter.tou.rates] == [1, 2, 3]


def test_fleet_quirks_and_flags(fleet_file):
    fleet = load_fleet(fleet_file)
    assert fleet.quirks.garbage and fleet.meters[0].flags == 1


def test_fleet_model_identification(fleet_file):
    assert load_fleet(fleet_file).find("90000001").identification.manufacturer == "ISk"


def test_fleet_unknown_key_named(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text('[[meters]]\nserial = "1"\ncolour = "red"\n', encoding="utf-8")
    with pytest.raises(FleetError, match="colour"):
        load_fleet(path)


def test_fleet_duplicate_address_refused(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text('[[meters]]\nserial = "1"\n[[meters]]\nserial = "1"\n', encoding="utf-8")
    with pytest.raises(FleetError, match="twice"):
        load_fleet(path)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hhu-sim")
    add_meter_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_builds_single_meter():
    args = parse(["meter", "--listen", "127.0.0.1:0", "--serial", "S1", "--password",
                  "PPPPPPPP", "--model", "A1700", "--quirk", "echo"])
    fleet = build_fleet(args)
    assert (fleet.meters[0].passwords, fleet.quirks.echo) == ({1: "PPPPPPPP"}, True)
    assert fleet.meters[0].elster is not None        # the model's own profile dialect


def test_cli_fleet_file(fleet_file):
    args = parse(["meter", "--listen", "0", "--fleet", str(fleet_file)])
    assert isinstance(build_fleet(args), Fleet)


def test_cli_needs_serial_or_fleet():
    with pytest.raises(FleetError):
        build_fleet(parse(["meter", "--listen", "0"]))


def test_fleet_advance_moves_all_clocks():
    start = datetime(2026, 1, 1)
    fleet = Fleet([SimMeter("1", start=start), SimMeter("2", start=start)])
    fleet.advance(60)
    assert {m.now for m in fleet.meters} == {datetime(2026, 1, 1, 0, 1)}
