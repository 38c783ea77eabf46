"""Errors raised by the link core (h11 model)."""

from __future__ import annotations

from hhu_sync.errors import HhuSyncError


class LinkError(HhuSyncError):
    """Base of every error the link core raises on purpose."""


class LocalProtocolError(LinkError):
    """Our caller misused the connection (wrong role, wrong state, after an error...)."""


class RemoteProtocolError(LinkError):
    """The peer broke the protocol. The connection refuses further use afterwards."""
