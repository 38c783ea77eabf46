"""Reading an Elster meter's load profile (register 550) and event log (560).

The FLAG dialect is register-addressed (A1140, A1700, AS230): select with ``W1 551``,
then one ``R1`` per 64-byte block until the stream's end marker. :class:`BlockRead`
bounds the blocks and decodes as they come, so a bad byte stops the read at once,
naming its offset. Times in the stream are the meter's standard time; the caller gives
the standard offset of the meter's zone (:func:`standard_offset_s`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hhu_sync.iec62056 import Iec62056Error
from hhu_sync.iec62056.elster_events import decode_event_log
from hhu_sync.iec62056.elster_profile import ELSTER_CHANNELS, ElsterProfile, interpret
from hhu_sync.iec62056.elster_read import (
    EVENT_LOG_REGISTER,
    PROFILE_REGISTER,
    BlockRead,
    select_request,
)
from hhu_sync.meterio.client import MeterIOError, MeterRefused, ProgrammingSession
from hhu_sync.profile.events import MeterEvent

#: Manufacturer codes of the identification that mean the Elster dialect.
ELSTER_MAKERS = frozenset({"GEC", "ELS"})
CLOCK_REGISTER = 861
MAX_SELECT_DAYS = 0xFFFE


def standard_offset_s(zone: str | None, at: datetime | None = None) -> int:
    """The zone's standard-time offset from UTC in seconds (its offset minus DST) at
    ``at`` (default: now); None or "UTC": 0."""
    if zone is None or zone.upper() == "UTC":
        return 0
    when = (at or datetime.now(UTC)).astimezone(ZoneInfo(zone))
    offset, dst = when.utcoffset(), when.dst()
    assert offset is not None
    return int((offset - (dst or timedelta(0))).total_seconds())


@dataclass(frozen=True)
class ElsterAnswer:
    """One Elster read: the decoded profile (or events) and the blocks it took."""

    profile: ElsterProfile
    blocks: int

    @property
    def empty(self) -> bool:
        return not any(s.count() for s in self.profile.series)


def _gather(session: ProgrammingSession, read: BlockRead) -> None:
    what = f"R1 {read.register}"
    try:
        while (request := read.next_request()) is not None:
            answer = session.read(request.address, request.param)
            read.accept(answer.data)
    except Iec62056Error as exc:
        session.close()
        raise MeterIOError(f"{what} ({read.block} blocks read): {exc}") from exc


def meter_date(session: ProgrammingSession) -> date | None:
    """The meter's standard-time date from its clock register 861 (``YYMMDDhhmmss``);
    None when it does not answer one (then select everything)."""
    try:
        text = session.read_value(f"{CLOCK_REGISTER}")
    except MeterRefused:
        return None
    try:
        return datetime.strptime(text[:6], "%y%m%d").date()
    except ValueError:
        return None


def days_since(session: ProgrammingSession, since: int | None, std_offset_s: int
               ) -> int | None:
    """The 551 selection that holds the interval ends from ``since`` (UTC seconds) on:
    the meter's days from then to its today, by its clock; None: everything."""
    if since is None:
        return None
    today = meter_date(session)
    if today is None:
        return None
    first = (datetime.fromtimestamp(since - 1, UTC) + timedelta(seconds=std_offset_s)).date()
    return min(max((today - first).days + 1, 1), MAX_SELECT_DAYS)


def read_elster_profile(session: ProgrammingSession, *, std_offset_s: int,
                        days: int | None = None) -> ElsterAnswer:
    """Select (all, or the last ``days`` days: today counts as one), read register 550
    to its end marker, interpret the records. MeterRefused when the meter refuses."""
    select = select_request(days)
    session.write(select.address, select.value)
    read = BlockRead(PROFILE_REGISTER)
    _gather(session, read)
    try:
        profile = interpret(read.records, std_offset_s=std_offset_s,
                            channels=ELSTER_CHANNELS)
    except Iec62056Error as exc:
        raise MeterIOError(f"R1 {PROFILE_REGISTER}: {exc}") from exc
    return ElsterAnswer(profile, read.block)


def read_elster_events(session: ProgrammingSession, *,
                       std_offset_s: int) -> tuple[list[MeterEvent], int]:
    """Register 560 to its end marker: the events, oldest first, and the blocks read."""
    read = BlockRead(EVENT_LOG_REGISTER)
    _gather(session, read)
    try:
        return decode_event_log(bytes(read.data), std_offset_s=std_offset_s), read.block
    except Iec62056Error as exc:
        raise MeterIOError(f"R1 {EVENT_LOG_REGISTER}: {exc}") from exc
