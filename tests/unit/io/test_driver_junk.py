"""The dock's pump: junk on the line does not hold the core's wait for an answer."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import pytest
import serial

from hhu_sync.io.dock import DockSession
from hhu_sync.io.errors import LinkTimedOut
from hhu_sync.link import LinkSettings

KEY = bytes(range(32))


def test_junk_faster_than_the_ack_timer_does_not_hold_the_request():
    """A byte of junk arrives more often than the ack timer runs: the HELLO is still
    given up after its retries (the core's idle limit), long before the caller's wait."""
    settings = replace(LinkSettings(), ack_timeout=0.05, idle_timeout=0.5)
    listener = socket.create_server(("127.0.0.1", 0))
    port = serial.serial_for_url(f"socket://127.0.0.1:{listener.getsockname()[1]}")
    far, _ = listener.accept()

    async def main():
        loop = asyncio.get_running_loop()

        def junk() -> None:
            far.send(b"\x55")
            timer[0] = loop.call_later(0.045, junk)

        timer = [loop.call_later(0.045, junk)]
        session = DockSession(port, lambda hhu_id: KEY, settings=settings)
        try:
            await session.handshake(600.0)
        finally:
            timer[0].cancel()
            session.release()()

    try:
        with pytest.raises(LinkTimedOut, match="answer to HELLO"):
            asyncio.run(main())
    finally:
        port.close()
        far.close()
        listener.close()
