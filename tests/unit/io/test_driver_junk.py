"""The dock's pump: junk on the line does not hold the core's wait for an answer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hhu_sync.io.driver import LinkDriver, LinkTimedOut
from hhu_sync.link import Authenticated, Connection, LinkSettings, Role, StartHandshake

KEY = bytes(range(32))


class JunkLine:
    """Just enough of a pyserial port, on a fake clock: a junk byte every ``every`` s."""

    def __init__(self, every: float) -> None:
        self.t = 0.0
        self.every = every
        self.next_junk = every
        self.timeout: float | None = 0.0
        self.written = b""

    def clock(self) -> float:
        return self.t

    def read(self, size: int = 1) -> bytes:
        if self.next_junk <= self.t:
            self.next_junk += self.every
            return b"\x55"
        wait = self.timeout or 0.0
        if self.next_junk <= self.t + wait:
            self.t = self.next_junk
            self.next_junk += self.every
            return b"\x55"
        self.t += wait
        return b""

    def write(self, data: bytes) -> int:
        self.written += data
        return len(data)


def test_junk_faster_than_the_ack_timer_does_not_hold_the_request():
    settings = replace(LinkSettings(), ack_timeout=0.5, idle_timeout=5.0)
    line = JunkLine(every=0.45)
    conn = Connection(Role.DOCK, settings=settings, keys=lambda hhu_id: KEY)
    driver = LinkDriver(line, conn, clock=line.clock)
    driver.send(StartHandshake())
    with pytest.raises(LinkTimedOut, match="answer to HELLO"):
        driver.run_until(lambda e: isinstance(e, Authenticated), 600.0)
    assert settings.idle_timeout - 1e-6 <= line.t <= settings.idle_timeout + 0.5
