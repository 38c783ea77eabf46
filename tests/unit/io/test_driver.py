"""LinkDriver pump against a scripted connection: time-outs, deadlines, EOF, events."""

from __future__ import annotations

import pytest
import serial

from hhu_sync.io.driver import LinkAborted, LinkCut, LinkDriver, LinkTimedOut
from hhu_sync.link import NEED_DATA, Aborted, ConnectionClosed, TimedOut


class ScriptedConn:
    """Just enough of Connection: queued events, a fixed timer, records what it saw."""

    def __init__(self, events=(), timeout: float | None = None) -> None:
        self.events = list(events)
        self.timeout = timeout
        self.received: list[bytes] = []
        self.received_at: list[float | None] = []
        self.timeouts = 0
        self.outgoing = b""
        self.seen = 0.0   # the driver's clock at its last call

    def data_to_send(self, now: float | None = None) -> bytes:
        self.seen = self.seen if now is None else now
        out, self.outgoing = self.outgoing, b""
        return out

    def next_deadline(self):
        # relative to the last clock seen: a fake whose timer restarts on every call
        return None if self.timeout is None else self.seen + self.timeout

    def receive_data(self, data: bytes, now: float | None = None) -> None:
        self.received.append(data)
        self.received_at.append(now)

    def handle_timeout(self, now: float | None = None) -> None:
        self.timeouts += 1
        if self.timeouts == 2:
            self.events.append(TimedOut("ack"))

    def next_event(self):
        return self.events.pop(0) if self.events else NEED_DATA

    def send(self, command, now: float | None = None) -> None:
        self.outgoing += b"cmd"


def _loop_port():
    return serial.serial_for_url("loop://", timeout=0.01)


def test_empty_reads_become_core_timeouts_until_it_gives_up():
    conn = ScriptedConn(timeout=0.001)
    with pytest.raises(LinkTimedOut, match="ack"):
        LinkDriver(_loop_port(), conn).run_until(lambda e: False, 10.0)
    assert conn.timeouts == 2


def test_deadline_bounds_the_wait():
    with pytest.raises(LinkTimedOut, match="within"):
        LinkDriver(_loop_port(), ScriptedConn(), idle_poll_s=0.01).run_until(
            lambda e: False, 0.05)


def test_returns_the_awaited_event_and_passes_others_on():
    seen = []
    conn = ScriptedConn(events=["progress", "done"])
    ev = LinkDriver(_loop_port(), conn, on_event=seen.append).run_until(
        lambda e: e == "done", 1.0)
    assert (ev, seen) == ("done", ["progress"])


def test_abort_event_raises_with_reason():
    conn = ScriptedConn(events=[Aborted("bad mac", by_peer=True)])
    with pytest.raises(LinkAborted, match="bad mac") as info:
        LinkDriver(_loop_port(), conn).run_until(lambda e: False, 1.0)
    assert info.value.by_peer


def test_unexpected_close_is_reported():
    conn = ScriptedConn(events=[ConnectionClosed()])
    with pytest.raises(Exception, match="closed"):
        LinkDriver(_loop_port(), conn).run_until(lambda e: False, 1.0)


def test_bytes_written_come_back_on_loop_and_reach_the_core():
    conn = ScriptedConn(events=[])
    driver = LinkDriver(_loop_port(), conn, idle_poll_s=0.01)
    driver.send(object())
    with pytest.raises(LinkTimedOut):
        driver.run_until(lambda e: False, 0.05)
    assert b"".join(conn.received) == b"cmd"


def test_the_driver_tells_the_core_the_time_of_each_read():
    conn = ScriptedConn(events=[])
    ticks = iter(range(1000))
    driver = LinkDriver(_loop_port(), conn, idle_poll_s=0.01, clock=lambda: float(next(ticks)))
    driver.send(object())
    with pytest.raises(LinkTimedOut):
        driver.run_until(lambda e: False, 5.0)
    assert conn.received == [b"cmd"]
    assert isinstance(conn.received_at[0], float)   # the core has no clock of its own


def test_port_error_is_a_cut_and_the_core_hears_eof():
    port = _loop_port()
    conn = ScriptedConn()
    port.close()
    with pytest.raises(LinkCut):
        LinkDriver(port, conn).run_until(lambda e: False, 1.0)
    assert conn.received == [b""]
