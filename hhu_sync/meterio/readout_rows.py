"""How a meter's readout becomes an upload's register rows: one rule for the HHU's field
trip and the depot's own remote reads, so both carry the same visit to the same ingest.

Meter clocks are taken as UTC (a list entry names no zone; the simulated fleet's clocks
run on UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hhu_sync.meterio.clock import DATE as CLOCK_DATE
from hhu_sync.meterio.clock import TIME as CLOCK_TIME
from hhu_sync.meterio.clock import ClockError, parse_clock

#: Readout items that identify the meter or show its clock, not billing registers.
NOT_READINGS = frozenset({"0.0.0", "C.1.0", "0.9.1", "0.9.2"})
RESET_STAMP = "0.1.2"      # 0.1.2*k: when billing period k was closed (not a reading)


def meter_time(text: str | None) -> str:
    """A meter's ``YYMMDDhhmm`` stamp as ISO 8601 UTC; ``""`` for none (``0000000000``:
    no maximum demand yet) or junk."""
    try:
        when = datetime.strptime(text or "", "%y%m%d%H%M")
    except ValueError:
        return ""
    return when.replace(tzinfo=UTC).isoformat()


def meter_clock(datasets: Any) -> str | None:
    """The meter's clock as its readout showed it (``0.9.2`` date, ``0.9.1`` time), ISO
    8601 UTC: the visit's ``meter_clock``, by which the depot finds a meter clock off at
    the visit. None when either is missing or junk."""
    found = {ds.key: ds.value for ds in datasets if ds.key in (CLOCK_DATE, CLOCK_TIME)}
    if len(found) < 2:
        return None
    try:
        local = parse_clock(found[CLOCK_DATE], found[CLOCK_TIME])
    except ClockError:
        return None
    return local.replace(tzinfo=UTC).isoformat()


def register_entry(key: str, value: str, unit: str, stamp: str, own: str | None,
                   resets: dict[str, str]) -> list[str]:
    """``[obis, value, unit, read time]``, then ``value_time, reset_time`` when known.

    value_time is the value's own time: a maximum demand's time stamp (its second group),
    or, for a historical value ``*k`` without one, the billing reset that froze it;
    reset_time is that reset, for every ``*k`` register.
    """
    reset = resets.get(key.partition("*")[2], "") if "*" in key else ""
    value_time = (meter_time(own) if own else "") or reset
    return [key, value, unit, stamp, value_time, reset] if value_time or reset \
        else [key, value, unit, stamp]
