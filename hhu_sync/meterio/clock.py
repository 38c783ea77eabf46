"""A meter's clock: read it from 0.9.1 (time) and 0.9.2 (date), and set it with W1.

Meters write the date as ``YY-MM-DD``, ``YYMMDD`` or ``0YYMMDD`` (a leading day-of-week
or spare digit) and the time as ``hh:mm:ss`` or ``hhmmss``; every form is read, and a
value that is none of them is an error naming the register, never a guess.
"""

from __future__ import annotations

import re
from datetime import datetime

from hhu_sync.meterio.client import MeterIOError

TIME = "0.9.1"
DATE = "0.9.2"
TOLERANCE_S = 2.0      # after setting: read back within this of the time written

_DATE = re.compile(r"^(?:\d?(\d{2})(\d{2})(\d{2})|(\d{2}|\d{4})-(\d{2})-(\d{2}))$")
_TIME = re.compile(r"^(\d{2}):?(\d{2}):?(\d{2})$")


class ClockError(MeterIOError):
    """The meter's clock registers hold something that is not a date or a time."""


def parse_clock(date_text: str, time_text: str) -> datetime:
    """The meter's local time from its 0.9.2 and 0.9.1 values."""
    d = _DATE.match(date_text.strip())
    t = _TIME.match(time_text.strip())
    if d is None:
        raise ClockError(f"{DATE}: {date_text!r} is not a date (YY-MM-DD or YYMMDD)")
    if t is None:
        raise ClockError(f"{TIME}: {time_text!r} is not a time (hh:mm:ss or hhmmss)")
    year, month, day = (d[1], d[2], d[3]) if d[1] else (d[4], d[5], d[6])
    year_n = int(year) + (2000 if len(year) == 2 else 0)
    try:
        return datetime(year_n, int(month), int(day), int(t[1]), int(t[2]), int(t[3]))
    except ValueError as exc:
        raise ClockError(f"{DATE}/{TIME}: {date_text!r} {time_text!r}: {exc}") from None


def clock_writes(when: datetime) -> list[tuple[str, str]]:
    """The W1 writes that set the clock to ``when``: the time first, then the date, so
    the result is ``when`` whatever day the meter thought it was."""
    return [(TIME, when.strftime("%H:%M:%S")), (DATE, when.strftime("%y-%m-%d"))]
