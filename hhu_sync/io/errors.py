"""What a docking's link wait can end in, and which core events mean which.

The pump (:mod:`hhu_sync.io.pump`) knows no protocol: :func:`link_fatal` is the dock's
``fatal=`` mapping, and :func:`link_error` turns the pump's own two stops (the port went
away, the caller's deadline passed) into the same family, so callers catch one set.
"""

from __future__ import annotations

from hhu_sync.errors import HhuSyncError
from hhu_sync.io.pump import PumpCut, PumpError, PumpTimedOut
from hhu_sync.link import Aborted, ConnectionClosed, ReasonCode, TimedOut


class LinkDriverError(HhuSyncError):
    """The link stopped before the awaited event."""


class LinkCut(LinkDriverError):
    """The port closed or hit end of stream (cable pulled, HHU gone)."""


class LinkTimedOut(LinkDriverError):
    """The caller's deadline passed, or the core gave up waiting after its retries."""


class LinkAborted(LinkDriverError):
    """The link was aborted (authentication failure, protocol error, peer abort)."""

    def __init__(self, reason: str, by_peer: bool,
                 code: ReasonCode = ReasonCode.UNSPECIFIED) -> None:
        super().__init__(f"aborted by {'the HHU' if by_peer else 'us'}: {reason}")
        self.reason = reason        # for people
        self.by_peer = by_peer
        self.code = code            # what callers decide by


class LinkClosed(LinkDriverError):
    """The peer closed the link cleanly while we still waited for something."""


def link_fatal(event: object) -> BaseException | None:
    """The error a link event means to a caller waiting for something else, or None."""
    if isinstance(event, Aborted):
        return LinkAborted(event.reason, event.by_peer, event.code)
    if isinstance(event, TimedOut):
        return LinkTimedOut(f"link timed out waiting for {event.what}")
    if isinstance(event, ConnectionClosed):
        return LinkClosed("the HHU closed the link")
    return None


def link_error(exc: PumpError) -> LinkDriverError:
    """The pump's own stop as a link error: a cut port, or the caller's deadline."""
    if isinstance(exc, PumpTimedOut):
        return LinkTimedOut(str(exc))
    if isinstance(exc, PumpCut):
        return LinkCut(str(exc))
    return LinkDriverError(str(exc))
