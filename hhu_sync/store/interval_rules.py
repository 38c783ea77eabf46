"""Interval and event ingest rules, above every backend (SQLite now, PostgreSQL next).

A backend inserts the rows :func:`interval_rows` gives, keeping what it holds under a key
already (``ON CONFLICT DO NOTHING``); for a series where fewer rows went in than it
brought, it hands the rows it holds in the series' span to :func:`judge_overlap`, which
says which are *already held* (the same quantity: a re-read overlap) and which are
*conflicts* (another quantity: the held row stays, the value brought becomes an
exception's, so both are kept). The SQL is only inserts and range reads by key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat

from hhu_sync.ingest.status import ExceptionKind
from hhu_sync.ingest.upload import Upload
from hhu_sync.profile.series import ChannelSeries

#: Columns of an ``intervals`` row, in the order :func:`interval_rows` gives them.
INTERVAL_COLUMNS = ("meter", "channel", "interval_end", "value", "exponent", "status",
                    "unit", "interval_s", "upload_id", "visit_seq")
EVENT_COLUMNS = ("meter", "at", "kind", "code", "data", "source", "visit_seq")


@dataclass(frozen=True, slots=True)
class HeldInterval:
    """One interval as the store holds it (``value`` None: the meter recorded none)."""

    meter: str
    channel: str
    interval_end: int
    value: int | None
    exponent: int
    status: int
    unit: str
    interval_s: int
    upload_id: str
    visit_seq: int


@dataclass(frozen=True, slots=True)
class HeldEvent:
    meter: str
    at: int
    kind: str
    code: int
    data: tuple[tuple[str, str], ...]
    source: str


@dataclass(frozen=True, slots=True)
class Overlap:
    """What :func:`judge_overlap` found: the intervals held already with the same
    quantity, and an exceptions row for each that holds another."""

    already_held: int
    conflicts: list[tuple]


def series_rows(meter: str, series: ChannelSeries, upload_id: str,
                seq: int) -> Iterator[tuple]:
    """One series' ``intervals`` rows, built in C (zip of repeats and ranges): the store's
    insert costs what SQLite's own does, not a Python loop a row."""
    code, unit = series.channel.code, series.channel.unit
    step, exponent = series.interval_s, series.exponent
    for run in series.runs:
        n = len(run.values)
        yield from zip(repeat(meter, n), repeat(code), range(run.first_end,
                       run.first_end + n * step, step), run.values, repeat(exponent),
                       run.status, repeat(unit), repeat(step), repeat(upload_id),
                       repeat(seq))


def interval_rows(upload: Upload) -> Iterator[tuple[int, ChannelSeries, Iterator[tuple]]]:
    """(visit seq, series, its rows) for every profile of an upload, in upload order."""
    visits = upload.visits
    for seq, series in upload.profiles:
        yield seq, series, series_rows(visits[seq].meter, series, upload.upload_id, seq)


def series_span(series: ChannelSeries) -> tuple[int, int]:
    """The first and last interval end of a series (its runs are in time order)."""
    last = series.runs[-1]
    return series.runs[0].first_end, last.first_end + (len(last.values) - 1) * series.interval_s


def same_quantity(a: int | None, a_exp: int, b: int | None, b_exp: int) -> bool:
    """Whether two mantissas stand for one quantity (``18841``e-3 and ``1884100``e-5 do),
    exactly, in integers; two missing values are the same, a value and none are not."""
    if a is None or b is None:
        return a is None and b is None
    if a_exp > b_exp:
        return a * 10 ** (a_exp - b_exp) == b
    return b * 10 ** (b_exp - a_exp) == a


def decimal_text(value: int | None, exponent: int) -> str:
    """A mantissa as the decimal text it stands for (``""`` for none): exact, no float."""
    if value is None:
        return ""
    if exponent >= 0:
        return str(value * 10 ** exponent)
    sign, digits = ("-" if value < 0 else ""), str(abs(value)).rjust(1 - exponent, "0")
    return f"{sign}{digits[:exponent]}.{digits[exponent:]}"


def utc_text(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def judge_overlap(upload: Upload, seq: int, series: ChannelSeries,
                  held: list[HeldInterval], now: str) -> Overlap:
    """Compare the intervals a store already holds in a series' span (``held``: rows
    from other uploads or visits) with those the series brought."""
    brought = {end: value for end, value, _ in series.intervals()}
    meter = upload.visits[seq].meter
    same = 0
    conflicts: list[tuple] = []
    exponent = series.exponent
    for row in held:
        if row.interval_end not in brought:
            continue
        value = brought[row.interval_end]
        if same_quantity(row.value, row.exponent, value, exponent):
            same += 1
            continue
        conflicts.append((
            upload.upload_id, ExceptionKind.INTERVAL_CONFLICT.value, meter,
            series.channel.code, utc_text(row.interval_end), decimal_text(value, exponent),
            f"visits[{seq}].profiles {series.channel.code}: interval ending "
            f"{utc_text(row.interval_end)} held as "
            f"{decimal_text(row.value, row.exponent) or 'no value'} {row.unit} from upload "
            f"{row.upload_id}, this upload brings "
            f"{decimal_text(value, exponent) or 'no value'} {series.channel.unit}: both kept, "
            "the held value stays", now))
    return Overlap(same, conflicts)


def event_rows(upload: Upload) -> list[tuple]:
    """``events`` rows of an upload, in upload order (data as JSON pairs)."""
    visits, uid = upload.visits, upload.upload_id
    return [(visits[seq].meter, e.at, e.kind.value, e.code,
             json.dumps([list(item) for item in e.data]), uid, seq)
            for seq, e in upload.events]
