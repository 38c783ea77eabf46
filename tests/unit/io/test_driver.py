"""A docking's waits on the one pump end in the link errors callers catch: a core's
abort, time-out or close, the port's end, the caller's deadline (as the old blocking
driver's did), and the blocking facade runs the same session for one-shot commands."""

from __future__ import annotations

import asyncio

import pytest

from hhu_sync.io.driver import BlockingDockSession
from hhu_sync.io.errors import (
    LinkAborted,
    LinkClosed,
    LinkCut,
    LinkTimedOut,
    link_error,
    link_fatal,
)
from hhu_sync.io.pump import LinkPump, PumpError
from hhu_sync.link import NEED_DATA, Aborted, ConnectionClosed, ReasonCode, TimedOut


class ScriptedConn:
    """Just enough of a core: queued events, a timer that gives up on its second run."""

    def __init__(self, events=(), deadline: float | None = None) -> None:
        self.events = list(events)
        self.deadline = deadline
        self.received: list[bytes] = []
        self.timeouts = 0

    def receive_data(self, data: bytes, now: float | None = None) -> None:
        self.received.append(data)

    def next_event(self):
        return self.events.pop(0) if self.events else NEED_DATA

    def send(self, command, now: float | None = None) -> None:
        pass

    def data_to_send(self, now: float | None = None) -> bytes:
        return b""

    def next_deadline(self) -> float | None:
        return self.deadline

    def handle_timeout(self, now: float) -> None:
        self.timeouts += 1
        self.deadline = now + 0.001
        if self.timeouts == 2:
            self.deadline = None
            self.events.append(TimedOut("ack"))


def _wait(line, conn: ScriptedConn, deadline_s: float = 5.0, *, hang_up: bool = False):
    """The first link error a wait for nothing ends in, on ``line`` (the tcp_line fixture)."""
    port, far = line

    async def main():
        pump = LinkPump(port, conn, fatal=link_fatal)
        if hang_up:
            far.close()
        try:
            await pump.run_until(lambda e: False, deadline_s)
        except PumpError as exc:
            raise link_error(exc) from exc
        finally:
            pump.close()

    asyncio.run(main())


def test_the_cores_timer_runs_until_it_gives_up(tcp_line):
    conn = ScriptedConn(deadline=0.0)
    with pytest.raises(LinkTimedOut, match="ack"):
        _wait(tcp_line, conn)
    assert conn.timeouts == 2


def test_the_callers_deadline_bounds_the_wait(tcp_line):
    with pytest.raises(LinkTimedOut, match="within"):
        _wait(tcp_line, ScriptedConn(), 0.05)


def test_an_abort_is_link_aborted_with_its_reason_and_code(tcp_line):
    with pytest.raises(LinkAborted, match="bad mac") as info:
        _wait(tcp_line,
              ScriptedConn([Aborted("bad mac", by_peer=True, code=ReasonCode.AUTH_FAILED)]))
    assert info.value.by_peer and info.value.code is ReasonCode.AUTH_FAILED


def test_an_unexpected_close_is_link_closed(tcp_line):
    with pytest.raises(LinkClosed, match="closed"):
        _wait(tcp_line, ScriptedConn([ConnectionClosed()]))


def test_the_port_ending_is_a_cut_and_the_core_hears_eof(tcp_line):
    conn = ScriptedConn()
    with pytest.raises(LinkCut):
        _wait(tcp_line, conn, hang_up=True)
    assert conn.received[-1] == b""


def test_the_blocking_session_runs_its_steps_on_its_own_loop_and_ends_it(tcp_line):
    port, far = tcp_line
    session = BlockingDockSession(port, lambda hhu_id: None)
    far.close()                                   # no HHU: the line ends
    with pytest.raises(LinkCut):
        session.handshake(5.0)
    assert session.close() is False               # nothing to close politely
    assert session._loop.is_closed()              # noqa: SLF001 - no loop left behind
    with pytest.raises(LinkCut):
        session.get("U-1", 1.0)
