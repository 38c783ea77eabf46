"""A version-2 depot and an HHU whose firmware takes only a version-1 HELLO (as version 1
itself required): the dock falls back to version 1 once per docking, remembers that per
cradle for a bounded time, re-probes version 2, and refuses version 1 altogether when
``[link] min_version = 2``. Deadlines are generous upper bounds, never assertions."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from types import SimpleNamespace

import pytest

from hhu_firmware_sim.device import Faults, SimulatedHHU
from hhu_firmware_sim.flash import FlashStore
from hhu_firmware_sim.server import DeviceServer
from hhu_firmware_sim.serving import SocketServer
from hhu_sync.config import parse_config
from hhu_sync.dock.session import Outcome, Session
from hhu_sync.io.dock import Refused, VersionRejected
from hhu_sync.io.driver import BlockingDockSession
from hhu_sync.io.ports import open_port
from hhu_sync.io.versions import VersionMemory
from hhu_sync.link import LinkSettings, ReasonCode
from hhu_sync.link.framing import FrameDecoder, encode_frame
from hhu_sync.store import SqliteStore

HHU = "HHU-001"
DEADLINE = 30.0
STRICT_V1 = Faults(strict_v1=True)


def _lookup(key: bytes):
    return lambda hhu_id: key if hhu_id == HHU else None


def _sessions(server: DeviceServer, n: int) -> list:
    """The device's sessions once ``n`` have ended (bounded wait: the server thread
    records a session just after the dock saw its end)."""
    end = time.monotonic() + DEADLINE
    while len(server.sessions) < n and time.monotonic() < end:
        time.sleep(0.01)
    return list(server.sessions)


def test_a_strict_v1_hhu_aborts_a_version_2_hello_without_a_code(key, flash_dir):
    device = SimulatedHHU(HHU, key, FlashStore(flash_dir), faults=STRICT_V1)
    with DeviceServer(device) as server:
        port = open_port(server.url, timeout=0.05)
        try:
            with pytest.raises(VersionRejected) as caught:
                BlockingDockSession(port, _lookup(key)).handshake(DEADLINE)
        finally:
            port.close()
        (ended,) = _sessions(server, 1)
    assert caught.value.by_peer and caught.value.offered == 2
    assert caught.value.code is ReasonCode.VERSION_UNSUPPORTED
    assert "version 2" in str(caught.value)
    assert ended.reason == "aborted: unsupported protocol version 2"


def test_a_strict_v1_hhu_loads_and_unloads_in_version_1_without_codes(key, flash_dir):
    flash = FlashStore(flash_dir)
    flash.store_upload("u1", b"readings")
    flash.store_bundle("held", b"x" * 10)
    device = SimulatedHHU(HHU, key, flash, faults=STRICT_V1)
    data = os.urandom(20_000)
    with DeviceServer(device) as server:
        port = open_port(server.url, timeout=0.05)
        try:
            session = BlockingDockSession(port, _lookup(key), settings=LinkSettings(max_version=1))
            session.handshake(DEADLINE)
            assert session.conn.version == 1
            assert session.put("b1", data, DEADLINE) is False
            assert session.get("u1", DEADLINE) == b"readings"
            session.ack("u1", DEADLINE)
            with pytest.raises(Refused) as caught:   # a version-1 REFUSE: no code
                session.put("held", b"y" * 10, DEADLINE)
            assert caught.value.code is ReasonCode.UNSPECIFIED
            assert session.close()
        finally:
            port.close()
    assert flash.read_bundle("b1") == data and flash.uploads() == []


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def docking(tmp_path, key):
    """Run one docking of cradle-1 on ``url`` through the depot's Session."""
    store = SqliteStore(tmp_path / "db.sqlite")
    clock = Clock()
    memory = VersionMemory(3600.0, 3, clock=clock)

    def run(url: str, link: dict | None = None) -> tuple[Session, object]:
        config = parse_config({"docks": [{"name": "cradle-1", "port": url}],
                               "link": link or {}}, tmp_path / "hhu-sync.toml")
        session = Session(config.docks[0], url, config, store,
                          SimpleNamespace(hhu_key=_lookup(key)), None, versions=memory)
        try:
            return session, asyncio.run(session.run())
        finally:
            session.decoder.close()

    run.memory = memory        # type: ignore[attr-defined]
    run.clock = clock          # type: ignore[attr-defined]
    yield run
    store.close()


def test_a_v2_depot_falls_back_once_and_remembers_it_per_cradle(docking, key, flash_dir,
                                                                 caplog):
    device = SimulatedHHU(HHU, key, FlashStore(flash_dir), faults=STRICT_V1)
    with DeviceServer(device) as server, caplog.at_level(logging.INFO, "hhu_sync.dock"):
        _, first = docking(server.url)
        assert (first.outcome, first.hhu_id, first.fallbacks) == (Outcome.IDLE, HHU, 1)
        assert len(_sessions(server, 2)) == 2          # the refused HELLO, then version 1
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warned) == 1 and "cradle-1" in warned[0] and "version 1" in warned[0]
        assert "min_version = 2" in warned[0]
        _, second = docking(server.url)                # remembered: one handshake only
        assert (second.outcome, second.fallbacks) == (Outcome.IDLE, 0)
        assert len(_sessions(server, 3)) == 3
    assert docking.memory.fallbacks == {"cradle-1": 1}


def test_the_remembered_fallback_expires_and_an_upgraded_hhu_gets_version_2(docking, key,
                                                                              flash_dir):
    device = SimulatedHHU(HHU, key, FlashStore(flash_dir), faults=STRICT_V1)
    with DeviceServer(device) as server:
        assert docking(server.url)[1].fallbacks == 1
        docking.clock.now += 3600.0                    # expired: version 2 is probed again
        assert docking(server.url)[1].fallbacks == 1   # still version 1 only: falls back
        assert len(_sessions(server, 4)) == 4
        device.faults = Faults()                       # the HHU gets version-2 firmware
        for _ in range(3):                             # the dockings the memory allows
            assert docking(server.url)[1].fallbacks == 0
        assert docking(server.url)[1].fallbacks == 0   # the re-probe: version 2 answers
        assert not docking.memory.remembered("cradle-1")
        assert len(_sessions(server, 8)) == 8
    assert docking.memory.fallbacks == {"cradle-1": 2}


def test_a_v2_hhu_is_offered_and_speaks_version_2(key, flash_dir):
    device = SimulatedHHU(HHU, key, FlashStore(flash_dir))
    with DeviceServer(device) as server:
        port = open_port(server.url, timeout=0.05)
        try:
            session = BlockingDockSession(port, _lookup(key))
            session.handshake(DEADLINE)
            assert session.conn.version == 2
            session.close()
        finally:
            port.close()


def test_min_version_2_refuses_a_strict_v1_hhu_naming_the_version(docking, key, flash_dir):
    device = SimulatedHHU(HHU, key, FlashStore(flash_dir), faults=STRICT_V1)
    with DeviceServer(device) as server:
        _, result = docking(server.url, {"min_version": 2})
        assert len(_sessions(server, 1)) == 1          # no second handshake
    assert (result.outcome, result.fallbacks) == (Outcome.ERROR, 0)
    (error,) = result.errors
    assert "version 2" in error and "min_version = 2" in error
    assert docking.memory.fallbacks == {}


def test_min_version_2_refuses_an_hhu_answering_version_1(docking, key, flash_dir):
    """A compliant firmware that speaks only version 1 answers CHALLENGE with 1."""
    device = SimulatedHHU(HHU, key, FlashStore(flash_dir),
                          settings=LinkSettings(max_version=1))
    with DeviceServer(device) as server:
        _, result = docking(server.url, {"min_version": 2})
    assert result.outcome is Outcome.ERROR
    (error,) = result.errors
    assert "version 1" in error and "2..2" in error


def test_a_remembered_fallback_is_not_used_once_min_version_is_2(docking, key, flash_dir):
    device = SimulatedHHU(HHU, key, FlashStore(flash_dir), faults=STRICT_V1)
    with DeviceServer(device) as server:
        assert docking(server.url)[1].fallbacks == 1
        device.faults = Faults()
        _, result = docking(server.url, {"min_version": 2})
    assert (result.outcome, result.fallbacks) == (Outcome.IDLE, 0)


def test_the_fallback_is_one_per_docking_even_if_version_1_is_refused_too(docking):
    """An HHU (or a man in the middle) that aborts every HELLO without a code: one
    fallback, then the docking ends as a version-1 handshake abort did before."""
    hellos: list[int] = []

    def refuse_every_hello(conn: socket.socket) -> None:
        connection = len(hellos)
        conn.settimeout(DEADLINE)
        decoder = FrameDecoder()
        while len(hellos) <= connection:
            data = conn.recv(4096)
            if not data:
                return
            hellos.extend(body[2] for body in decoder.feed(data) if body[0] == 1)
        conn.sendall(b"\0" + encode_frame(b"\x7fno"))

    with SocketServer(refuse_every_hello, max_connections=1, blocking=True) as server:
        _, result = docking(server.url)
    assert hellos == [2, 1]
    assert (result.outcome, result.fallbacks) == (Outcome.AUTH_FAILED, 1)
    assert docking.memory.fallbacks == {"cradle-1": 1}


def test_a_strict_v1_hhu_gets_its_list_and_its_readings_come_back_through_the_daemon(
        tmp_path, capsys):
    from tests.integration.test_daemon_docks import SCHEMES, Depot, dock

    depot = Depot(tmp_path, dock("cradle-1", "HHU-001", "&strict_v1=1"))
    depot.drop(*SCHEMES, "route-north.toml")
    assert depot.run() == 0
    assert depot.flash("HHU-001").bundles()
    trip = depot.field_trip("HHU-001")
    assert trip.lists == ("route-north-2026-11",)
    assert depot.run() == 0
    assert depot.count("SELECT COUNT(*) FROM readings") == trip.readings > 0
    assert depot.flash("HHU-001").uploads() == []
    err = capsys.readouterr().err
    assert "falling back to link protocol version 1" in err and "cradle-1" in err
