"""The simulated HHU's side of a cable: in-process pipes, TCP sockets, a pty.

The device loop needs only ``read(size, timeout)`` (``b""`` = time-out, ``EOFError`` =
the other end is gone), ``write(data)`` and ``close()``. Keeping that surface tiny lets
one device loop serve ``hhusim://``, ``socket://`` and a pty alike.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol


class DevicePort(Protocol):
    """What the device loop reads from and writes to."""

    def read(self, size: int, timeout: float) -> bytes: ...
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


class BytePipe:
    """One direction of an in-process cable: a bounded-wait byte queue."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._cond = threading.Condition()
        self.closed = False

    def write(self, data: bytes) -> None:
        """Append bytes; raises EOFError once the pipe is closed."""
        with self._cond:
            if self.closed:
                raise EOFError("pipe closed")
            self._buf += data
            self._cond.notify_all()

    def read(self, size: int, timeout: float | None) -> bytes:
        """Up to ``size`` bytes, waiting at most ``timeout`` s for the first one.

        Returns ``b""`` on time-out; raises EOFError when closed and drained.
        ``timeout=None`` waits until data or close (used by blocking pyserial reads).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._buf:
                if self.closed:
                    raise EOFError("pipe closed")
                if deadline is None:
                    self._cond.wait(0.5)
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    return b""
                self._cond.wait(left)
            out = bytes(self._buf[:size])
            del self._buf[:size]
            return out

    def available(self) -> int:
        """Bytes ready to read now."""
        with self._cond:
            return len(self._buf)

    def clear(self) -> None:
        """Drop buffered bytes."""
        with self._cond:
            self._buf.clear()

    def close(self) -> None:
        """No more writes; readers drain what is left, then see EOF."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class PipePort:
    """The device's end of a pair of BytePipes."""

    def __init__(self, rx: BytePipe, tx: BytePipe) -> None:
        self.rx = rx
        self.tx = tx

    def read(self, size: int, timeout: float) -> bytes:
        return self.rx.read(size, timeout)

    def write(self, data: bytes) -> None:
        self.tx.write(data)

    def close(self) -> None:
        self.tx.close()
        self.rx.close()


class SocketPort:
    """A connected TCP socket as a device port.

    Writes are bounded by ``write_timeout``: a dock that stops reading must not block
    the device in ``sendall`` for good (its idle limit could then never end the session).
    """

    def __init__(self, sock: socket.socket, *, write_timeout: float = 10.0) -> None:
        self.sock = sock
        sock.settimeout(write_timeout)   # reads wait in select; recv/sendall are bounded
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def read(self, size: int, timeout: float) -> bytes:
        try:
            ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
            if not ready:
                return b""
            data = self.sock.recv(size)
        except OSError as exc:
            raise EOFError(str(exc)) from exc
        if not data:
            raise EOFError("peer closed the connection")
        return data

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise EOFError(str(exc)) from exc

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class FdPort:
    """A pty master as a device port; the pty stays open across sessions.

    Writes are bounded by ``write_timeout``: we hold the slave open ourselves, so when
    no dock reads it the pty fills and a plain ``os.write`` would block for good.
    """

    def __init__(self, fd: int, *, write_timeout: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fd = fd
        self.write_timeout = write_timeout
        self._clock = clock
        os.set_blocking(fd, False)   # a write takes what fits; reads wait in select

    def read(self, size: int, timeout: float) -> bytes:
        try:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
            if not ready:
                return b""
            return os.read(self.fd, size)
        except OSError:
            # EIO: nobody has the pty open right now; that is a quiet line, not a hang-up.
            time.sleep(min(timeout, 0.05))
            return b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = self._clock() + self.write_timeout
        while view:
            left = deadline - self._clock()
            try:
                _, ready, _ = select.select([], [self.fd], [], max(0.0, left))
                if not ready:
                    raise EOFError(f"nobody reads the line: {len(view)} bytes not written "
                                   f"in {self.write_timeout:g} s")
                n = os.write(self.fd, view[:4096])
            except BlockingIOError:
                continue             # less room than the piece: wait for more
            except OSError as exc:
                raise EOFError(str(exc)) from exc
            view = view[n:]

    def close(self) -> None:
        """Leave the pty open: the next dock session uses the same path."""
