"""The meter client's waits have absolute deadlines, whatever a meter trickles.

A fake line on a fake clock: each read takes as long as the next byte takes to arrive,
or its whole timeout when nothing comes. A meter (or a man in the middle) that sends
junk, or a frame that never ends, must not hold a readout or a programming session
past the answer time-out (junk) or the operation's budget (a frame that grows).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from hhu_firmware_sim.field_trip import InProcessProbe
from hhu_firmware_sim.meter import MeterSession, SimMeter
from hhu_sync.meterio import DriverSettings, MeterClient, MeterIOError, MeterTimeout

ANSWER = 1.5
RETRIES = 3


class Trickle:
    """After the peer's first ``real`` bytes (or none), one ``junk`` byte every ``gap``."""

    def __init__(self, junk: bytes, gap: float, real: InProcessProbe | None = None,
                 real_until: float = 0.0) -> None:
        self.t = 0.0
        self.junk, self.gap = junk, gap
        self.real, self.real_until = real, real_until
        self.reads = 0

    def clock(self) -> float:
        return self.t

    def write(self, data: bytes) -> None:
        if self.real is not None and self.t < self.real_until:
            self.real.write(data)

    def read(self, timeout: float) -> bytes:
        self.reads += 1
        if self.t > 100_000:
            raise AssertionError("test line: the client never gave up")
        if self.real is not None and self.t < self.real_until:
            data = self.real.read(timeout)
            if data:
                return data
        if self.gap > timeout:
            self.t += timeout
            return b""
        self.t += self.gap
        return self.junk

    def set_baud(self, baud: int) -> None:
        pass

    def pause(self, seconds: float) -> None:
        self.t += seconds


def _client(line: Trickle, **kw) -> MeterClient:
    settings = DriverSettings(reaction_s=0.0, answer_timeout_s=ANSWER, max_retries=RETRIES,
                              **kw)
    return MeterClient(line, settings, clock=line.clock)


@pytest.mark.parametrize("junk", [b"\x00", b"\x7f", b"\x15"], ids=["nul", "del", "nak"])
def test_junk_does_not_hold_a_readout_past_its_answer_timeouts(junk):
    line = Trickle(junk, gap=0.1)
    with pytest.raises(MeterIOError):           # a NAK is retried, then given up
        _client(line).readout()
    assert line.t <= (RETRIES + 1) * ANSWER + 0.2


def test_a_frame_that_never_ends_is_cut_at_the_budget():
    """Bytes of a block keep coming (each one part of the frame): the budget ends it."""
    line = Trickle(b"A", gap=0.5)
    line.junk = b"A"
    line_first = [b"\x02"]
    original = line.read

    def read(timeout: float) -> bytes:
        if line_first:
            line.t += 0.1
            return line_first.pop()
        return original(timeout)

    line.read = read     # type: ignore[method-assign]
    with pytest.raises(MeterTimeout):
        _client(line, budget_s=60.0, exchange_timeout_s=1000.0).readout()
    assert line.t <= 60.0 + 0.5


def test_a_programming_session_has_one_budget_for_all_its_requests():
    """A meter that answers, then trickles a never-ending answer: the budget counts from
    the sign-on, not from each request."""
    m = SimMeter("35012345", passwords={3: "FEDC0003"}, start=datetime(2026, 11, 1))
    probe = InProcessProbe(MeterSession(lambda a: m, None))
    line = Trickle(b"A", gap=0.5, real=probe, real_until=1.0)
    client = _client(line, budget_s=30.0, exchange_timeout_s=25.0)
    session = client.programming("", "FEDC0003")
    line.t = 1.0                                   # from here on the meter trickles
    with pytest.raises(MeterIOError):
        session.read("1.8.0")
        while True:
            session.read("1.8.0")
    assert line.t <= 30.0 + 0.5
