"""Exports for billing: CSV, CMEP (MEPMD01) and JSON lines, each written atomically.

Input rows come from :meth:`Store.readings`: (meter, obis, time, value, unit, status, hhu,
upload_id, received_at). Values stay the decimal text the meter sent.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path

from hhu_sync.fsutil import DAEMON_DIR_MODE, atomic_open, ensure_dir

FORMATS = ("csv", "cmep", "jsonl")
COLUMNS = ("meter", "obis", "time", "value", "unit", "status", "hhu", "upload_id",
           "received_at")
CMEP_RECORD_VERSION = "19970819"
# Register reads only: the CMEP unit with the REG suffix marks a register (not interval) read.
CMEP_UNITS = {"kwh": "KWHREG", "kw": "KWREG", "kvarh": "KVARHREG", "kvar": "KVARREG",
              "kvah": "KVAHREG", "kva": "KVAREG", "wh": "WHREG"}


def _cmep_time(iso: str) -> str:
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return ""
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y%m%d%H%M")


def _cmep_value(value: str) -> str:
    """``001846.0`` → ``1846.0``: the meter's digits, without padding."""
    sign = "-" if value.startswith("-") else ""
    digits = value.lstrip("+-").lstrip("0")
    if not digits or digits.startswith("."):
        digits = "0" + digits
    return sign + digits


def write_csv(rows: Iterable[tuple], path: str | os.PathLike[str]) -> int:
    count = 0
    with atomic_open(path) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def write_jsonl(rows: Iterable[tuple], path: str | os.PathLike[str]) -> int:
    count = 0
    with atomic_open(path) as fh:
        for row in rows:
            fh.write(json.dumps(dict(zip(COLUMNS, row, strict=True))) + "\n")
            count += 1
    return count


def write_cmep(rows: Iterable[tuple], path: str | os.PathLike[str], *, sender: str,
               receiver: str = "", now: datetime | None = None) -> int:
    """One MEPMD01 record per meter and register; MeterID is ``SERIAL:OBIS``.

    Registers without a CMEP unit (error flags, counters) are left out: CSV carries them.
    Rows must be ordered by meter, obis, time (as :meth:`Store.readings` yields them).
    """
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d%H%M")
    records = 0
    # A visit's registers share one time stamp, and a route a handful of units: convert
    # each once. (An upload exported right after its commit must not hold the
    # interpreter for long while other docked HHUs are still transferring.)
    times: dict[str, str] = {}
    units_of: dict[str, str | None] = {}
    with atomic_open(path) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        for (meter, obis), group in groupby(rows, key=lambda r: (r[0], r[1])):
            kept = []
            for r in group:
                unit = units_of.get(r[4], "")
                if unit == "":
                    unit = units_of[r[4]] = CMEP_UNITS.get(r[4].lower())
                if unit is not None and r[5] == "ok":
                    kept.append(r)
            if not kept:
                continue
            units = units_of[kept[0][4]]
            triplets: list[str] = []
            for r in kept:
                when = times.get(r[2])
                if when is None:
                    when = times[r[2]] = _cmep_time(r[2])
                triplets += [when, "R0", _cmep_value(r[3])]
            writer.writerow(["MEPMD01", CMEP_RECORD_VERSION, sender, "", receiver, "", stamp,
                             f"{meter}:{obis}", "OK", "E", units, "1", "00000000",
                             str(len(kept)), *triplets])
            records += 1
    return records


def export(rows: Iterable[tuple], fmt: str, path: str | os.PathLike[str], *,
           sender: str = "depot") -> int:
    if fmt == "csv":
        return write_csv(rows, path)
    if fmt == "jsonl":
        return write_jsonl(rows, path)
    if fmt == "cmep":
        return write_cmep(rows, path, sender=sender)
    raise ValueError(f"unknown export format {fmt!r} (choose {', '.join(FORMATS)})")


def export_upload(rows: list[tuple], folder: Path, upload_id: str, *, sender: str) -> list[Path]:
    """After an ingest: ``UPLOAD.csv`` and ``UPLOAD.cmep`` in the exports folder."""
    ensure_dir(folder, DAEMON_DIR_MODE)
    csv_path, cmep_path = folder / f"{upload_id}.csv", folder / f"{upload_id}.cmep"
    write_csv(rows, csv_path)
    write_cmep(sorted(rows, key=lambda r: (r[0], r[1], r[2])), cmep_path, sender=sender)
    return [csv_path, cmep_path]
