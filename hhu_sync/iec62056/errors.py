"""Errors raised by the IEC 62056-21 core (h11 model).

Every error that comes from bytes names the byte offset in the received stream, so a
field log can point at the exact byte that broke the exchange. The pair subclasses the
shared one of hhu_sync/sansio.py, so a driver can catch either core's alike.
"""

from __future__ import annotations

from hhu_sync import sansio
from hhu_sync.errors import HhuSyncError


class Iec62056Error(HhuSyncError):
    """Base of every error the IEC 62056-21 core raises on purpose."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message if offset is None else f"at byte {offset}: {message}")
        self.offset = offset


class LocalProtocolError(Iec62056Error, sansio.LocalProtocolError):
    """Our caller misused the connection (wrong role, wrong state, after an error...)."""


class RemoteProtocolError(Iec62056Error, sansio.RemoteProtocolError):
    """The peer broke the protocol. The connection refuses further use afterwards."""


class ParityError(RemoteProtocolError):
    """A received byte failed the even-parity check (7E1 carried on an 8-bit transport)."""
