"""CMEP MEPMD01 interval records: one meter channel's load profile, times in UTC.

One record per meter and channel run of at most :data:`MAX_TRIPLETS` intervals (and
:data:`MAX_LINE` characters); MeterID is ``SERIAL:CHANNEL`` as in the register records.
Each triplet is (UTC interval end ``CCYYMMDDHHMM``, quality, value); every time is
written, not left to follow from the interval, so a reader that ignores that rule still
reads the right time. Quality: empty for a valid interval, ``E`` estimated, ``N`` no value
(the value empty), ``R`` raw: the meter flagged it or validation found something, so it
is delivered but not as validated.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from hhu_sync.export.cells import safe_cell
from hhu_sync.export.cmep import CMEP_RECORD_VERSION, MAX_LINE, MAX_TRIPLETS
from hhu_sync.profile.flags import IntervalStatus
from hhu_sync.profile.series import ChannelSeries

INTERVAL_UNITS = {"kwh": "KWH", "kvarh": "KVARH", "kvah": "KVAH", "kw": "KW",
                  "kvar": "KVAR", "kva": "KVA"}
QUALITY_VALID, QUALITY_ESTIMATED, QUALITY_NO_VALUE, QUALITY_RAW = "", "E", "N", "R"
#: Meter flags that make an interval raw (a DST change or a power recovery alone does
#: not make its value doubtful).
SUSPECT = (IntervalStatus.POWER_FAIL | IntervalStatus.CLOCK_SET | IntervalStatus.DEVICE_RESET
           | IntervalStatus.DISTURBED | IntervalStatus.CLOCK_INVALID
           | IntervalStatus.FATAL_ERROR | IntervalStatus.SHORT | IntervalStatus.LONG
           | IntervalStatus.OVERFLOW | IntervalStatus.CT_RATIO_CHANGE
           | IntervalStatus.REVERSE_RUN | IntervalStatus.PHASE_FAILURE)


def interval_code(seconds: int) -> str:
    """CMEP's interval field, MMDDHHMM: 30 minutes is ``00000030``, an hour ``00000100``."""
    minutes = seconds // 60
    return f"0000{minutes // 60:02d}{minutes % 60:02d}"


def cmep_minute(end: int) -> str:
    return datetime.fromtimestamp(end, UTC).strftime("%Y%m%d%H%M")


@dataclass(frozen=True, slots=True)
class ProfileExport:
    """One meter channel to export; ``flagged``: interval ends validation found something
    in (written as raw)."""

    meter: str
    series: ChannelSeries
    flagged: Collection[int] = ()
    constant: str = "1"


def triplets(item: ProfileExport) -> list[tuple[str, str, str]]:
    one = item.series
    out = []
    for end, mantissa, status in one.intervals():
        if mantissa is None or status & IntervalStatus.MISSING:
            out.append((cmep_minute(end), QUALITY_NO_VALUE, ""))
            continue
        if status & IntervalStatus.ESTIMATED:
            quality = QUALITY_ESTIMATED
        elif status & SUSPECT or end in item.flagged:
            quality = QUALITY_RAW
        else:
            quality = QUALITY_VALID
        out.append((cmep_minute(end), quality, format(one.value(mantissa), "f")))
    return out


def records(item: ProfileExport, *, sender: str, receiver: str,
            stamp: str) -> list[list[str]]:
    """The records (lists of fields) of one channel: none for a unit CMEP lacks."""
    units = INTERVAL_UNITS.get(item.series.channel.unit.lower())
    if units is None:
        return []
    head = ["MEPMD01", CMEP_RECORD_VERSION, safe_cell(sender), "", safe_cell(receiver), "",
            stamp, safe_cell(f"{item.meter}:{item.series.channel.code}"), "OK", "E", units,
            item.constant, interval_code(item.series.interval_s)]
    budget = MAX_LINE - sum(2 * len(f) + 3 for f in head) - len(f",{MAX_TRIPLETS}")
    out: list[list[str]] = []
    batch: list[tuple[str, str, str]] = []
    used = 0
    for triplet in triplets(item):
        size = sum(len(f) + 1 for f in triplet)
        if batch and (len(batch) == MAX_TRIPLETS or used + size > budget):
            out.append([*head, str(len(batch)), *(f for t in batch for f in t)])
            batch, used = [], 0
        batch.append(triplet)
        used += size
    if batch:
        out.append([*head, str(len(batch)), *(f for t in batch for f in t)])
    return out


def write_interval_records(items: Iterable[ProfileExport], fh: IO[str], *, sender: str,
                           receiver: str = "", now: datetime | None = None) -> int:
    """Write every item's records to ``fh``; how many records."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d%H%M")
    out = csv.writer(fh, lineterminator="\n")
    count = 0
    for item in items:
        for record in records(item, sender=sender, receiver=receiver, stamp=stamp):
            out.writerow(record)
            count += 1
    return count
