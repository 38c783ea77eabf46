"""The simulated HHU's side of a cable, as the pump drives it: a descriptor to watch.

A device session runs on a LinkPump, which reads and writes any port that offers
``sansio_fileno()`` straight from the event loop. So the device's end of a cable is
only that descriptor and a ``close()``: a connected TCP socket (``hhu-sim serve``), a
pty master (``hhu-sim serve --pty``), or the far end of the socket pair behind an
``hhusim://`` port. Writes never block the loop: what a dock does not read waits in the
pump, and a session that no dock answers ends by the device's idle limit.
"""

from __future__ import annotations

import socket

from hhu_firmware_sim.serving import close_socket, nodelay


class SocketLine:
    """A connected socket as the device's end of the cable; ``close()`` hangs up."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = nodelay(sock)

    def sansio_fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        close_socket(self.sock)


class FdLine:
    """A pty master as the device's end; it stays open across sessions (the next dock
    uses the same path), so ``close()`` leaves it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def sansio_fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        """Leave the pty open: the next dock session uses the same path."""
