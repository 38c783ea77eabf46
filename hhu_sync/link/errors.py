"""Errors raised by the link core (h11 model).

The pair is the shared one of hhu_sync/sansio.py (these are subclasses, so ``except
sansio.RemoteProtocolError`` catches either core's, and ``except LinkError`` still works).
"""

from __future__ import annotations

from hhu_sync import sansio
from hhu_sync.errors import HhuSyncError


class LinkError(HhuSyncError):
    """Base of every error the link core raises on purpose."""


class LocalProtocolError(LinkError, sansio.LocalProtocolError):
    """Our caller misused the connection (wrong role, wrong state, after an error...)."""


class RemoteProtocolError(LinkError, sansio.RemoteProtocolError):
    """The peer broke the protocol. The connection refuses further use afterwards."""
