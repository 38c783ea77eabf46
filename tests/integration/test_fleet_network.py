"""The simulated field for remote reading: meters behind a gateway, on an RS-485 bus and
behind a modem whose line drops, read with the project's own IEC 62056-21 client.

Ports are chosen by the OS; each test finds them through ``serve_fleet``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import serial

from hhu_firmware_sim.meter.network import serve_fleet
from hhu_sync.cli import main
from hhu_sync.cli.meter_profile_cmds import profile_rows
from hhu_sync.iec62056.loadprofile import to_series
from hhu_sync.meterio.client import DriverSettings, MeterClient, MeterTimeout
from hhu_sync.meterio.transport import SerialTransport

ROOT = Path(__file__).resolve().parents[2]

FLEET = """
[[links]]
name = "gw1"
kind = "gateway"

[[links]]
name = "bus1"
kind = "bus"

[[links]]
name = "m1"
kind = "modem"
line = { drops = [[0, 1500]] }

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

[[meters]]
serial = "71000001"
model = "LZQJ"
start = 2026-11-01T00:00:00
load = [["00:00", "1.0"], ["08:00", "5.5"]]
link = "m1"
"""


@pytest.fixture
def net(tmp_path):
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET, encoding="utf-8")
    with serve_fleet(path, idle_timeout=3.0) as network:
        yield network


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "hhu-sync.toml"
    path.write_text('[paths]\nkeystore = "keystore"\n')
    return path


def read(capsys, config, url: str, address: str, *extra: str) -> tuple[int, dict | str]:
    code = main(["meter", "read", "--port", url, "--address", address, "--json",
                 "--reaction-ms", "0", "--config", str(config), *extra])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else err)


def serial_of(answer: dict) -> str:
    return next(r["value"] for r in answer["registers"] if r["obis"] == "0.0.0")


def recv_until(sock: socket.socket, end: bytes, count: int = 1, limit: int = 65536) -> bytes:
    """What arrives until ``end`` has come ``count`` times (or the peer closes)."""
    out = bytearray()
    while out.count(end) < count and len(out) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        out += chunk
    return bytes(out)


def test_two_addressed_meters_answer_through_one_gateway_port(net, capsys, config):
    one, two = net.meters["40000001"], net.meters["40000002"]
    assert one.url == two.url and (one.kind, one.address) == ("gateway", "101")
    answers = {}
    for endpoint in (one, two):
        code, answer = read(capsys, config, endpoint.url, endpoint.address)
        assert code == 0, answer
        answers[serial_of(answer)] = answer["identification"][:5]
    assert answers == {"40000001": "A1700", "40000002": "MT174"}


def test_an_absent_address_gets_silence_and_the_client_times_out_within_its_budget(net):
    port = serial.serial_for_url(net.links["gw1"].url, timeout=0.05)
    try:
        client = MeterClient(SerialTransport(port),
                             DriverSettings(answer_timeout_s=0.2, max_retries=1,
                                            reaction_s=0))
        with pytest.raises(MeterTimeout):
            client.readout("99999999")
    finally:
        port.close()
    sessions = list(net.links["gw1"].meters.sessions)
    assert sessions and sum(s.log.sign_ons for s in sessions) == 0


def test_the_bus_echoes_every_byte_before_the_addressed_meter_answers(net):
    address = net.links["bus1"].meters.address
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"/?12!\r\n")
        heard = recv_until(sock, b"\r\n", count=2)
        assert heard.startswith(b"/?12!\r\n")                  # our own bytes first
        assert heard[len(b"/?12!\r\n"):].startswith(b"/GEC")    # then meter 12
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"/?99!\r\n")                             # nobody at 99
        assert recv_until(sock, b"\r\n") == b"/?99!\r\n"        # the echo, and silence
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(100)


def test_the_client_reads_both_bus_meters_through_the_echo_without_being_told(
        net, capsys, config):
    for serial_no in ("40000011", "40000012"):
        endpoint = net.meters[serial_no]
        code, answer = read(capsys, config, endpoint.url, endpoint.address)
        assert code == 0, answer
        assert serial_of(answer) == serial_no


def test_a_second_connection_to_a_busy_bus_is_closed_and_the_first_goes_on(
        net, capsys, config):
    bus = net.links["bus1"]
    with socket.create_connection(bus.meters.address, timeout=5) as first:
        first.sendall(b"/?11!\r\n")
        assert b"/GEC" in recv_until(first, b"\r\n", count=2)  # the bus is taken
        with socket.create_connection(bus.meters.address, timeout=5) as second:
            assert recv_until(second, b"\x03") == b""           # closed, not a byte
        assert bus.refused == 1
        first.sendall(b"\x06000\r\n")                           # readout, 300 baud
        assert b"0.0.0(40000011)" in recv_until(first, b"!\r\n\x03")
    code, answer = read(capsys, config, bus.url, "12")          # called again at once
    assert code == 0, answer
    assert bus.refused == 1


def test_a_modem_that_drops_mid_profile_closes_the_call_and_a_new_call_reads_it_all(
        net, capsys, config):
    endpoint = net.meters["71000001"]
    meter = next(m for m in net.links["m1"].link.fleet.meters if m.serial == "71000001")
    meter.at(datetime(2026, 11, 3, 12, 0))
    common = ["meter", "profile", "--json", "--port", endpoint.url, "--reaction-ms", "0",
              "--config", str(config)]
    assert main(common) == 5                    # the line went mid-transfer
    assert net.links["m1"].meters.sessions[0].log.profile_reads == 1    # mid-profile
    err = capsys.readouterr().err
    assert "Traceback" not in err and endpoint.url in err
    # the meter had answered: the message says the line dropped, not that no meter is there
    assert "the line dropped during the conversation" in err and "call again" in err
    assert "no meter answered" not in err
    assert net.links["m1"].line is not None and net.links["m1"].line.stats.dropped == [0]
    assert main(common) == 0                    # the next call is not dropped
    got = json.loads(capsys.readouterr().out)
    rec = meter.recorder
    assert rec is not None
    assert got["intervals"] == profile_rows(to_series(list(rec.sections(meter.utc_now)),
                                                      rec.clock))
    assert got["blocks"] > 1                    # the drop at 1500 bytes was mid-profile


def test_the_command_prints_every_links_url_as_json_and_serves_until_terminated(
        capsys, config):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hhu_firmware_sim.cli", "meter", "--fleet",
         str(ROOT / "config" / "remote-fleet.toml"), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert proc.stdout is not None
        links = {link["name"]: link for link in json.loads(proc.stdout.readline())["links"]}
        assert set(links) == {"modem-foundry", "modem-coldstore", "gw-estate",
                              "bus-substation"}
        gateway = links["gw-estate"]
        assert [m["address"] for m in gateway["meters"]] == ["201", "202", "203"]
        code, answer = read(capsys, config, gateway["url"], "202")
        assert code == 0, answer
        assert serial_of(answer) == "36200002"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_one_conversation_on_the_bus_signs_on_to_its_meters_in_turn(net):
    with socket.create_connection(net.links["bus1"].meters.address, timeout=5) as sock:
        for address in (b"11", b"12"):
            sock.sendall(b"/?" + address + b"!\r\n")
            assert b"/GEC" in recv_until(sock, b"\r\n", count=2)
            sock.sendall(b"\x01B0\x03q")                       # break: the meter lets go
            assert recv_until(sock, b"\x03q") == b"\x01B0\x03q"  # heard back, no answer
    assert net.links["bus1"].meters.sessions[-1].log.sign_ons == 2


def test_a_gateway_carries_its_sessions_at_once_and_closes_one_more(tmp_path):
    path = tmp_path / "gw.toml"
    path.write_text('[[links]]\nname = "gw"\nkind = "gateway"\nsessions = 2\n'
                    '[[meters]]\nserial = "1"\nlink = "gw"\n'
                    '[[meters]]\nserial = "2"\nlink = "gw"\n', encoding="utf-8")
    with serve_fleet(path) as network:
        address = network.links["gw"].meters.address
        with socket.create_connection(address, timeout=5) as one, \
                socket.create_connection(address, timeout=5) as two:
            one.sendall(b"/?1!\r\n")
            two.sendall(b"/?2!\r\n")
            assert recv_until(one, b"\r\n").startswith(b"/GEC")
            assert recv_until(two, b"\r\n").startswith(b"/GEC")
            with socket.create_connection(address, timeout=5) as three:
                assert recv_until(three, b"\r\n") == b""
        assert network.links["gw"].refused == 1


def test_a_modem_behind_its_line_is_busy_to_a_second_caller(tmp_path):
    path = tmp_path / "modem.toml"
    path.write_text('[[links]]\nname = "m"\nkind = "modem"\nline = { latency_ms = 1 }\n'
                    '[[meters]]\nserial = "1"\nlink = "m"\n', encoding="utf-8")
    with serve_fleet(path) as network:
        link = network.links["m"]
        assert link.line is not None and link.url == link.line.url != link.meters.url
        with socket.create_connection(link.line.address, timeout=5) as first:
            first.sendall(b"/?!\r\n")
            assert recv_until(first, b"\r\n").startswith(b"/GEC")
            with socket.create_connection(link.line.address, timeout=5) as second:
                assert recv_until(second, b"\r\n") == b""
        assert link.refused == 1 and link.line.stats.refused == 1
