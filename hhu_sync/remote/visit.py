"""One remote meter read into a visit of the shape a field trip's upload carries.

The same fields as an HHU's visit (docs/upload-format.md, version 2): registers as
``[obis, value, unit, time]`` (then value_time, reset_time), ``meter_clock``, the error
flags, and the load profile and events as :class:`ChannelSeries` / :class:`MeterEvent`
(encoded by the runner). The readings are the depot's own, so they go through the same
checks and the same ingest as a handheld's.

Meter clocks are taken as UTC, as a field trip takes them: a list entry names no zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hhu_sync.meterio import MeterClient
from hhu_sync.meterio.clock import DATE as CLOCK_DATE
from hhu_sync.meterio.clock import TIME as CLOCK_TIME
from hhu_sync.meterio.clock import ClockError, parse_clock
from hhu_sync.meterio.interval_read import read_interval_data, since_utc
from hhu_sync.model.meterlist import MeterEntry

#: Readout items that identify the meter or show its clock, not billing registers.
NOT_READINGS = frozenset({"0.0.0", "C.1.0", "0.9.1", "0.9.2"})
RESET_STAMP = "0.1.2"      # 0.1.2*k: when billing period k was closed (not a reading)


@dataclass
class MeterRead:
    """What one attempt got: the registers first, then the profile and events; a line
    that fails after the registers keeps them (the runner may still settle for them)."""

    visit: dict[str, Any]
    registers_read: bool = False
    intervals_read: bool = False
    profiles: list[Any] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)


def meter_time(text: str | None) -> str:
    """A meter's ``YYMMDDhhmm`` stamp as ISO 8601 UTC; ``""`` for none or junk."""
    try:
        when = datetime.strptime(text or "", "%y%m%d%H%M")
    except ValueError:
        return ""
    return when.replace(tzinfo=UTC).isoformat()


def meter_clock(datasets: Any) -> str | None:
    """The meter's clock as its readout showed it (0.9.2 date, 0.9.1 time), ISO UTC."""
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
    """``[obis, value, unit, read time]``, then ``value_time, reset_time`` when known."""
    reset = resets.get(key.partition("*")[2], "") if "*" in key else ""
    value_time = (meter_time(own) if own else "") or reset
    return [key, value, unit, stamp, value_time, reset] if value_time or reset \
        else [key, value, unit, stamp]


def new_visit(entry: MeterEntry, list_id: str, when: datetime) -> dict[str, Any]:
    return {"meter": entry.serial, "list": list_id, "time": when.isoformat(timespec="seconds"),
            "outcome": "done", "registers": [], "error_flags": None, "scheme": None,
            "verify": None, "operator": "remote", "notes": ""}


def read_meter(client: MeterClient, entry: MeterEntry, read: MeterRead, *,
               sign_on: str, password: str | None, since: str | None) -> None:
    """Fill ``read`` from the meter: its readout, then (when the entry asks and a
    ``password`` opens it) profile and events since ``since``. Raises what the driver or
    the line raises; what was read before stays in ``read``."""
    visit = read.visit
    result = client.readout(sign_on)
    datasets = result.readout.datasets
    resets = {ds.key.partition("*")[2]: meter_time(ds.value) for ds in datasets
              if ds.key.startswith(RESET_STAMP + "*")}
    clock = meter_clock(datasets)
    if clock is not None:
        visit["meter_clock"] = clock
    registers = []
    for ds in datasets:
        if ds.key in NOT_READINGS or ds.key.startswith(RESET_STAMP + "*"):
            continue
        if ds.key == "F.F":
            visit["error_flags"] = ds.value
        registers.append(register_entry(ds.key, ds.value, ds.unit or "", visit["time"],
                                        ds.timestamp, resets))
    visit["registers"] = registers
    read.registers_read = True
    if not (entry.profile or entry.events) or password is None:
        read.intervals_read = True
        return
    with client.programming(sign_on, password) as session:
        got = read_interval_data(session, since=since_utc(since, None),
                                 profile=entry.profile, events=entry.events)
    read.profiles, read.events = list(got.series), list(got.events)
    read.intervals_read = True
