"""A remote list's maintenance window: the hours of the day it may program its meters.

Here in the model (the list validates it; hhu_sync.remote checks the time against it).

``maintenance_window = "01:00-04:00"`` on a remote list: programming (and setting a
meter's clock) is done only while the depot's clock is inside it. Times are the wall
clock of the list's ``timezone`` (an IANA name such as ``"Europe/London"``; UTC when it
names none), as the list's ``schedule`` is (a ``"0 1 * * *"`` run and a
``"01:00-04:00"`` window line up, summer and winter). The start is inside, the end is
not; an end before the start crosses midnight (``"22:00-02:00"``). On the night the
clocks change the window holds the wall-clock hours it names: an hour the clocks skip
is not inside, an hour they repeat is inside twice. No clock here: callers pass the
time to check (an injected clock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hhu_sync.model.fields import shown

_WINDOW = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")
_DAY = 24 * 60
#: how far seconds_left looks for the window's end (a day and the hour clocks may add)
_LOOK_AHEAD = timedelta(hours=25)
#: the zone of a list that names none
DEFAULT_ZONE = "UTC"
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}$")


class WindowError(ValueError):
    """Not a window: ``HH:MM-HH:MM`` (24 h), start and end different; or no such zone."""


#: names the zone database holds that name no place: the machine's own setting, a
#: rule file, the "not set" zone
_NOT_ZONES = frozenset({"localtime", "posixrules", "factory", "posix", "right"})
#: what ZoneInfo raises for a name it cannot load: not found, not a name, or a folder of
#: the zone database (``"Europe"``) or a file it cannot read
ZONE_ERRORS = (ZoneInfoNotFoundError, ValueError, OSError)


def zone_problem(name: object) -> str | None:
    """Why ``name`` is not an IANA time zone this machine knows; None when it is one."""
    quoted = shown(name)
    if not isinstance(name, str) or len(name) > 64 or not _ZONE_NAME.match(name):
        return (f"{quoted} is not a time zone: an IANA name such as \"Europe/London\" or "
                "\"UTC\"")
    if name.lower() in _NOT_ZONES:
        return (f"{quoted} is not a time zone of its own (it is whatever this machine is set "
                "to, or no place): name the zone, such as \"Europe/London\"")
    try:
        zone_of(name)
    except ZONE_ERRORS:
        return (f"{quoted} is not a time zone this machine knows (IANA names, such as "
                "\"Europe/London\"; install the tzdata package if none is known)")
    return None


@lru_cache(maxsize=256)
def zone_of(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True)
class MaintenanceWindow:
    """Minutes of the day, on ``zone``'s wall clock, from ``start`` (inside) to ``end``
    (outside)."""

    start_min: int
    end_min: int
    zone: str = DEFAULT_ZONE

    @classmethod
    def parse(cls, text: str, zone: str | None = None) -> MaintenanceWindow:
        """``text`` in the hours of ``zone`` (an IANA name; None: UTC)."""
        zone = zone or DEFAULT_ZONE
        if (problem := zone_problem(zone)) is not None:
            raise WindowError(problem)
        m = _WINDOW.match(text.strip().replace(" ", ""))
        if m is None:
            raise WindowError(f"{text!r} is not a window HH:MM-HH:MM (24-hour, e.g. "
                              "\"01:00-04:00\"; \"22:00-02:00\" crosses midnight)")
        start = int(m[1]) * 60 + int(m[2])
        end = int(m[3]) * 60 + int(m[4])
        if end > _DAY:
            raise WindowError(f"{text!r}: the end is at most 24:00")
        if start == end:
            raise WindowError(f"{text!r}: the window starts where it ends (no time inside)")
        return cls(start, end, zone)

    @property
    def crosses_midnight(self) -> bool:
        return self.end_min < self.start_min

    def local(self, when: datetime) -> datetime:
        """``when`` (aware; a naive time is taken as UTC) on the zone's wall clock."""
        aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        return aware.astimezone(zone_of(self.zone))

    def contains(self, when: datetime) -> bool:
        """Whether ``when`` is inside."""
        here = self.local(when)
        minute = here.hour * 60 + here.minute
        if self.crosses_midnight:
            return minute >= self.start_min or minute < self.end_min
        return self.start_min <= minute < self.end_min

    def seconds_left(self, when: datetime) -> float:
        """How long ``when`` stays inside (0 when outside), in real seconds, as
        :meth:`contains` sees it minute by minute: across a change of the clocks the
        wall-clock end is an hour nearer or further, never comes (skipped) or comes
        twice. A window open all day stays open at least :data:`_LOOK_AHEAD` on."""
        if not self.contains(when):
            return 0.0
        at = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        step = at.astimezone(UTC).replace(second=0, microsecond=0)
        for _ in range(int(_LOOK_AHEAD.total_seconds() // 60)):
            step += timedelta(minutes=1)
            if not self.contains(step):
                return (step - at.astimezone(UTC)).total_seconds()
        return _LOOK_AHEAD.total_seconds()

    def text(self) -> str:
        return f"{_hhmm(self.start_min)}-{_hhmm(self.end_min)}"

    def shown(self) -> str:
        """For people: the hours and their zone (``"01:00-04:00 Europe/London"``)."""
        return f"{self.text()} {self.zone}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
