"""Dock driver against the simulated HHU, end to end, over hhusim:// and socket://.

Deadlines here are generous upper bounds (a stuck test fails instead of hanging);
nothing asserts how fast anything was.
"""

from __future__ import annotations

import os
import threading

import pytest

from hhu_firmware_sim.device import Faults, SimulatedHHU
from hhu_firmware_sim.flash import FlashStore
from hhu_firmware_sim.server import DeviceServer
from hhu_firmware_sim.serving import SocketServer
from hhu_sync.io.dock import AuthFailed, Refused
from hhu_sync.io.driver import BlockingDockSession, LinkCut, LinkTimedOut
from hhu_sync.io.ports import open_port, register_handler_packages
from hhu_sync.link import ReasonCode

HHU = "HHU-001"

DEADLINE = 30.0

register_handler_packages(["hhu_firmware_sim.urlhandler"])


def _lookup(key: bytes):
    return lambda hhu_id: key if hhu_id == HHU else None


def _docked(port_url: str, key: bytes) -> tuple[object, BlockingDockSession]:
    port = open_port(port_url, timeout=0.05)
    session = BlockingDockSession(port, _lookup(key))
    session.handshake(DEADLINE)
    return port, session


def _push(port_url: str, key: bytes, bundle_id: str, data: bytes) -> tuple[bool, object]:
    """Push one bundle; returns (already_held, the port) so tests can read the sim result."""
    port, session = _docked(port_url, key)
    try:
        held = session.put(bundle_id, data, DEADLINE)
        session.close()
    finally:
        port.close()
    return held, port


def test_put_over_hhusim_commits_bytes_exactly(url, key, flash_dir):
    data = os.urandom(50_000)
    assert _push(url(), key, "b1", data)[0] is False
    assert FlashStore(flash_dir).read_bundle("b1") == data


def test_put_over_socket_url_commits_bytes_exactly(key, flash_dir):
    device = SimulatedHHU(HHU, key, FlashStore(flash_dir))
    data = os.urandom(20_000)
    with DeviceServer(device) as server:
        _push(server.url, key, "b1", data)
    assert FlashStore(flash_dir).read_bundle("b1") == data


def test_hello_lists_what_the_flash_holds(url, key, flash_dir):
    store = FlashStore(flash_dir)
    store.store_bundle("old", b"x" * 10)
    store.store_upload("u1", b"readings")
    port, session = _docked(url(), key)
    try:
        hello = session.hello
    finally:
        port.close()
    assert [(b.bundle_id, b.state) for b in hello.bundles] == [("old", "committed")]
    assert [u.upload_id for u in hello.uploads] == ["u1"]


def test_already_held_bundle_is_not_sent_again(url, key, flash_dir):
    data = os.urandom(5_000)
    FlashStore(flash_dir).store_bundle("b1", data)
    held, port = _push(url(), key, "b1", data)
    assert held is True
    assert port.session_result.bundle_bytes == 0


@pytest.mark.parametrize("cut_after", [1_500, 20_000, 45_000])
def test_push_resumes_after_cut(url, key, flash_dir, cut_after):
    data = os.urandom(60_000)
    with pytest.raises(LinkCut):
        _push(url(cut_after=cut_after, checkpoint=4096), key, "b1", data)
    partial = FlashStore(flash_dir).partial("b1")
    held_before = partial.held if partial else 0
    assert held_before <= cut_after
    _, port = _push(url(), key, "b1", data)
    assert port.session_result.bundle_bytes == len(data) - held_before
    assert FlashStore(flash_dir).read_bundle("b1") == data


def test_resume_after_reboot_keeps_only_checkpointed_bytes(url, key, flash_dir):
    data = os.urandom(60_000)
    with pytest.raises(LinkCut):
        _push(url(reboot_after=30_000, checkpoint=8192), key, "b1", data)
    held = FlashStore(flash_dir).partial("b1").held
    assert 0 < held < 30_000   # the bytes after the last checkpoint were lost
    _push(url(), key, "b1", data)
    assert FlashStore(flash_dir).read_bundle("b1") == data


def test_flash_full_is_refused_with_reason(url, key, flash_dir):
    port, session = _docked(url(capacity=1000), key)
    try:
        with pytest.raises(Refused, match="flash full"):
            session.put("b1", os.urandom(5_000), DEADLINE)
    finally:
        port.close()
    assert FlashStore(flash_dir).partials() == []


def test_wrong_key_fails_authentication(url, key):
    port = open_port(url(wrong_key=1), timeout=0.05)
    try:
        with pytest.raises(AuthFailed):
            BlockingDockSession(port, _lookup(key)).handshake(DEADLINE)
    finally:
        port.close()


def test_unknown_hhu_id_is_refused(url, key):
    port = open_port(url(), timeout=0.05)
    try:
        with pytest.raises(AuthFailed):
            BlockingDockSession(port, lambda hhu_id: None).handshake(DEADLINE)
    finally:
        port.close()


def test_bit_errors_are_repaired(url, key, flash_dir):
    data = os.urandom(40_000)
    _push(url(ber="1e-5", seed=3), key, "b1", data)
    assert FlashStore(flash_dir).read_bundle("b1") == data


def test_slow_responder_still_completes(url, key, flash_dir):
    data = os.urandom(10_000)
    _push(url(slow_ms=2), key, "b1", data)
    assert FlashStore(flash_dir).read_bundle("b1") == data


def test_upload_acknowledged_is_deleted(url, key, flash_dir):
    FlashStore(flash_dir).store_upload("u1", b"readings" * 50)
    port, session = _docked(url(), key)
    try:
        assert session.get("u1", DEADLINE) == b"readings" * 50
        session.ack("u1", DEADLINE)
        session.close()
    finally:
        port.close()
    assert not FlashStore(flash_dir).has_upload("u1")


def test_upload_without_ack_stays_on_the_hhu(url, key, flash_dir):
    FlashStore(flash_dir).store_upload("u1", b"readings")
    port, session = _docked(url(), key)
    try:
        session.get("u1", DEADLINE)
        session.close()
    finally:
        port.close()
    assert FlashStore(flash_dir).has_upload("u1")


def test_unknown_upload_is_refused(url, key):
    port, session = _docked(url(), key)
    try:
        with pytest.raises(Refused):
            session.get("nope", DEADLINE)
    finally:
        port.close()


def _server(behaviour) -> SocketServer:
    """A peer that does ``behaviour(conn)`` with each connection (blocking socket)."""
    return SocketServer(behaviour, max_connections=1, blocking=True).start()


def test_driver_reports_cut_when_port_closes(key):
    srv = _server(lambda conn: conn.close())
    port = open_port(srv.url, timeout=0.05)
    try:
        with pytest.raises(LinkCut):
            BlockingDockSession(port, _lookup(key)).handshake(DEADLINE)
    finally:
        port.close()
        srv.stop()


def test_driver_times_out_when_nobody_answers(key):
    release = threading.Event()
    srv = _server(lambda conn: (release.wait(10), conn.close()))
    port = open_port(srv.url, timeout=0.05)
    try:
        with pytest.raises(LinkTimedOut):
            BlockingDockSession(port, _lookup(key)).handshake(0.3)
    finally:
        release.set()
        port.close()
        srv.stop()


def test_device_faults_can_be_limited_to_first_session(key, flash_dir):
    device = SimulatedHHU(HHU, key, FlashStore(flash_dir), faults=Faults(cut_after=3000),
                          checkpoint_every=1024, checkpoint_interval_s=0.0)
    data = os.urandom(30_000)
    with DeviceServer(device, faulty_sessions=1) as server:
        with pytest.raises(LinkCut):
            _push(server.url, key, "b1", data)
        _push(server.url, key, "b1", data)
    assert FlashStore(flash_dir).read_bundle("b1") == data


def test_serve_on_a_pty_handles_docks_one_after_another(key, flash_dir):
    from hhu_firmware_sim.server import open_pty, serve_pty

    master, slave, path = open_pty()
    stop = threading.Event()
    device = SimulatedHHU(HHU, key, FlashStore(flash_dir))
    thread = threading.Thread(target=serve_pty, args=(device, master, stop), daemon=True)
    thread.start()
    try:
        first, second = os.urandom(3_000), os.urandom(4_000)
        _push(path, key, "b1", first)
        _push(path, key, "b2", second)
    finally:
        stop.set()
        thread.join(10)
        os.close(master)
        os.close(slave)
    store = FlashStore(flash_dir)
    assert (store.read_bundle("b1"), store.read_bundle("b2")) == (first, second)


@pytest.mark.parametrize("wording", ["", "Flash voll", "no room"])
def test_the_simulator_refuses_a_full_flash_by_code_whatever_its_wording(key, flash_dir,
                                                                         wording):
    device = SimulatedHHU(HHU, key, FlashStore(flash_dir, capacity=1000),
                          faults=Faults(refusal_text=lambda _text: wording))
    with DeviceServer(device) as server:
        port, session = _docked(server.url, key)
        try:
            with pytest.raises(Refused) as caught:
                session.put("b1", os.urandom(5_000), DEADLINE)
            assert (caught.value.code, caught.value.reason) == (ReasonCode.FLASH_FULL, wording)
            with pytest.raises(Refused) as caught:
                session.get("no-such-upload", DEADLINE)
            assert caught.value.code is ReasonCode.UNKNOWN_OBJECT
        finally:
            port.close()


def test_a_dock_giving_up_tells_the_hhu_why_by_code(key, flash_dir):
    ended: list = []
    done = threading.Event()
    device = SimulatedHHU(HHU, key, FlashStore(flash_dir))
    with DeviceServer(device, on_session=lambda r: (ended.append(r), done.set())) as server:
        port, session = _docked(server.url, key)
        try:
            session.give_up("session longer than 600 s", ReasonCode.SESSION_LIMIT)
            assert done.wait(DEADLINE)
        finally:
            port.close()
    assert ended[0].code is ReasonCode.SESSION_LIMIT
