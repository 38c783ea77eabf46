"""The simulated HHU's idle limit: only frames that move the session on hold it open.

A fake line with its own clock stands for the dock and drives the device's sans-IO
session: the clock jumps to the peer's next bytes or to the session's next deadline,
whichever comes first, and the peer's bytes arrive at set times. With junk, bad-CRC frames or one
request repeated every 0.9 × idle for 10 × idle, the session must end at idle.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from hhu_firmware_sim.device import SessionResult, SimulatedHHU
from hhu_firmware_sim.flash import FlashStore
from hhu_sync.link import NEED_DATA, Authenticated, Connection, LinkSettings, Role, encode_frame
from hhu_sync.link import messages as m
from hhu_sync.link.events import StartHandshake

KEY = bytes(range(32))
IDLE = 10.0
SLACK = 1e-3 + 1e-6     # a timer may count as due this early (a loop's timer granularity)


class FakeLine:
    """A line on a fake clock; ``at(t, data)`` has the peer send ``data`` at ``t``."""

    def __init__(self) -> None:
        self.t = 0.0
        self.pending: list[tuple[float, bytes]] = []
        self.dock: Connection | None = None
        self.dock_events: list = []

    def at(self, when: float, data: bytes) -> None:
        self.pending.append((when, data))
        self.pending.sort(key=lambda p: p[0])

    def write(self, data: bytes) -> None:
        if self.dock is None:
            return
        self.dock.receive_data(data)
        while (event := self.dock.next_event()) is not NEED_DATA:
            self.dock_events.append((self.t, event))
        out = self.dock.data_to_send()
        if out:
            self.at(self.t, out)

    def run_session(self, hhu: SimulatedHHU) -> SessionResult:
        """Drive one docking of ``hhu`` on this line's clock until it is over."""
        session = hhu.session(self.t)
        while True:
            out = session.data_to_send(self.t)
            if out:
                self.write(out)
            event = session.next_event()
            if event is not NEED_DATA:
                return event.result
            due = session.next_deadline()
            if self.pending and (due is None or self.pending[0][0] <= due):
                when, data = self.pending.pop(0)
                self.t = max(self.t, when)
                session.receive_data(data, self.t)
            else:
                assert due is not None, "the session waits with no deadline"
                self.t = max(self.t, due)
                session.handle_timeout(self.t)
            assert self.t <= 1000 * IDLE, "test line: the session never ended"


def _device(tmp_path, *, idle_limit_s: float, core_idle: float) -> tuple[SimulatedHHU,
                                                                           FakeLine]:
    line = FakeLine()
    hhu = SimulatedHHU("HHU-0042", KEY, FlashStore(tmp_path / "flash", 1 << 20),
                       settings=replace(LinkSettings(), idle_timeout=core_idle),
                       idle_limit_s=idle_limit_s)
    return hhu, line


def _frame(body: bytes) -> bytes:
    return b"\x00" + encode_frame(body)


def _bad_crc(body: bytes) -> bytes:
    frame = bytearray(encode_frame(body))
    frame[-2] ^= 0x01 if frame[-2] not in (0x00, 0x01) else 0x03
    return b"\x00" + bytes(frame)


def _every(line: FakeLine, data: bytes, start: float = 0.0) -> None:
    t = start + 0.9 * IDLE
    while t < start + 10 * IDLE:
        line.at(t, data)
        t += 0.9 * IDLE


LIMITS = [pytest.param(dict(idle_limit_s=IDLE, core_idle=1000 * IDLE), "idle", id="device"),
          pytest.param(dict(idle_limit_s=1000 * IDLE, core_idle=IDLE), "timed out: idle",
                       id="core")]


@pytest.mark.parametrize(("limits", "reason"), LIMITS)
@pytest.mark.parametrize("junk", [b"\x55", b"\x00", _bad_crc(m.Ping(1).encode())],
                         ids=["byte", "delimiter", "bad-crc"])
def test_junk_does_not_hold_the_session(tmp_path, limits, reason, junk):
    hhu, line = _device(tmp_path, **limits)
    _every(line, junk)
    result = line.run_session(hhu)
    assert result.reason == reason
    assert IDLE <= line.t <= IDLE + SLACK


def _authenticated(hhu: SimulatedHHU, line: FakeLine) -> None:
    line.dock = Connection(Role.DOCK, keys=lambda hhu_id: KEY)
    line.dock.send(StartHandshake())
    line.at(0.0, line.dock.data_to_send())


@pytest.mark.parametrize(("limits", "reason"), LIMITS)
def test_a_request_repeated_does_not_hold_the_session(tmp_path, limits, reason):
    hhu, line = _device(tmp_path, **limits)
    _authenticated(hhu, line)
    _every(line, _frame(m.Ping(77).encode()))   # the first is news, the rest repeats
    result = line.run_session(hhu)
    assert result.authenticated and result.reason == reason
    assert any(isinstance(e, Authenticated) for _, e in line.dock_events)
    first = 0.9 * IDLE
    assert first + IDLE <= line.t <= first + IDLE + SLACK


@pytest.mark.parametrize(("limits", "reason"), LIMITS)
def test_new_requests_keep_the_session_as_keepalive_does(tmp_path, limits, reason):
    hhu, line = _device(tmp_path, **limits)
    _authenticated(hhu, line)
    for n, t in enumerate([0.9 * IDLE * k for k in range(1, 11)]):
        line.at(t, _frame(m.Ping(100 + n).encode()))
    result = line.run_session(hhu)
    assert result.reason == reason
    assert line.t >= 9 * IDLE + IDLE      # held while new PINGs came, idle after the last
