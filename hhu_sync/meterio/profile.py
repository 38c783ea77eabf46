"""Reading a meter's load profile (``P.01``) and logbook (``P.98``) in programming mode.

Why R6 by default: a month of 15-minute intervals is a few hundred kilobytes, more than
one block may hold; partial blocks keep each frame short (a BCC error repeats one block,
not the whole answer) and the answer is decoded as it comes, line by line. The
connection bounds the number of blocks and bytes; the decoder bounds lines and intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from hhu_sync.iec62056 import (
    Ack,
    ErrorResponse,
    Iec62056Error,
    ProfileData,
    ProfileEmpty,
    ProfileRequest,
)
from hhu_sync.iec62056.loadprofile import (
    LOGBOOK,
    PROFILE,
    Decoded,
    LocalStamp,
    MeterClock,
    ProfileParser,
    range_param,
)
from hhu_sync.meterio.client import MeterIOError, MeterRefused, ProgrammingSession


@dataclass(frozen=True)
class ProfileAnswer:
    """What the meter sent for one read: decoded text, and how many blocks it took."""

    address: str
    decoded: Decoded
    blocks: int

    @property
    def empty(self) -> bool:
        return self.decoded.empty or not (self.decoded.sections or self.decoded.entries)


def request_stamp(when: datetime | None, clock: MeterClock) -> LocalStamp | None:
    """``when`` (aware, or naive in the meter's zone) as the meter's ``sYYMMDDhhmm``."""
    if when is None:
        return None
    if when.tzinfo is None:
        utc = clock.to_utc(LocalStamp(when, None))
    else:
        utc = int(when.astimezone(UTC).timestamp())
    return clock.local(utc, season=True, seconds=False)


def read_profile(session: ProgrammingSession, address: str = PROFILE, *,
                 start: LocalStamp | None = None, end: LocalStamp | None = None,
                 partial: bool = True) -> ProfileAnswer:
    """R5/R6 of ``address`` over ``[start, end]`` (None: open); MeterRefused on ``ERxx``.
    ``(ERROR)`` is an answer (nothing in the range), never an error."""
    if address not in (PROFILE, LOGBOOK):
        raise MeterIOError(f"{address!r} is neither {PROFILE} nor {LOGBOOK}")
    client, conn = session.client, session.conn
    parser = ProfileParser(address)
    client._send(conn, ProfileRequest(address, range_param(start, end), partial))
    session.reads += 1
    blocks = 0
    what = f"{'R6' if partial else 'R5'} {address}"
    while True:
        ev = client._await(conn, what)
        if isinstance(ev, ProfileEmpty):
            parser.result.empty = True
            return ProfileAnswer(address, parser.close(), blocks)
        if isinstance(ev, ErrorResponse):
            raise MeterRefused(ev.code, address, what[:2])
        if not isinstance(ev, ProfileData):
            raise MeterIOError(f"{what}: unexpected {type(ev).__name__}")
        blocks += 1
        try:
            parser.feed(ev.data, ev.offset)
            if ev.final:
                return ProfileAnswer(address, parser.close(), blocks)
        except Iec62056Error as exc:
            session.close()
            raise MeterIOError(f"{what}: {exc}") from exc
        client._send(conn, Ack())
