"""A meter's load profile and event log since a moment, whatever its dialect: what a
field visit (and a remote read) asks for a list entry with ``profile``/``events``.

The dialect comes from the identification (Elster meters identify as GEC or ELS) unless
the caller knows it; times in and out are UTC, the meter's zone only converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from hhu_sync.iec62056.loadprofile import LOGBOOK, PROFILE, MeterClock, to_events, to_series
from hhu_sync.meterio.client import ProgrammingSession
from hhu_sync.meterio.elster import (
    ELSTER_MAKERS,
    days_since,
    read_elster_events,
    read_elster_profile,
    standard_offset_s,
)
from hhu_sync.meterio.profile import read_profile, request_stamp
from hhu_sync.profile.events import MeterEvent
from hhu_sync.profile.series import ChannelSeries, Run

#: The reading password the simulated meters (and many real ones, at their lowest level)
#: answer profile reads with.
DEFAULT_READ_PASSWORD = "00000000"


@dataclass(frozen=True)
class IntervalData:
    dialect: str
    series: tuple[ChannelSeries, ...]
    events: tuple[MeterEvent, ...]
    blocks: int


def since_utc(since: str | None, zone: str | None) -> int | None:
    """A list entry's ``since`` (``YYYY-MM-DD``: 00:00 meter time; or a UTC time
    ``...Z``) as UTC seconds; None for everything."""
    if not since:
        return None
    if len(since) == 10:
        day = date.fromisoformat(since)
        tz = ZoneInfo(zone) if zone else UTC
        return int(datetime.combine(day, time(), tz).timestamp())
    return int(datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp())


def dialect_of_session(session: ProgrammingSession) -> str:
    maker = session.identification.manufacturer.upper()
    return "elster" if maker in ELSTER_MAKERS else "vdew"


def after(series: tuple[ChannelSeries, ...], lo: int | None) -> tuple[ChannelSeries, ...]:
    """Only the intervals ending after ``lo`` (an Elster read selects whole days)."""
    if lo is None:
        return series
    out = []
    for s in series:
        runs = []
        for run in s.runs:
            skip = next((i for i in range(len(run.values))
                         if run.first_end + i * s.interval_s > lo), len(run.values))
            if skip < len(run.values):
                runs.append(Run(run.first_end + skip * s.interval_s, run.values[skip:],
                                run.status[skip:]))
        if runs:
            out.append(ChannelSeries(s.channel, s.interval_s, s.exponent, tuple(runs)))
    return tuple(out)


def read_interval_data(session: ProgrammingSession, *, since: int | None,
                       profile: bool = True, events: bool = True, zone: str | None = None,
                       dialect: str | None = None) -> IntervalData:
    """The profile (intervals ending after ``since``) and/or the events since then."""
    dialect = dialect or dialect_of_session(session)
    series: tuple[ChannelSeries, ...] = ()
    logged: list[MeterEvent] = []
    blocks = 0
    if dialect == "elster":
        offset = standard_offset_s(zone)
        if profile:
            got = read_elster_profile(session, std_offset_s=offset,
                                      days=days_since(session, since, offset))
            series, blocks = after(got.profile.series, since), blocks + got.blocks
        if events:
            found, more = read_elster_events(session, std_offset_s=offset)
            logged, blocks = [e for e in found if since is None or e.at > since], blocks + more
    else:
        clock = MeterClock.of(zone)
        start = request_stamp(datetime.fromtimestamp(since, UTC), clock) \
            if since is not None else None
        if profile:
            answer = read_profile(session, PROFILE, start=start)
            blocks += answer.blocks
            if not answer.empty:
                series = after(tuple(to_series(answer.decoded.sections, clock).series),
                               since)
        if events:
            answer = read_profile(session, LOGBOOK, start=start)
            blocks += answer.blocks
            if not answer.empty:
                logged = [e for e in to_events(answer.decoded.entries, clock)
                          if since is None or e.at > since]
    return IntervalData(dialect, series, tuple(logged), blocks)
