"""A remote list's maintenance window: the hours of the day it may program its meters.

Here in the model (the list validates it; hhu_sync.remote checks the time against it).

``maintenance_window = "01:00-04:00"`` on a remote list: programming (and setting a
meter's clock) is done only while the depot's clock is inside it. Times are UTC, as the
list's ``schedule`` is (a ``"0 1 * * *"`` run and a ``"01:00-04:00"`` window line up).
The start is inside, the end is not; an end before the start crosses midnight
(``"22:00-02:00"``). No clock here: callers pass the time to check (an injected clock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

_WINDOW = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")
_DAY = 24 * 60


class WindowError(ValueError):
    """Not a window: ``HH:MM-HH:MM`` (24 h, UTC), start and end different."""


@dataclass(frozen=True)
class MaintenanceWindow:
    """Minutes of the day (UTC) from ``start`` (inside) to ``end`` (outside)."""

    start_min: int
    end_min: int

    @classmethod
    def parse(cls, text: str) -> MaintenanceWindow:
        m = _WINDOW.match(text.strip().replace(" ", ""))
        if m is None:
            raise WindowError(f"{text!r} is not a window HH:MM-HH:MM (24-hour UTC, e.g. "
                              "\"01:00-04:00\"; \"22:00-02:00\" crosses midnight)")
        start = int(m[1]) * 60 + int(m[2])
        end = int(m[3]) * 60 + int(m[4])
        if end > _DAY:
            raise WindowError(f"{text!r}: the end is at most 24:00")
        if start == end:
            raise WindowError(f"{text!r}: the window starts where it ends (no time inside)")
        return cls(start, end)

    @property
    def crosses_midnight(self) -> bool:
        return self.end_min < self.start_min

    def contains(self, when: datetime) -> bool:
        """Whether ``when`` (aware; a naive time is taken as UTC) is inside."""
        utc = when.astimezone(UTC) if when.tzinfo is not None else when
        minute = utc.hour * 60 + utc.minute
        if self.crosses_midnight:
            return minute >= self.start_min or minute < self.end_min
        return self.start_min <= minute < self.end_min

    def seconds_left(self, when: datetime) -> float:
        """How long ``when`` stays inside (0 when outside)."""
        if not self.contains(when):
            return 0.0
        utc = when.astimezone(UTC) if when.tzinfo is not None else when
        now_s = utc.hour * 3600 + utc.minute * 60 + utc.second + utc.microsecond / 1e6
        end_s = self.end_min * 60
        return (end_s - now_s) % (_DAY * 60) or float(_DAY * 60)   # 00:00-24:00

    def text(self) -> str:
        return f"{_hhmm(self.start_min)}-{_hhmm(self.end_min)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
