"""hhusim:// URL handler: option parsing, bounded reads, the device thread's lifetime."""

from __future__ import annotations

import hashlib

import pytest
import serial

from hhu_firmware_sim.urlhandler.protocol_hhusim import parse_url
from hhu_sync.io.ports import register_handler_packages
from hhu_sync.keys import write_private_file

register_handler_packages(["hhu_firmware_sim.urlhandler"])


@pytest.fixture
def url(tmp_path):
    key_file = tmp_path / "HHU-001.key"
    write_private_file(key_file, hashlib.sha256(b"k").hexdigest().encode() + b"\n")
    return f"hhusim://HHU-001?flash={tmp_path / 'flash'}&key={key_file}"


def test_parse_url_gives_id_and_options():
    hhu_id, opts = parse_url("hhusim://HHU-007?flash=/f&key=/k&ber=0.001")
    assert hhu_id == "HHU-007"
    assert opts == {"flash": "/f", "key": "/k", "ber": "0.001"}


def test_parse_url_refuses_unknown_options():
    with pytest.raises(serial.SerialException, match="unknown option.*colour"):
        parse_url("hhusim://HHU-1?flash=/f&key=/k&colour=red")


def test_parse_url_requires_flash_and_key():
    with pytest.raises(serial.SerialException, match="key= is required"):
        parse_url("hhusim://HHU-1?flash=/f")


@pytest.mark.parametrize("option", ["ber=5", "ber=-1", "ber=nan", "slow_ms=-1",
                                    "slow_ms=nan", "slow_ms=1e308", "seed=abc",
                                    "cut_after=-1", "reboot_after=-1", "checkpoint=-5"])
def test_a_fault_option_out_of_range_is_a_port_that_will_not_open(url, option):
    """As a bad capacity is: not a device whose session dies unseen at its first byte,
    which the dock could only take for an HHU that never answers its HELLO."""
    with pytest.raises(serial.SerialException, match="bad option value"):
        serial.serial_for_url(f"{url}&{option}", timeout=0.01)


def test_serial_for_url_finds_the_handler_and_runs_the_device(url):
    port = serial.serial_for_url(url, timeout=0.01)
    try:
        assert port.is_open
        assert port.device_running
    finally:
        port.close()


def test_read_returns_empty_after_the_timeout_when_hhu_is_silent(url):
    port = serial.serial_for_url(url, timeout=0.01)
    try:
        assert port.read(100) == b""
    finally:
        port.close()


def test_closing_the_port_stops_the_device_thread(url):
    port = serial.serial_for_url(url, timeout=0.01)
    port.close()
    assert not port.device_running
    assert port.session_result is not None   # the session ran to its end


def test_read_after_hhu_hangs_up_raises(url):
    port = serial.serial_for_url(url + "&cut_after=1", timeout=0.5)
    try:
        port.write(b"\x00garbage\x00")
        with pytest.raises(serial.SerialException, match="hung up"):
            for _ in range(20):
                port.read(100)
    finally:
        port.close()


def test_bad_key_file_fails_to_open_with_a_clear_message(tmp_path):
    with pytest.raises(serial.SerialException, match="cannot start HHU-001"):
        serial.serial_for_url(f"hhusim://HHU-001?flash={tmp_path}&key={tmp_path}/none.key")


def test_a_shared_fleet_state_is_an_option():
    _, opts = parse_url("hhusim://HHU-007?flash=/f&key=/k&field_trip=fleet:/fl.toml"
                        "&fleet_state=/var/fleet-state.json")
    assert opts["fleet_state"] == "/var/fleet-state.json"
