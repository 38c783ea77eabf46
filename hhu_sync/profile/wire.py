"""Profiles and events as readings upload versions 2 and 3 carry them
(docs/upload-format.md).

Pure and bounded: :func:`encode_profile` and :func:`encode_event` give the msgpack-ready
arrays an HHU writes; :func:`decode_profiles` and :func:`decode_events` check a decoded
payload's arrays and refuse, with :class:`WireError` naming the field, anything of the
wrong shape or beyond a bound, before it is allocated for.

Values travel delta-coded: each interval's mantissa minus the previous value's in the
run (the first against 0). Consecutive intervals of a load differ little, so most deltas
are msgpack fixints (one byte) or int16, and the repeats compress well on the link.
Version 3 writes the same deltas as one binary field a run, in byte planes
(:mod:`hhu_sync.profile.planes`): a sixth fewer bytes on the link under zlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from typing import Any, cast

from hhu_sync.profile.events import EventKind, MeterEvent
from hhu_sync.profile.flags import METER_BITS
from hhu_sync.profile.planes import CodingError, decode_values, encode_values
from hhu_sync.profile.series import (
    INTERVAL_SECONDS,
    MAX_CHANNELS,
    MAX_INTERVALS_PER_READ,
    Channel,
    ChannelSeries,
    Run,
)
from hhu_sync.transfer.shape import MAX_ITEMS

#: Bounds on every count of a visit's profiles and events (a refusal names the field).
MAX_RUNS = 10_000                 # per channel: a run restarts at each clock set or outage
MAX_EVENTS = 10_000               # per visit
MAX_EVENT_DATA = 16               # items of one event's data
MAX_CODE_TEXT = 32                # channel code
MAX_UNIT_TEXT = 16
MAX_DATA_TEXT = 64                # a data item's key or value
MAX_EXPONENT = 9                  # |exponent|
MAX_MANTISSA = 10**15 - 1         # |mantissa|: exact in a double and in SQLite's integer
#: Interval ends and event times: UTC seconds from 2000-01-01 to 2100-01-01.
MIN_TIME, MAX_TIME = 946_684_800, 4_102_444_800
_KINDS = {kind.value: kind for kind in EventKind}


class WireError(ValueError):
    """A profile or event array of the wrong shape or beyond a bound; names the field."""


def encode_profile(series: ChannelSeries, version: int = 2) -> list[Any]:
    """``[code, unit, interval_s, exponent, [run, ...]]`` with each run
    ``[first_end, deltas, status]``: status as pairs ``index, bits`` of the intervals
    whose status is not 0 (most are), flat, in ascending index order. ``deltas`` is an
    array in version 2, the binary field of :mod:`hhu_sync.profile.planes` in 3."""
    runs: list[list[Any]] = []
    for run in _within_bounds(series.runs, series.interval_s, version):
        status = [x for i, s in enumerate(run.status) if s for x in (i, s)]
        deltas = encode_values(run.values) if version >= 3 else _deltas(run.values)
        runs.append([run.first_end, deltas, status])
    return [series.channel.code, series.channel.unit, series.interval_s, series.exponent,
            runs]


def _deltas(values: Sequence[int | None]) -> list[int | None]:
    """Version 2's array: each value minus the previous value (the first against 0)."""
    deltas: list[int | None] = []
    previous = 0
    for value in values:
        if value is None:
            deltas.append(None)
        else:
            deltas.append(value - previous)
            previous = value
    return deltas


def _within_bounds(runs: Sequence[Run], step: int, version: int) -> list[Run]:
    """The runs, each cut into consecutive runs where one of its arrays would hold more
    than the transfer format's ``MAX_ITEMS`` (a depot refuses such an array, so the
    upload would stay on the HHU at every docking): version 2's deltas, and the status
    pairs of either version (a meter flagging every interval for months)."""
    most_flagged = MAX_ITEMS // 2
    out: list[Run] = []
    for run in runs:
        n = len(run.values)
        flagged = n - run.status.count(0)
        if flagged <= most_flagged and (version >= 3 or n <= MAX_ITEMS):
            out.append(run)             # the usual case, decided at C speed
            continue
        start, count = 0, 0
        for i, bits in enumerate(run.status):
            if (version < 3 and i - start == MAX_ITEMS) or (bits and count == most_flagged):
                out.append(Run(run.first_end + start * step, run.values[start:i],
                               run.status[start:i]))
                start, count = i, 0
            count += 1 if bits else 0
        out.append(Run(run.first_end + start * step, run.values[start:], run.status[start:]))
    return out


def encode_event(event: MeterEvent) -> list[Any]:
    """``[at, kind, code, [[key, value], ...]]``."""
    return [event.at, event.kind.value, event.code, [list(item) for item in event.data]]


def _is_list(value: object) -> bool:
    return type(value) is list or type(value) is tuple


def _int(value: object, where: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise WireError(f"{where}: expected an integer from {low} to {high}, found "
                        f"{_shown(value)}")
    return value


def _str(value: object, where: str, limit: int) -> str:
    if type(value) is not str or len(value) > limit:
        raise WireError(f"{where}: expected text of at most {limit} characters, found "
                        f"{_shown(value)}")
    return value


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{type(value).__name__} {text[:32]}…"


def decode_profiles(raw: object, where: str, version: int = 2,
                    room: int | None = None) -> list[ChannelSeries]:
    """A visit's ``profiles`` array, checked whole: at most :data:`MAX_CHANNELS`
    channels, each with at most :data:`MAX_RUNS` runs and :data:`MAX_INTERVALS_PER_READ`
    intervals in all, runs in time order and not overlapping. ``version``: the upload's
    (3: each run's ``deltas`` a binary field, :mod:`hhu_sync.profile.planes`). ``room``:
    the intervals the upload may still hold; a version-3 run past it is refused before
    its values are made (a field of a few bytes may count a million equal values)."""
    left = [MAX_CHANNELS * MAX_INTERVALS_PER_READ if room is None else room]
    if not _is_list(raw):
        raise WireError(f"{where}: expected an array of profiles")
    assert isinstance(raw, list | tuple)
    if len(raw) > MAX_CHANNELS:
        raise WireError(f"{where}: {len(raw)} channels, more than {MAX_CHANNELS}")
    out: list[ChannelSeries] = []
    seen: set[str] = set()
    for c, profile in enumerate(raw):
        at = f"{where}[{c}]"
        if not _is_list(profile) or len(profile) != 5:
            raise WireError(f"{at}: expected [code, unit, interval_s, exponent, runs]")
        code = _str(profile[0], f"{at}.code", MAX_CODE_TEXT)
        if not code:
            raise WireError(f"{at}.code: empty")
        if code in seen:
            raise WireError(f"{at}.code: channel {code!r} given twice")
        seen.add(code)
        unit = _str(profile[1], f"{at}.unit", MAX_UNIT_TEXT)
        step = profile[2]
        if type(step) is not int or step not in INTERVAL_SECONDS:
            raise WireError(f"{at}.interval_s: {_shown(step)} is not one of "
                            f"{', '.join(map(str, sorted(INTERVAL_SECONDS)))}")
        exponent = _int(profile[3], f"{at}.exponent", -MAX_EXPONENT, MAX_EXPONENT)
        out.append(ChannelSeries(Channel(code, unit), step, exponent,
                                 _runs(profile[4], f"{at}.runs", step, version, left)))
    return out


def _runs(raw: object, where: str, step: int, version: int,
          left: list[int]) -> tuple[Run, ...]:
    if not _is_list(raw):
        raise WireError(f"{where}: expected an array of runs")
    assert isinstance(raw, list | tuple)
    if len(raw) > MAX_RUNS:
        raise WireError(f"{where}: {len(raw)} runs, more than {MAX_RUNS}")
    runs: list[Run] = []
    total = 0
    last_end = MIN_TIME - 1
    for r, run in enumerate(raw):
        at = f"{where}[{r}]"
        if not _is_list(run) or len(run) != 3:
            raise WireError(f"{at}: expected [first_end, deltas, status]")
        first = _int(run[0], f"{at}.first_end", MIN_TIME, MAX_TIME)
        if first <= last_end:
            raise WireError(f"{at}.first_end: {first} is not after the previous run's last "
                            f"interval end {last_end}")
        deltas = run[1]
        values: tuple[int | None, ...] | None = None
        if version >= 3:
            # the room the run's time leaves too, before a few bytes make a million values
            room = min(MAX_INTERVALS_PER_READ - total, left[0])
            timed = (MAX_TIME - first) // step + 1
            values = _binary_values(deltas, f"{at}.deltas", min(room, timed),
                                    f"here (it ends by {MAX_TIME})" if timed < room
                                    else "here")
            left[0] -= len(values)
            deltas = values
        elif not _is_list(deltas):
            raise WireError(f"{at}.deltas: expected an array")
        n = len(deltas)
        total += n
        if not n or total > MAX_INTERVALS_PER_READ:
            raise WireError(f"{at}.deltas: {n} intervals: a run holds from 1 to "
                            f"{MAX_INTERVALS_PER_READ} in its channel's total")
        last_end = first + (n - 1) * step
        if last_end > MAX_TIME:
            raise WireError(f"{at}.deltas: the run ends at {last_end}, after {MAX_TIME}")
        if values is None:
            values = _values(deltas, f"{at}.deltas")
        runs.append(Run(first, values, _status(run[2], n, f"{at}.status")))
    return tuple(runs)


def _binary_values(raw: object, where: str, room: int,
                   bound: str = "here") -> tuple[int | None, ...]:
    """Version 3: a run's mantissas from its binary field, at most ``room`` of them
    (``bound``: what the bound is, for the message)."""
    if type(raw) is not bytes:
        raise WireError(f"{where}: expected binary (msgpack bin), found {_shown(raw)}")
    if not room:
        raise WireError(f"{where}: no room for another interval (a channel holds at most "
                        f"{MAX_INTERVALS_PER_READ}, and the upload has its own bound)")
    try:
        return decode_values(raw, room, MAX_MANTISSA, bound)
    except CodingError as exc:
        raise WireError(f"{where}: {exc}") from None


def _values(deltas: Sequence[object], where: str) -> tuple[int | None, ...]:
    """The mantissas from their deltas; every one an integer (or nil) within bounds."""
    if None not in deltas:
        if not all(type(d) is int for d in deltas):
            bad = next(i for i, d in enumerate(deltas) if type(d) is not int)
            raise WireError(f"{where}[{bad}]: expected an integer or nil, found "
                            f"{_shown(deltas[bad])}")
        values = tuple(accumulate(cast("Sequence[int]", deltas)))
        if max(values) > MAX_MANTISSA or min(values) < -MAX_MANTISSA:
            bad = next(i for i, v in enumerate(values) if abs(v) > MAX_MANTISSA)
            raise WireError(f"{where}[{bad}]: the value is beyond ±{MAX_MANTISSA}")
        return values
    out: list[int | None] = []
    previous = 0
    for i, d in enumerate(deltas):
        if d is None:
            out.append(None)
            continue
        if type(d) is not int:
            raise WireError(f"{where}[{i}]: expected an integer or nil, found {_shown(d)}")
        previous += d
        if abs(previous) > MAX_MANTISSA:
            raise WireError(f"{where}[{i}]: the value is beyond ±{MAX_MANTISSA}")
        out.append(previous)
    return tuple(out)


def _status(raw: object, n: int, where: str) -> tuple[int, ...]:
    """Per-interval status from its ``index, bits`` pairs (ascending, meter bits only)."""
    if not _is_list(raw) or len(raw) % 2:  # type: ignore[arg-type]
        raise WireError(f"{where}: expected an array of index, bits pairs")
    assert isinstance(raw, list | tuple)
    if len(raw) > 2 * n:
        raise WireError(f"{where}: {len(raw) // 2} pairs for {n} intervals")
    status = [0] * n
    previous = -1
    for k in range(0, len(raw), 2):
        index = _int(raw[k], f"{where}[{k}]", previous + 1, n - 1)
        bits = _int(raw[k + 1], f"{where}[{k + 1}]", 1, int(METER_BITS))
        status[index] = bits
        previous = index
    return tuple(status)


def decode_events(raw: object, where: str) -> list[MeterEvent]:
    """A visit's ``events`` array, checked whole (at most :data:`MAX_EVENTS`). A kind
    this depot does not know (a newer HHU's) is kept as ``other`` with its name in the
    data, never dropped."""
    if not _is_list(raw):
        raise WireError(f"{where}: expected an array of events")
    assert isinstance(raw, list | tuple)
    if len(raw) > MAX_EVENTS:
        raise WireError(f"{where}: {len(raw)} events, more than {MAX_EVENTS}")
    out: list[MeterEvent] = []
    for e, event in enumerate(raw):
        at = f"{where}[{e}]"
        if not _is_list(event) or len(event) != 4:
            raise WireError(f"{at}: expected [at, kind, code, data]")
        when = _int(event[0], f"{at}.at", MIN_TIME, MAX_TIME)
        name = _str(event[1], f"{at}.kind", MAX_DATA_TEXT)
        code = _int(event[2], f"{at}.code", 0, 0xFFFF_FFFF)
        data = event[3]
        if not _is_list(data) or len(data) > MAX_EVENT_DATA:
            raise WireError(f"{at}.data: expected an array of at most {MAX_EVENT_DATA} "
                            "[key, value] pairs")
        items: list[tuple[str, str]] = []
        for d, item in enumerate(data):
            if not _is_list(item) or len(item) != 2:
                raise WireError(f"{at}.data[{d}]: expected [key, value]")
            items.append((_str(item[0], f"{at}.data[{d}].key", MAX_DATA_TEXT),
                          _str(item[1], f"{at}.data[{d}].value", MAX_DATA_TEXT)))
        kind = _KINDS.get(name)
        if kind is None:
            if len(items) == MAX_EVENT_DATA:
                raise WireError(f"{at}.kind: {name!r} is not a kind this depot knows, and "
                                "its data has no room to keep the name")
            kind, items = EventKind.OTHER, [("kind", name), *items]
        out.append(MeterEvent(when, kind, code, tuple(items)))
    return out
