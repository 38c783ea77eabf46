"""CSV and JSON-lines exports of interval data: one row per interval.

Columns: meter, channel, unit, interval end (UTC, ISO 8601 with ``Z``), interval
minutes, value (the meter's decimal, exact), status (our :class:`IntervalStatus` bits as
a number, a contract) and flags (their names, for people), quality (as in CMEP: empty,
``E``, ``N``, ``R``). Every time is UTC and says so.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO

from hhu_sync.export.cells import neutralise_formula, safe_cell
from hhu_sync.export.cmep_intervals import (
    QUALITY_ESTIMATED,
    QUALITY_NO_VALUE,
    QUALITY_RAW,
    QUALITY_VALID,
    SUSPECT,
    ProfileExport,
)
from hhu_sync.profile.flags import IntervalStatus

INTERVAL_COLUMNS = ("meter", "channel", "unit", "interval_end_utc", "interval_minutes",
                    "value", "status", "flags", "quality")


def flag_names(status: int) -> str:
    """``power_fail|clock_set``: the bits' names, lower case, in bit order."""
    return "|".join((flag.name or "").lower() for flag in IntervalStatus
                    if status & flag)


def interval_rows(items: Iterable[ProfileExport]) -> Iterator[tuple[str, ...]]:
    for item in items:
        one = item.series
        minutes = str(one.interval_s // 60)
        meter, channel, unit = item.meter, one.channel.code, one.channel.unit
        for end, mantissa, status in one.intervals():
            when = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if mantissa is None or status & IntervalStatus.MISSING:
                value, quality = "", QUALITY_NO_VALUE
            else:
                value = format(one.value(mantissa), "f")
                quality = (QUALITY_ESTIMATED if status & IntervalStatus.ESTIMATED
                           else QUALITY_RAW if status & SUSPECT or end in item.flagged
                           else QUALITY_VALID)
            yield (meter, channel, unit, when, minutes, value, str(status),
                   flag_names(status), quality)


def write_interval_csv(items: Iterable[ProfileExport], fh: IO[str]) -> int:
    out = csv.writer(fh, lineterminator="\n")
    out.writerow(INTERVAL_COLUMNS)
    count = 0
    for row in interval_rows(items):
        out.writerow([safe_cell(cell) for cell in row])
        count += 1
    return count


def write_interval_jsonl(items: Iterable[ProfileExport], fh: IO[str]) -> int:
    count = 0
    for row in interval_rows(items):
        record = dict(zip(INTERVAL_COLUMNS, row, strict=True))
        record["meter"] = neutralise_formula(record["meter"])
        fh.write(json.dumps(record, ensure_ascii=True) + "\n")
        count += 1
    return count
