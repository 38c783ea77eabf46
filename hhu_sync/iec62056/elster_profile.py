"""Elster load profile records -> intervals and events (our dialect-independent types).

The rules (also in ``docs/iec62056.md``, "Elster load profile records"):

- Times in the stream are the meter's *standard* time all year; a DST record only marks
  when its display clock changed. UTC is standard time minus the zone's standard offset,
  so no autumn hour is ambiguous.
- A new-day record starts the day at 00:00: each interval record then ends one period
  after the last. A day the meter skipped (powered down over midnight) leaves a gap.
- The interval in progress at a power down is written before the power-down record and
  is flagged power fail; at power up the next interval to be written is the one holding
  the power-up time, flagged power recovery. Intervals in between are missing.
- The interval in which the clock was set is written once, at its end by the new clock,
  with the two parts summed, flagged clock set and short (set forward) or long (back).
- A configuration change starts a new segment: its own channels and period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from hhu_sync.iec62056.elster_records import (
    FLAG_BATTERY_FAIL,
    FLAG_CT_RATIO_CHANGE,
    FLAG_DATA_CHANGE,
    FLAG_PHASE_FAILURE,
    FLAG_REVERSE_RUN,
    FLAG_TIME_SYNC,
    FLAG_TRANSIENT_RESET,
    PERIOD_MINUTES,
    ConfigChange,
    DstChange,
    End,
    ForcedEnd,
    Interval,
    NewDay,
    PowerDown,
    PowerUp,
    ProfileCleared,
    Record,
    TimeChange,
    encode_records,
    encode_value,
)
from hhu_sync.iec62056.errors import RemoteProtocolError
from hhu_sync.profile.events import EventKind, MeterEvent
from hhu_sync.profile.flags import IntervalStatus
from hhu_sync.profile.series import Channel, ChannelSeries, Run

#: Channel mask bit -> channel, for the A1140 (bits 0-9) and the A1700 (all 14).
ELSTER_CHANNELS: tuple[Channel | None, ...] = (
    Channel("1.8.0", "kWh"), Channel("2.8.0", "kWh"),            # import, export
    Channel("5.8.0", "kvarh"), Channel("6.8.0", "kvarh"),        # Q1, Q2
    Channel("7.8.0", "kvarh"), Channel("8.8.0", "kvarh"),        # Q3, Q4
    Channel("9.8.0", "kVAh"), Channel("10.8.0", "kVAh"),         # VA import, export
    Channel("C.1.1", "kWh"), Channel("C.1.2", "kWh"),            # customer-defined 1, 2
    Channel("3.8.0", "kvarh"), Channel("4.8.0", "kvarh"),        # import, export reactive
    Channel("C.1.3", "kWh"), Channel("C.1.4", "kWh"),            # customer-defined 3, 4
    None, None)

_FLAGS = ((FLAG_TRANSIENT_RESET, IntervalStatus.DEVICE_RESET),
          (FLAG_TIME_SYNC, IntervalStatus.CLOCK_SET),
          (FLAG_DATA_CHANGE, IntervalStatus.CONFIG_CHANGE),
          (FLAG_BATTERY_FAIL, IntervalStatus.BATTERY_FAIL),
          (FLAG_CT_RATIO_CHANGE, IntervalStatus.CT_RATIO_CHANGE),
          (FLAG_REVERSE_RUN, IntervalStatus.REVERSE_RUN),
          (FLAG_PHASE_FAILURE, IntervalStatus.PHASE_FAILURE))


class ProfileError(RemoteProtocolError):
    """Records that cannot describe a profile (an interval before any day, a day that
    goes back); names the record's index in the stream."""


def interval_status(flags: int) -> int:
    """An Elster interval flag byte as :class:`IntervalStatus` bits."""
    status = 0
    for bit, ours in _FLAGS:
        if flags & bit:
            status |= ours
    return status


@dataclass
class _Segment:
    channels: tuple[Channel, ...]
    period_s: int
    ends: list[int] = field(default_factory=list)
    values: list[tuple[tuple[int, int], ...]] = field(default_factory=list)
    status: list[int] = field(default_factory=list)

    def series(self) -> list[ChannelSeries]:
        out = []
        for index, channel in enumerate(self.channels):
            raw = [v[index] for v in self.values]
            low = min((e for _, e in raw), default=0)
            mantissas = [m * 10 ** (e - low) for m, e in raw]
            runs: list[Run] = []
            start = 0
            for i in range(1, len(self.ends) + 1):
                if i == len(self.ends) or self.ends[i] - self.ends[i - 1] != self.period_s:
                    runs.append(Run(self.ends[start], tuple(mantissas[start:i]),
                                    tuple(self.status[start:i])))
                    start = i
            out.append(ChannelSeries(channel, self.period_s, low - 3, tuple(runs)))
        return out


@dataclass(frozen=True, slots=True)
class ElsterProfile:
    series: tuple[ChannelSeries, ...]
    events: tuple[MeterEvent, ...]


def _channels(mask: int, table: Sequence[Channel | None], index: int
              ) -> tuple[Channel, ...]:
    out = []
    for bit in range(16):
        if mask >> bit & 1:
            channel = table[bit] if bit < len(table) else None
            if channel is None:
                raise ProfileError(f"record {index}: channel mask bit {bit} names no "
                                   "channel of this meter model")
            out.append(channel)
    return tuple(out)


def interpret(records: Sequence[Record], *, std_offset_s: int,
              channels: Sequence[Channel | None] = ELSTER_CHANNELS) -> ElsterProfile:
    """Intervals and events from a decoded record stream; ``std_offset_s``: the meter
    zone's standard-time offset from UTC (3600 for CET, 0 for GMT)."""
    offset = timedelta(seconds=std_offset_s)
    segments: list[_Segment] = []
    events: list[MeterEvent] = []
    day: date | None = None
    cursor: datetime | None = None         # standard-time end of the last interval
    pending = 0                            # status bits for the next interval

    def utc(when: datetime) -> int:
        return int((when - offset).replace(tzinfo=UTC).timestamp())

    def on_day(at: time) -> datetime:
        assert day is not None
        return datetime.combine(day, at)

    def floor(when: datetime, period_s: int) -> datetime:
        midnight = datetime.combine(when.date(), time())
        seconds = int((when - midnight).total_seconds())
        return midnight + timedelta(seconds=seconds - seconds % period_s)

    def event(kind: EventKind, when: datetime, code: int,
              data: tuple[tuple[str, str], ...] = ()) -> None:
        events.append(MeterEvent(utc(when), kind, code, data))

    for index, record in enumerate(records):
        if day is None and not isinstance(record, NewDay | ConfigChange | ProfileCleared
                                          | End):
            raise ProfileError(f"record {index}: {type(record).__name__} before any day")
        match record:
            case NewDay(new_day, mask, code):
                start = datetime.combine(new_day, time())
                if cursor is not None and start < cursor:
                    raise ProfileError(f"record {index}: day {new_day} starts before the "
                                       f"last interval's end {cursor}")
                day, cursor = new_day, start
                chans, period_s = _channels(mask, channels, index), PERIOD_MINUTES[code] * 60
                if not segments or (segments[-1].channels, segments[-1].period_s) != (
                        chans, period_s):
                    segments.append(_Segment(chans, period_s))
            case ConfigChange(new_day, at, mask, code):
                day = new_day
                period_s = PERIOD_MINUTES[code] * 60
                segments.append(_Segment(_channels(mask, channels, index), period_s))
                when = datetime.combine(new_day, at)
                cursor = max(cursor, floor(when, period_s)) if cursor else floor(when, period_s)
                pending |= IntervalStatus.CONFIG_CHANGE
                event(EventKind.CONFIG_CHANGE, when, 0xE8)
            case Interval(flags, values):
                if cursor is None or not segments:
                    raise ProfileError(f"record {index}: an interval before any day")
                segment = segments[-1]
                if len(values) != len(segment.channels):
                    raise ProfileError(f"record {index}: {len(values)} values for "
                                       f"{len(segment.channels)} channels")
                cursor += timedelta(seconds=segment.period_s)
                segment.ends.append(utc(cursor))
                segment.values.append(values)
                segment.status.append(interval_status(flags) | pending)
                pending = 0
            case PowerDown(at):
                if segments and segments[-1].status:
                    segments[-1].status[-1] |= IntervalStatus.POWER_FAIL
                event(EventKind.POWER_DOWN, on_day(at), 0xE6)
            case PowerUp(at):
                when = on_day(at)
                if cursor is not None and segments:
                    cursor = max(cursor, floor(when, segments[-1].period_s))
                pending |= IntervalStatus.POWER_RECOVERY
                event(EventKind.POWER_UP, when, 0xE5)
            case TimeChange(old, new):
                if cursor is not None and segments:
                    cursor = max(cursor, floor(on_day(new), segments[-1].period_s))
                pending |= IntervalStatus.CLOCK_SET | (
                    IntervalStatus.SHORT if new > old else IntervalStatus.LONG)
                event(EventKind.CLOCK_SET, on_day(new), 0xEA,
                      (("old", old.isoformat()), ("new", new.isoformat())))
            case DstChange(at, to_summer):
                pending |= IntervalStatus.DST_CHANGE
                event(EventKind.DST_CHANGE, on_day(at), 0xED,
                      (("to", "summer" if to_summer else "winter"),))
            case ForcedEnd(at):
                event(EventKind.BILLING_RESET, on_day(at), 0xE9)
            case ProfileCleared(cleared_day, at):
                event(EventKind.PROFILE_CLEARED, datetime.combine(cleared_day, at), 0xEB)
            case End():
                break
    series = tuple(s for segment in segments if segment.ends for s in segment.series())
    return ElsterProfile(series, tuple(events))


def value_pair(wh: int) -> tuple[int, int]:
    """A whole number of Wh as the record layout's (mantissa, exponent)."""
    raw = encode_value(wh)
    digits = raw.hex()
    return int(digits[:5]), int(digits[5])


class ProfileWriter:
    """The meter role: records written as a meter fills its memory, day records put in
    by themselves. Times are the meter's standard time (naive datetimes)."""

    def __init__(self, mask: int, period_code: int) -> None:
        self.mask, self.period_code = mask, period_code
        self.records: list[Record] = []
        self._day: date | None = None

    @property
    def period(self) -> timedelta:
        return timedelta(minutes=PERIOD_MINUTES[self.period_code])

    def _enter(self, day: date) -> None:
        if day != self._day:
            self.records.append(NewDay(day, self.mask, self.period_code))
            self._day = day

    def interval(self, end: datetime, values_wh: Sequence[int], flags: int = 0) -> None:
        """The interval ending at ``end`` (its day is the day it began). A profile that
        starts within a day starts with a configuration record naming when."""
        if len(values_wh) != bin(self.mask).count("1"):
            raise ValueError(f"{len(values_wh)} values for mask 0x{self.mask:04x}")
        began = end - self.period
        if self._day is None and began.time() != time():
            self.records.append(ConfigChange(began.date(), began.time(), self.mask,
                                             self.period_code))
            self._day = began.date()
        self._enter(began.date())
        self.records.append(Interval(flags, tuple(value_pair(v) for v in values_wh)))

    def power_down(self, at: datetime) -> None:
        self._enter(at.date())
        self.records.append(PowerDown(at.time().replace(second=0, microsecond=0)))

    def power_up(self, at: datetime) -> None:
        self._enter(at.date())
        self.records.append(PowerUp(at.time().replace(second=0, microsecond=0)))

    def time_change(self, old: datetime, new: datetime) -> None:
        self._enter(new.date())
        self.records.append(TimeChange(old.time().replace(microsecond=0),
                                       new.time().replace(microsecond=0)))

    def dst_change(self, at: datetime, to_summer: bool) -> None:
        self._enter(at.date())
        self.records.append(DstChange(at.time().replace(second=0, microsecond=0), to_summer))

    def forced_end(self, at: datetime) -> None:
        self._enter(at.date())
        self.records.append(ForcedEnd(at.time().replace(second=0, microsecond=0)))

    def stream(self) -> bytes:
        """The record stream as register 550 serves it: the records and the end marker."""
        return encode_records([*self.records, End()])
