"""Choosing an export format, and the exports written after each ingest."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from itertools import islice
from operator import itemgetter, le
from pathlib import Path

from hhu_sync.export.cmep import write_cmep
from hhu_sync.export.cmep_intervals import ProfileExport, write_interval_records
from hhu_sync.export.csv import write_csv
from hhu_sync.export.interval_rows import write_interval_csv
from hhu_sync.export.jsonl import write_jsonl
from hhu_sync.export.rows import ExportRow, as_row
from hhu_sync.fsutil import DAEMON_DIR_MODE, atomic_open, ensure_dir
from hhu_sync.ids import check_name
from hhu_sync.profile.held import IntervalLike, series_from_held
from hhu_sync.profile.series import ChannelSeries

FORMATS = ("csv", "cmep", "jsonl")
_KEY = itemgetter(0, 1, 2)        # an export row's meter, obis, time


def export(rows: Iterable[tuple], fmt: str, path: str | os.PathLike[str], *,
           sender: str = "depot") -> int:
    if fmt == "csv":
        return write_csv(rows, path)
    if fmt == "jsonl":
        return write_jsonl(rows, path)
    if fmt == "cmep":
        return write_cmep(rows, path, sender=sender)
    raise ValueError(f"unknown export format {fmt!r} (choose {', '.join(FORMATS)})")


def export_upload(rows: Iterable[tuple], folder: Path, upload_id: str, *,
                  sender: str) -> list[Path]:
    """After an ingest: ``UPLOAD.csv`` and ``UPLOAD.cmep`` in the exports folder.

    ``rows`` are the upload's readings as the store exports them (with their status
    decided against the meter list), not as the handheld sent them.
    """
    check_name(upload_id, "upload id")          # a file name: never a path
    ensure_dir(folder, DAEMON_DIR_MODE)
    ordered = _in_key_order(rows)
    csv_path, cmep_path = folder / f"{upload_id}.csv", folder / f"{upload_id}.cmep"
    write_csv(ordered, csv_path)
    write_cmep(ordered, cmep_path, sender=sender)
    return [csv_path, cmep_path]


def _in_key_order(rows: Iterable[tuple]) -> list[ExportRow]:
    """``sorted(map(as_row, rows), key=_KEY)``, without the sort when the rows are export
    rows already in that order (the store's upload rows are: its key is meter, obis,
    time). Each row at most the next as a whole tuple means each key at most the next
    one, and then the stable sort would change nothing."""
    given = rows if type(rows) is list else list(rows)
    if all(type(r) is ExportRow for r in given):
        try:
            if all(map(le, given, islice(given, 1, None))):
                return list(given)
        except TypeError:               # a field that is no text: sorted by the key alone
            pass
        return sorted(given, key=_KEY)
    return sorted(map(as_row, given), key=_KEY)


def export_upload_intervals(held: Sequence[IntervalLike], findings: Iterable[tuple],
                            folder: Path, upload_id: str, *, sender: str) -> list[Path]:
    """After an ingest that stored intervals: ``UPLOAD.intervals.csv`` (one row per
    interval) and ``UPLOAD.intervals.cmep`` (MEPMD01 interval records); intervals inside
    a VEE finding's range are written as raw (``R``), not as validated. None without
    intervals."""
    by_meter: dict[str, list[IntervalLike]] = {}
    for row in held:
        by_meter.setdefault(row.meter, []).append(row)
    return export_upload_series([(meter, one) for meter, rows in sorted(by_meter.items())
                                 for one in series_from_held(rows)],
                                findings, folder, upload_id, sender=sender)


def export_upload_series(series: Sequence[tuple[str, ChannelSeries]],
                         findings: Iterable[tuple], folder: Path, upload_id: str, *,
                         sender: str) -> list[Path]:
    """:func:`export_upload_intervals` of ``(meter, series)`` in meter order, as the
    export worker reads them (a meter at a time: never a row object an interval)."""
    check_name(upload_id, "upload id")
    if not series:
        return []
    ensure_dir(folder, DAEMON_DIR_MODE)
    flagged: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for meter, channel, _code, first, last in findings:
        flagged.setdefault((meter, channel), []).append((first, last))
    items = []
    for meter, one in series:
        spans = flagged.get((meter, one.channel.code), []) + flagged.get((meter, ""), [])
        marked = {end for end, _, _ in one.intervals()
                  if any(first <= end <= last for first, last in spans)} if spans else ()
        items.append(ProfileExport(meter, one, frozenset(marked)))
    csv_path = folder / f"{upload_id}.intervals.csv"
    cmep_path = folder / f"{upload_id}.intervals.cmep"
    with atomic_open(csv_path) as fh:
        write_interval_csv(items, fh)
    with atomic_open(cmep_path) as fh:
        write_interval_records(items, fh, sender=sender)
    return [csv_path, cmep_path]
