"""The one sans-IO convention every protocol core follows (docs/architecture.md).

Holds what the cores share so a driver can treat them alike: the ``NEED_DATA`` sentinel,
the one error pair, and :class:`SansIOConnection`, the shape a core offers. Pure: no I/O,
no clock, no threads; imports nothing of the cores.
"""

from __future__ import annotations

from typing import Any, Protocol

from hhu_sync.errors import HhuSyncError


class _SentinelMeta(type):
    def __repr__(cls) -> str:
        return cls.__name__


class NEED_DATA(metaclass=_SentinelMeta):  # noqa: N801 - h11 spelling
    """Returned (the class itself) by ``next_event()`` when more bytes are needed."""


class ProtocolError(HhuSyncError):
    """Base of the pair; ``offset`` is the byte in the received stream, when known."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message if offset is None else f"at byte {offset}: {message}")
        self.offset = offset


class LocalProtocolError(ProtocolError):
    """Our caller misused the connection (wrong role, wrong state, after an error...)."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol. The connection refuses further use afterwards."""


class SansIOConnection(Protocol):
    """The target shape of a protocol core (h11 model); see docs/architecture.md.

    The driver owns the port and the clock and passes ``now`` (its monotonic seconds)
    in; the core owns the state, the bytes to write and its deadlines.
    """

    def receive_data(self, data: bytes) -> None:
        """Bytes read from the port; ``b""`` means end of stream."""

    def next_event(self) -> Any:
        """The next event, or ``NEED_DATA`` (the class itself)."""

    def send(self, command: Any) -> None:
        """Act on what the caller wants to say; the bytes are queued, not returned."""

    def data_to_send(self) -> bytes:
        """Everything queued for the wire since the last call (may be ``b""``)."""

    def next_deadline(self) -> float | None:
        """Absolute time, on the caller's clock, of the next timer; None: no timer."""

    def handle_timeout(self, now: float) -> None:
        """The driver's clock reached ``next_deadline()``; ``now`` is that clock."""
