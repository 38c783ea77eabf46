"""VDEW / EMH load profile ``P.01`` and logbook ``P.98``: decode, encode, to UTC.

The answer to an R5/R6 read of ``P.01`` is a header line, then one value line per
interval, and a new header wherever the status (or the interval, or the channel set)
changes::

    P.01(ZST)(S)(RP)(z)(KZ1)(E1)...(KZz)(Ez)
    (v1)...(vz)

ZST is the end of the first interval that follows, as ``[s]YYMMDDhhmm[ss]`` (an odd
length carries the season digit ``s``: 0 normal, 1 summer, 2 UTC). S is the status: a
VDEW 16-bit word in 4 or 8 hex digits, or MetCom's single byte in 2. Values stay text
here; :func:`to_series` turns them into integer mantissas with a decimal exponent
(``hhu_sync.profile``) and the meter's local stamps into UTC seconds.

Why a line parser fed in pieces: the client hands over each R6 partial block as it
arrives, so memory holds one line, and the same code checks one byte at a time. Every
error is a :class:`ProfileDecodeError` naming the byte offset in the received stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from hhu_sync.iec62056.errors import LocalProtocolError, RemoteProtocolError
from hhu_sync.profile.events import EventKind, MeterEvent
from hhu_sync.profile.flags import IntervalStatus
from hhu_sync.profile.series import (
    INTERVAL_SECONDS,
    MAX_CHANNELS,
    MAX_INTERVALS_PER_READ,
    Channel,
    ChannelSeries,
    Run,
)

PROFILE = "P.01"
LOGBOOK = "P.98"
#: Longest line we accept (a header of 32 channels with long OBIS codes fits).
MAX_LINE = 2048
MAX_LOGBOOK_VALUES = 16
MAX_ENTRIES_PER_READ = 1 << 16

Dialect = Literal["vdew", "metcom"]
SEASON_NORMAL, SEASON_SUMMER, SEASON_UTC = 0, 1, 2

#: VDEW status word bit -> our interval status (profile entries).
VDEW_INTERVAL_BITS: dict[int, IntervalStatus] = {
    0x0080: IntervalStatus.POWER_FAIL,
    0x0040: IntervalStatus.POWER_RECOVERY,
    0x0020: IntervalStatus.CLOCK_SET,
    0x0010: IntervalStatus.DEVICE_RESET,
    0x0008: IntervalStatus.DST_CHANGE,
    0x0004: IntervalStatus.DISTURBED,
    0x0002: IntervalStatus.CLOCK_INVALID,
    0x0001: IntervalStatus.FATAL_ERROR,
}
#: MetCom's one status byte: bit 7 power down, 5 clock adjusted, 3 DST, 2 data not
#: valid, 1 clock invalid, 0 error.
METCOM_INTERVAL_BITS: dict[int, IntervalStatus] = {
    0x80: IntervalStatus.POWER_FAIL,
    0x20: IntervalStatus.CLOCK_SET,
    0x08: IntervalStatus.DST_CHANGE,
    0x04: IntervalStatus.DISTURBED,
    0x02: IntervalStatus.CLOCK_INVALID,
    0x01: IntervalStatus.FATAL_ERROR,
}
#: VDEW logbook status bit -> event kind, in the order events are emitted.
VDEW_EVENT_BITS: tuple[tuple[int, EventKind], ...] = (
    (0x0080, EventKind.POWER_DOWN),
    (0x0040, EventKind.POWER_UP),
    (0x0020, EventKind.CLOCK_SET),
    (0x0010, EventKind.DEVICE_RESET),
    (0x0008, EventKind.DST_CHANGE),
    (0x4000, EventKind.PROFILE_CLEARED),
    (0x2000, EventKind.LOGBOOK_CLEARED),
    (0x0200, EventKind.ERROR_BEGIN),
    (0x0400, EventKind.ERROR_END),
    (0x0100, EventKind.PARAMETER_SET),
)


class ProfileDecodeError(RemoteProtocolError):
    """The meter's profile or logbook text is malformed at ``offset``."""


def _bad(message: str, offset: int) -> ProfileDecodeError:
    return ProfileDecodeError(message, offset)


# -- time stamps ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LocalStamp:
    """A meter time stamp as sent: local wall time, the season digit if there was one,
    and whether it carried seconds (so it is written back the same way)."""

    when: datetime
    season: int | None = None
    seconds: bool = True

    def encode(self) -> str:
        text = self.when.strftime("%y%m%d%H%M" + ("%S" if self.seconds else ""))
        return text if self.season is None else f"{self.season}{text}"


def parse_stamp(text: str, offset: int = 0) -> LocalStamp:
    """``[s]YYMMDDhhmm[ss]`` (10 to 13 digits; odd lengths lead with the season)."""
    n = len(text)
    if n not in (10, 11, 12, 13) or not text.isdigit() or not text.isascii():
        raise _bad(f"time stamp {text[:16]!r} is not 10 to 13 digits", offset)
    season = None
    if n % 2:
        season = ord(text[0]) - 48
        if season > SEASON_UTC:
            raise _bad(f"season digit {text[0]!r} is not 0, 1 or 2", offset)
        text, offset = text[1:], offset + 1
    try:
        when = datetime(2000 + int(text[0:2]), int(text[2:4]), int(text[4:6]),
                        int(text[6:8]), int(text[8:10]), int(text[10:12] or 0))
    except ValueError as exc:
        raise _bad(f"time stamp {text!r}: {exc}", offset) from None
    return LocalStamp(when, season, len(text) == 12)


@dataclass(frozen=True)
class MeterClock:
    """How a meter's local stamps map to UTC.

    With a season digit the answer is exact: standard time is UTC +
    ``standard_offset_s``, summer time one hour more, season 2 is UTC. Without one the
    ``zone`` decides, and in the autumn fold the earlier reading is taken unless it
    would go back before ``after`` (the end of the interval before): the profile's own
    order resolves the repeated hour. No zone and no offset: the meter keeps UTC.
    """

    zone: ZoneInfo | None = None
    standard_offset_s: int | None = None

    @classmethod
    def of(cls, zone: str | None = None, standard_offset_s: int | None = None) -> MeterClock:
        return cls(ZoneInfo(zone) if zone else None, standard_offset_s)

    def _standard(self, when: datetime) -> int:
        if self.standard_offset_s is not None:
            return self.standard_offset_s
        if self.zone is None:
            return 0
        aware = when.replace(tzinfo=self.zone)
        off, dst = aware.utcoffset(), aware.dst()
        assert off is not None
        return int((off - (dst or timedelta(0))).total_seconds())

    def to_utc(self, stamp: LocalStamp, after: int | None = None) -> int:
        """UTC seconds of ``stamp``; ``after`` the previous instant, for the fold."""
        naive = int(stamp.when.replace(tzinfo=UTC).timestamp())
        if stamp.season == SEASON_UTC:
            return naive
        if stamp.season is not None:
            return naive - self._standard(stamp.when) - 3600 * stamp.season
        if self.zone is None:
            return naive - (self.standard_offset_s or 0)
        first = int(stamp.when.replace(tzinfo=self.zone, fold=0).timestamp())
        second = int(stamp.when.replace(tzinfo=self.zone, fold=1).timestamp())
        if first != second and after is not None and first < after <= second:
            return second
        return min(first, second)

    def local(self, utc: int, *, season: bool = True, seconds: bool = True) -> LocalStamp:
        """The stamp a meter keeping this clock writes for ``utc`` (the encoder's side)."""
        at = datetime.fromtimestamp(utc, UTC)
        if self.zone is None:
            off = self.standard_offset_s or 0
            return LocalStamp((at + timedelta(seconds=off)).replace(tzinfo=None),
                              (SEASON_NORMAL if off else SEASON_UTC) if season else None,
                              seconds)
        local = at.astimezone(self.zone)
        summer = bool(local.dst())
        return LocalStamp(local.replace(tzinfo=None),
                          (SEASON_SUMMER if summer else SEASON_NORMAL) if season else None,
                          seconds)


# -- decoded structures --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ProfileHeader:
    """One ``P.01(...)`` header. ``status`` is the raw code as sent, ``status_digits``
    how many hex digits carried it (2: the MetCom byte)."""

    start: LocalStamp
    status: int
    interval_min: int
    channels: tuple[Channel, ...]
    status_digits: int = 4
    offset: int = field(default=0, compare=False)

    def encode(self) -> str:
        chans = "".join(f"({c.code})({c.unit})" for c in self.channels)
        return (f"{PROFILE}({self.start.encode()})({self.status:0{self.status_digits}X})"
                f"({self.interval_min})({len(self.channels)}){chans}")


@dataclass(frozen=True, slots=True)
class ProfileSection:
    """A header and the intervals it covers, each a row of value texts (``""``: none)."""

    header: ProfileHeader
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One ``P.98`` entry: stamp, raw status, and the (code, value) pairs it carries."""

    stamp: LocalStamp
    status: int
    data: tuple[tuple[str, str], ...] = ()
    units: tuple[str, ...] = ()
    offset: int = field(default=0, compare=False)

    def encode(self) -> str:
        units = self.units or ("",) * len(self.data)
        codes = "".join(f"({c})({u})" for (c, _), u in zip(self.data, units, strict=True))
        values = "".join(f"({v})" for _, v in self.data)
        return (f"{LOGBOOK}({self.stamp.encode()})({self.status:08X})()({len(self.data)})"
                f"{codes}{values}")


@dataclass
class Decoded:
    """What a parser has so far: profile sections or log entries; ``empty`` when the
    meter answered ``(ERROR)`` (nothing in the range)."""

    sections: list[ProfileSection] = field(default_factory=list)
    entries: list[LogEntry] = field(default_factory=list)
    empty: bool = False
    intervals: int = 0


# -- the incremental parser ----------------------------------------------------------------------

def _groups(line: str, start: int, offset: int) -> list[str]:
    """The ``(...)(...)`` groups of ``line`` from ``start``; every byte must belong."""
    if len(line) <= start or line[start] != "(" or line[-1] != ")":
        raise _bad("expected (value) groups", offset + min(start, len(line)))
    parts = line[start + 1:-1].split(")(")
    for part in parts:
        if "(" in part or ")" in part:
            pos = line.find(part, start)
            bad = pos + min(i for i in (part.find("("), part.find(")")) if i >= 0)
            raise _bad("unbalanced parenthesis", offset + bad)
    return parts


class ProfileParser:
    """Feed the data of each answer block as it comes; :meth:`close` at the end.

    ``address`` is ``P.01`` or ``P.98``. Bounded: lines by ``max_line``, intervals by
    ``max_intervals``, log entries by ``max_entries``.
    """

    def __init__(self, address: str = PROFILE, *, max_line: int = MAX_LINE,
                 max_intervals: int = MAX_INTERVALS_PER_READ,
                 max_entries: int = MAX_ENTRIES_PER_READ) -> None:
        if address not in (PROFILE, LOGBOOK):
            raise LocalProtocolError(f"{address!r} is neither {PROFILE} nor {LOGBOOK}")
        self.address = address
        self.max_line = max_line
        self.max_intervals = max_intervals
        self.max_entries = max_entries
        self.result = Decoded()
        self._partial = ""
        self._partial_at = 0
        self._header: ProfileHeader | None = None
        self._rows: list[tuple[str, ...]] = []
        self._closed = False

    def feed(self, text: str, offset: int | None = None) -> None:
        """Hand over more answer text; ``offset`` the stream offset of ``text[0]``
        (default: right after what came before)."""
        if self._closed:
            raise LocalProtocolError("parser already closed")
        if offset is None:
            offset = self._partial_at + len(self._partial)
        if not self._partial:
            self._partial_at = offset
        buf = self._partial + text
        base = self._partial_at
        pos = 0
        while True:
            nl = buf.find("\n", pos)
            if nl < 0:
                break
            end = nl - 1 if nl > pos and buf[nl - 1] == "\r" else nl
            if end - pos > self.max_line:
                raise _bad(f"line longer than {self.max_line} characters", base + pos)
            self._line(buf[pos:end], base + pos)
            pos = nl + 1
        rest = buf[pos:]
        if len(rest) > self.max_line + 1:
            raise _bad(f"line longer than {self.max_line} characters", base + pos)
        self._partial, self._partial_at = rest, base + pos

    def close(self) -> Decoded:
        """The last line (a final CR LF is optional) and the result."""
        if not self._closed:
            tail = self._partial.rstrip("\r")
            if tail:
                self._line(tail, self._partial_at)
            self._partial = ""
            self._flush()
            self._closed = True
        return self.result

    # -- lines ---------------------------------------------------------------------------------

    def _line(self, line: str, offset: int) -> None:
        if not line:
            return
        if line in ("(ERROR)", f"{self.address}(ERROR)"):
            if self.result.sections or self.result.entries or self._header is not None:
                raise _bad("(ERROR) after data", offset)
            self.result.empty = True
            return
        if self.result.empty:
            raise _bad("data after (ERROR)", offset)
        if self.address == LOGBOOK:
            self._log_line(line, offset)
        elif line.startswith(PROFILE):
            self._flush()
            self._header = self._parse_header(line, offset)
        elif line[0] == "(":
            self._value_line(line, offset)
        else:
            raise _bad(f"line starts with {line[:8]!r}, neither {PROFILE}( nor (", offset)

    def _parse_header(self, line: str, offset: int) -> ProfileHeader:
        g = _groups(line, len(PROFILE), offset)
        if len(g) < 4:
            raise _bad(f"profile header has {len(g)} fields, fewer than 4", offset)
        at = offset + len(PROFILE) + 1
        start = parse_stamp(g[0], at)
        at += len(g[0]) + 2
        status_text = g[1]
        if len(status_text) not in (2, 4, 8) or not _is_hex(status_text):
            raise _bad(f"status {status_text!r} is not 2, 4 or 8 hex digits", at)
        at += len(status_text) + 2
        if not g[2].isdigit() or int(g[2]) * 60 not in INTERVAL_SECONDS:
            raise _bad(f"interval {g[2]!r} minutes is not one meters offer", at)
        at += len(g[2]) + 2
        if not g[3].isdigit() or not 1 <= int(g[3]) <= MAX_CHANNELS:
            raise _bad(f"channel count {g[3]!r} is not 1..{MAX_CHANNELS}", at)
        count = int(g[3])
        if len(g) != 4 + 2 * count:
            raise _bad(f"header announces {count} channels but has {(len(g) - 4) / 2:g} "
                       "code/unit pairs", offset)
        channels = tuple(Channel(g[4 + 2 * i], g[5 + 2 * i]) for i in range(count))
        return ProfileHeader(start, int(status_text, 16), int(g[2]), channels,
                             len(status_text), offset)

    def _value_line(self, line: str, offset: int) -> None:
        header = self._header
        if header is None:
            raise _bad("value line before any profile header", offset)
        if line[-1] != ")":
            raise _bad("value line does not end with ')'", offset + len(line) - 1)
        row = tuple(line[1:-1].split(")("))
        if len(row) != len(header.channels):
            raise _bad(f"{len(row)} values where the header has {len(header.channels)} "
                       "channels", offset)
        if _ROW.fullmatch(line) is None:       # one match for the line; find the culprit
            pos = 0
            for v in row:
                if v and not _is_number(v):
                    raise _bad(f"value {v[:20]!r} is not a number", offset + pos + 1)
                pos += len(v) + 2
            raise _bad("malformed value line", offset)
        self.result.intervals += 1
        if self.result.intervals > self.max_intervals:
            raise _bad(f"more than {self.max_intervals} intervals", offset)
        self._rows.append(row)

    def _flush(self) -> None:
        if self._header is not None:
            self.result.sections.append(ProfileSection(self._header, tuple(self._rows)))
        self._header, self._rows = None, []

    def _log_line(self, line: str, offset: int) -> None:
        if not line.startswith(LOGBOOK):
            raise _bad(f"logbook line starts with {line[:8]!r}, not {LOGBOOK}(", offset)
        g = _groups(line, len(LOGBOOK), offset)
        if len(g) < 4:
            raise _bad(f"logbook entry has {len(g)} fields, fewer than 4", offset)
        at = offset + len(LOGBOOK) + 1
        stamp = parse_stamp(g[0], at)
        at += len(g[0]) + 2
        if not 1 <= len(g[1]) <= 8 or not _is_hex(g[1]):
            raise _bad(f"status {g[1]!r} is not 1 to 8 hex digits", at)
        if not g[3].isdigit() or int(g[3]) > MAX_LOGBOOK_VALUES:
            raise _bad(f"value count {g[3]!r} is not 0..{MAX_LOGBOOK_VALUES}", offset)
        k = int(g[3])
        if len(g) != 4 + 3 * k:
            raise _bad(f"entry announces {k} values but has {len(g) - 4} more fields "
                       f"(expected {3 * k})", offset)
        codes = tuple(g[4 + 2 * i] for i in range(k))
        units = tuple(g[5 + 2 * i] for i in range(k))
        values = tuple(g[4 + 2 * k + i] for i in range(k))
        if len(self.result.entries) >= self.max_entries:
            raise _bad(f"more than {self.max_entries} logbook entries", offset)
        self.result.entries.append(LogEntry(stamp, int(g[1], 16),
                                            tuple(zip(codes, values, strict=True)),
                                            units if any(units) else (), offset))


_HEX = frozenset("0123456789ABCDEFabcdef")
_NUM_RE = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_NUMBER = re.compile(_NUM_RE)
_ROW = re.compile(rf"(?:\((?:{_NUM_RE})?\))+")


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in _HEX for c in text)


def _is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None


def decode(text: str, address: str = PROFILE, offset: int = 0) -> Decoded:
    """Decode a whole answer at once."""
    parser = ProfileParser(address)
    parser.feed(text, offset)
    return parser.close()


# -- to the dialect-independent types ------------------------------------------------------------

def interval_status(raw: int, dialect: Dialect) -> IntervalStatus:
    """Our status bits for a raw VDEW word or MetCom byte (unknown bits dropped; the raw
    code stays in the section header)."""
    table = METCOM_INTERVAL_BITS if dialect == "metcom" else VDEW_INTERVAL_BITS
    out = IntervalStatus(0)
    for bit, flag in table.items():
        if raw & bit:
            out |= flag
    return out


def dialect_of(header: ProfileHeader) -> Dialect:
    """Two hex digits of status: MetCom's byte; four or eight: the VDEW word."""
    return "metcom" if header.status_digits == 2 else "vdew"


def _decimals(text: str) -> int:
    dot = text.find(".")
    return 0 if dot < 0 else len(text) - dot - 1


def _column(texts: list[str]) -> tuple[Sequence[int | None], int]:
    """Mantissas of one run of a channel's value texts and their decimal places (the
    finest among them). The common case, every value with a dot and the same number of
    decimals, runs at C speed."""
    if "" not in texts and "".join(texts).count(".") == len(texts):
        tails = {len(v) - v.rfind(".") for v in texts}
        if len(tails) == 1:
            return tuple(map(int, (v.replace(".", "") for v in texts))), tails.pop() - 1
    finest = max((_decimals(v) for v in texts if v), default=0)
    return [None if not v else int(v.replace(".", "")) * 10 ** (finest - _decimals(v))
            for v in texts], finest


@dataclass(frozen=True)
class ProfileRead:
    """A profile as our types: one series per channel (per channel set and interval
    length: a change starts new series), and the raw status of every interval."""

    series: tuple[ChannelSeries, ...]
    raw_status: tuple[tuple[int, ...], ...]   # per series group, one per interval
    last_end: int | None = None
    series_group: tuple[int, ...] = ()        # raw_status index of each series

    def raw_of(self, index: int) -> tuple[int, ...]:
        """The meter's raw status of every interval of ``series[index]``."""
        return self.raw_status[self.series_group[index]]


def to_series(sections: Sequence[ProfileSection], clock: MeterClock | None = None,
              dialect: Dialect | None = None) -> ProfileRead:
    """The decoded sections as :class:`ChannelSeries` in UTC; runs restart where a
    section does not follow on from the one before (an outage, a clock set)."""
    clock = clock or MeterClock()
    groups: list[tuple[tuple[Channel, ...], int, list[list[tuple[int, list[str], list[int]]]],
                       list[int]]] = []
    last_end: int | None = None
    for sec in sections:
        h = sec.header
        step = h.interval_min * 60
        first = clock.to_utc(h.start, None if last_end is None else last_end + 1)
        flags = int(interval_status(h.status, dialect or dialect_of(h)))
        if not groups or groups[-1][0] != h.channels or groups[-1][1] != step:
            groups.append((h.channels, step, [[] for _ in h.channels], []))
        chans, _, runs_per_channel, raws = groups[-1]
        continues = (last_end is not None and runs_per_channel[0]
                     and first == last_end + step)
        if not sec.rows:
            continue
        for ci in range(len(chans)):
            column = [row[ci] for row in sec.rows]
            runs = runs_per_channel[ci]
            if continues:
                runs[-1][1].extend(column)
                runs[-1][2].extend([flags] * len(column))
            else:
                runs.append((first, column, [flags] * len(column)))
        raws.extend([h.status] * len(sec.rows))
        last_end = first + step * (len(sec.rows) - 1)
    series: list[ChannelSeries] = []
    raw_out: list[tuple[int, ...]] = []
    group_of: list[int] = []
    for gi, (chans, step, runs_per_channel, raws) in enumerate(groups):
        for ci, chan in enumerate(chans):
            runs = runs_per_channel[ci]
            columns = [_column(texts) for _, texts, _ in runs]
            places = max((p for _, p in columns), default=0)
            built = tuple(Run(first, tuple(_rescale(values, places - p)), tuple(st))
                          for (first, _, st), (values, p) in zip(runs, columns, strict=True))
            exp = -places
            series.append(ChannelSeries(chan, step, exp, built))
            group_of.append(gi)
        raw_out.append(tuple(raws))
    return ProfileRead(tuple(series), tuple(raw_out), last_end, tuple(group_of))


def _rescale(values: Sequence[int | None], shift: int) -> Sequence[int | None]:
    if not shift:
        return values
    factor = 10 ** shift
    return [None if v is None else v * factor for v in values]


def to_events(entries: Iterable[LogEntry], clock: MeterClock | None = None) -> list[MeterEvent]:
    """Logbook entries as events: one per known status bit (``OTHER`` if none), each
    keeping the raw status and the entry's data (a clock set's old time and date)."""
    clock = clock or MeterClock()
    out: list[MeterEvent] = []
    last: int | None = None
    for entry in entries:
        at = clock.to_utc(entry.stamp, last)
        last = at
        kinds = [kind for bit, kind in VDEW_EVENT_BITS if entry.status & bit]
        for kind in kinds or [EventKind.OTHER]:
            out.append(MeterEvent(at, kind, entry.status, entry.data))
    return out


# -- the meter role: encoding --------------------------------------------------------------------

def encode_sections(sections: Iterable[ProfileSection]) -> Iterator[str]:
    """The answer lines (each with CR LF) for ``sections``."""
    for sec in sections:
        yield sec.header.encode() + "\r\n"
        for row in sec.rows:
            yield "(" + ")(".join(row) + ")\r\n"


def encode_entries(entries: Iterable[LogEntry]) -> Iterator[str]:
    for entry in entries:
        yield entry.encode() + "\r\n"


def split_blocks(lines: Iterable[str], max_chars: int) -> Iterator[str]:
    """Lines packed into R6 partial blocks of at most ``max_chars`` (whole lines; a line
    longer than that is a block of its own)."""
    if max_chars < 1:
        raise LocalProtocolError("a partial block holds at least one character")
    block: list[str] = []
    size = 0
    for line in lines:
        if block and size + len(line) > max_chars:
            yield "".join(block)
            block, size = [], 0
        block.append(line)
        size += len(line)
    if block:
        yield "".join(block)


def format_value(mantissa: int, exponent: int, width: int = 0) -> str:
    """``18841, -3`` -> ``18.841`` (zero-padded to ``width`` characters before the dot)."""
    if exponent >= 0:
        return f"{mantissa * 10 ** exponent:0{width}d}"
    digits = -exponent
    sign = "-" if mantissa < 0 else ""
    whole, frac = divmod(abs(mantissa), 10 ** digits)
    return f"{sign}{whole:0{width}d}.{frac:0{digits}d}"


# -- request parameters --------------------------------------------------------------------------

def range_param(start: LocalStamp | None = None, end: LocalStamp | None = None) -> str:
    """``sYYMMDDhhmm;sYYMMDDhhmm``; a missing side is left empty (``;`` everything)."""
    def one(s: LocalStamp | None) -> str:
        if s is None:
            return ""
        return LocalStamp(s.when, SEASON_NORMAL if s.season is None else s.season,
                          s.seconds).encode()
    return f"{one(start)};{one(end)}"


def parse_range(param: str, offset: int = 0) -> tuple[LocalStamp | None, LocalStamp | None]:
    """The meter's side of :func:`range_param` (no ``;``: from that time on)."""
    first, sep, second = param.partition(";")
    start = parse_stamp(first, offset) if first else None
    end = parse_stamp(second, offset + len(first) + 1) if second else None
    return start, end
