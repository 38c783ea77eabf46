"""What the pump tests share: a pyserial ``socket://`` port and the far end of its line."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import serial


@pytest.fixture
def tcp_line() -> Iterator[tuple[serial.SerialBase, socket.socket]]:
    """``(port, far)``: the port a pump drives and the socket at the other end; both closed
    afterwards (a test may close either itself first)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = serial.serial_for_url(f"socket://127.0.0.1:{listener.getsockname()[1]}")
    far, _ = listener.accept()
    listener.close()
    try:
        yield port, far
    finally:
        port.close()
        far.close()
