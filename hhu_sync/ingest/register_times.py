"""A register's own times in an upload: a maximum demand's time stamp, a billing reset.

A register entry is ``[obis, value, unit, time]`` or, from handhelds that know them,
``[obis, value, unit, time, value_time, reset_time]`` (either may be ``""``); the map
form has ``value_time`` and ``reset_time`` keys. Each given time must be ISO 8601 with a
zone (a meter's local time without one could be off by hours on a bill); it is stored in
UTC, so one instant has one spelling.
"""

from __future__ import annotations

from datetime import UTC, datetime

MAX_TIME_TEXT = 40
#: Reading-row fields (see :attr:`hhu_sync.ingest.Upload.readings`).
VALUE_TIME, RESET_TIME, VISIT_SEQ = 8, 9, 10


class RegisterTimeError(ValueError):
    """A register's value_time or reset_time that is not a time with a zone."""


def timed_register_rows(registers: list | tuple, meter: str, status: str, hhu_id: str,
                        upload_id: str, seq: str) -> list[tuple]:
    """Rows for list-form registers of 4 to 6 items (the fast path takes all-4 lists)."""
    rows = []
    for r in registers:
        if type(r) not in (list, tuple) or not 4 <= len(r) <= 6:
            raise ValueError("register is not [obis, value, unit, time, ...]")
        obis, value, unit, rtime, *extra = r
        extra = [*extra, "", ""][:2]
        rows.append((meter, obis, rtime, value, unit, status, hhu_id, upload_id,
                     extra[0], extra[1], seq))
    return rows


def utc_time(text: object, where: str) -> str:
    """``text`` as ISO 8601 UTC (seconds); ``""`` stays ``""``."""
    if text == "":
        return ""
    if type(text) is not str or len(text) > MAX_TIME_TEXT:
        raise RegisterTimeError(f"{where}: expected an ISO 8601 time as text of at most "
                                f"{MAX_TIME_TEXT} characters")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise RegisterTimeError(f"{where}: {text[:MAX_TIME_TEXT]!r} is not an ISO 8601 "
                                "time") from None
    if when.tzinfo is None:
        raise RegisterTimeError(f"{where}: {text!r} has no zone (add Z or +HH:MM)")
    return when.astimezone(UTC).isoformat(timespec="seconds")


def normalise_register_times(rows: list[tuple]) -> list[tuple]:
    """Rows with their value and reset times in UTC; RegisterTimeError names the first
    bad one. Rows without either time (most of them) are passed on untouched."""
    out = rows
    for n, row in enumerate(rows):
        if row[VALUE_TIME] == "" and row[RESET_TIME] == "":
            continue
        where = f"visits[{row[VISIT_SEQ]}] register {str(row[1])[:32]!r}"
        fixed = (utc_time(row[VALUE_TIME], f"{where}: value_time"),
                 utc_time(row[RESET_TIME], f"{where}: reset_time"))
        if fixed != (row[VALUE_TIME], row[RESET_TIME]):
            if out is rows:
                out = list(rows)
            out[n] = (*row[:VALUE_TIME], *fixed, row[VISIT_SEQ])
    return out
