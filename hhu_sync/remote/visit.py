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
from datetime import datetime
from typing import Any

from hhu_sync.meterio import MeterClient
from hhu_sync.meterio.interval_read import read_interval_data, since_utc
from hhu_sync.meterio.readout_rows import (
    NOT_READINGS,
    RESET_STAMP,
    meter_clock,
    meter_time,
    register_entry,
)
from hhu_sync.model.meterlist import MeterEntry


@dataclass
class MeterRead:
    """What one attempt got: the registers first, then the profile and events; a line
    that fails after the registers keeps them (the runner may still settle for them)."""

    visit: dict[str, Any]
    registers_read: bool = False
    intervals_read: bool = False
    profiles: list[Any] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    #: a program task: the visit fields its programming gave (None: not programmed yet)
    programmed: dict[str, Any] | None = None
    clock_note: str = ""       # a clock checked against the depot's, set or not


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
