"""Port opening by URL, handler registration, and finding cradles by serial number."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import serial

from hhu_sync.io import ports
from hhu_sync.io.ports import PortError, find_port, open_port, register_handler_packages


def test_open_port_opens_pyserial_urls_with_bounded_timeout():
    port = open_port("loop://", timeout=0.01)
    try:
        port.write(b"ping")
        assert port.read(4) == b"ping"
        assert port.timeout == 0.01
    finally:
        port.close()


def test_open_port_refuses_unbounded_timeout():
    with pytest.raises(PortError, match="unbounded"):
        open_port("loop://", timeout=None)


def test_unknown_scheme_is_a_port_error():
    with pytest.raises(PortError, match="nosuch"):
        open_port("nosuch://x")


def test_register_handler_packages_appends_once(monkeypatch):
    monkeypatch.setattr(serial, "protocol_handler_packages", ["serial.urlhandler"])
    register_handler_packages(["pkg.a", "pkg.a", "pkg.b"])
    assert serial.protocol_handler_packages == ["serial.urlhandler", "pkg.a", "pkg.b"]


def _fake_ports(monkeypatch, *items):
    monkeypatch.setattr(ports.serial.tools.list_ports, "comports", lambda: list(items))


def test_find_port_by_serial_number(monkeypatch):
    _fake_ports(monkeypatch,
                SimpleNamespace(device="/dev/ttyUSB0", serial_number="A1", vid=0x0403, pid=1),
                SimpleNamespace(device="/dev/ttyUSB1", serial_number="B2", vid=0x0403, pid=1))
    assert find_port("B2") == "/dev/ttyUSB1"


def test_find_port_without_match_names_the_criteria(monkeypatch):
    _fake_ports(monkeypatch)
    with pytest.raises(PortError, match="serial=ZZ"):
        find_port("ZZ")


def test_find_port_refuses_ambiguous_match(monkeypatch):
    _fake_ports(monkeypatch,
                SimpleNamespace(device="/dev/ttyUSB0", serial_number="A1", vid=0x0403, pid=1),
                SimpleNamespace(device="/dev/ttyUSB1", serial_number="B2", vid=0x0403, pid=1))
    with pytest.raises(PortError, match="2 serial ports match"):
        find_port(vid=0x0403)


def test_find_port_needs_a_criterion():
    with pytest.raises(PortError):
        find_port()
