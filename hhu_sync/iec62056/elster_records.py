"""Elster FLAG dialect load profile (A1140, A1700, AS230): the record stream of register 550.

The meter does not speak VDEW's ``P.01``. A client selects what to read by writing
register 551 and then reads register 550 block by block; each block answers 64 bytes of
a binary record stream as hex text. The stream's exact layout is ours (documented in
``docs/iec62056.md``, "Elster load profile records"); its shape is the meter's: markers
for a new day, power up and down, a configuration change, a forced end of demand, a time
change, a cleared profile, a DST change, the end of data, and between them interval
records of one flag byte and three bytes a channel.

This module is the codec, bytes to records and back, pure and incremental
(:class:`RecordDecoder` takes the blocks as they come); :mod:`elster_profile` turns the
records into intervals and events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from hhu_sync.iec62056.errors import RemoteProtocolError

BLOCK_BYTES = 64
#: A whole profile is far smaller (an A1700's memory is some 100 kB): a bound, not a size.
MAX_STREAM_BYTES = 4 << 20
MAX_CHANNELS = 16
#: Period codes 0..A of the new-day and configuration records, in minutes.
PERIOD_MINUTES = (1, 2, 3, 4, 5, 6, 10, 15, 20, 30, 60)
NEW_DAY, POWER_UP, POWER_DOWN, CONFIG_CHANGE = 0xE4, 0xE5, 0xE6, 0xE8
FORCED_END, TIME_CHANGE, PROFILE_CLEARED, DST_CHANGE, END = 0xE9, 0xEA, 0xEB, 0xED, 0xFF
#: Interval flags (the flag byte of an interval record; bit 7 is never set).
FLAG_TRANSIENT_RESET, FLAG_TIME_SYNC, FLAG_DATA_CHANGE, FLAG_BATTERY_FAIL = 1, 2, 4, 8
FLAG_CT_RATIO_CHANGE, FLAG_REVERSE_RUN, FLAG_PHASE_FAILURE = 0x10, 0x20, 0x40


class RecordError(RemoteProtocolError):
    """A record stream that breaks the layout; names the byte offset in the stream."""


@dataclass(frozen=True, slots=True)
class NewDay:
    day: date
    mask: int
    period_code: int


@dataclass(frozen=True, slots=True)
class PowerUp:
    at: time


@dataclass(frozen=True, slots=True)
class PowerDown:
    at: time


@dataclass(frozen=True, slots=True)
class ConfigChange:
    day: date
    at: time
    mask: int
    period_code: int


@dataclass(frozen=True, slots=True)
class ForcedEnd:
    at: time


@dataclass(frozen=True, slots=True)
class TimeChange:
    old: time
    new: time


@dataclass(frozen=True, slots=True)
class ProfileCleared:
    day: date
    at: time


@dataclass(frozen=True, slots=True)
class DstChange:
    at: time
    to_summer: bool


@dataclass(frozen=True, slots=True)
class Interval:
    """One interval: its flags and, per channel of the mask in bit order, the value as
    (five-digit mantissa, exponent): mantissa x 10**exponent Wh (varh, VAh)."""

    flags: int
    values: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class End:
    pass


Record = (NewDay | PowerUp | PowerDown | ConfigChange | ForcedEnd | TimeChange
          | ProfileCleared | DstChange | Interval | End)

#: Marker -> length of the whole record in bytes (interval records depend on the mask).
_LENGTHS = {NEW_DAY: 7, POWER_UP: 3, POWER_DOWN: 3, CONFIG_CHANGE: 9, FORCED_END: 3,
            TIME_CHANGE: 7, PROFILE_CLEARED: 6, DST_CHANGE: 4, END: 1}


def channel_count(mask: int) -> int:
    return bin(mask).count("1")


def bcd_digits(byte: int, offset: int) -> int:
    """One byte as two BCD digits (``0x26`` is 26); anything else names its offset."""
    high, low = byte >> 4, byte & 0x0F
    if high > 9 or low > 9:
        raise RecordError(f"0x{byte:02x} is not two BCD digits", offset)
    return high * 10 + low


def _to_bcd(number: int) -> int:
    return (number // 10) << 4 | number % 10


def _date(raw: bytes | bytearray, at: int, offset: int) -> date:
    yy, mm, dd = (bcd_digits(raw[at + i], offset + i) for i in range(3))
    try:
        return date(2000 + yy, mm, dd)
    except ValueError:
        raise RecordError(f"{yy:02d}-{mm:02d}-{dd:02d} is not a date", offset) from None


def _time(raw: bytes | bytearray, at: int, offset: int, seconds: bool = False) -> time:
    parts = [bcd_digits(raw[at + i], offset + i) for i in range(3 if seconds else 2)]
    try:
        return time(parts[0], parts[1], parts[2] if seconds else 0)
    except ValueError:
        raise RecordError(":".join(f"{p:02d}" for p in parts) + " is not a time",
                          offset) from None


def _period(code: int, offset: int) -> int:
    if code >= len(PERIOD_MINUTES):
        raise RecordError(f"period code {code} is not one of 0..A", offset)
    return code


def _mask(raw: bytes | bytearray, at: int, offset: int) -> int:
    mask = raw[at] << 8 | raw[at + 1]
    if not mask or channel_count(mask) > MAX_CHANNELS:
        raise RecordError(f"channel mask 0x{mask:04x} selects no channel", offset)
    return mask


def decode_value(raw: bytes | bytearray, at: int, offset: int) -> tuple[int, int]:
    """Three BCD bytes ``mmmmme``: five mantissa digits, then the exponent digit."""
    digits = [bcd_digits(raw[at + i], offset + i) for i in range(3)]
    number = digits[0] * 10_000 + digits[1] * 100 + digits[2]
    return number // 10, number % 10


def encode_value(wh: int) -> bytes:
    """The three bytes for a non-negative whole number of Wh: exact up to 99,999, five
    significant digits (rounded half up) above, as the meter keeps them."""
    if wh < 0:
        raise ValueError("register values are not negative")
    exponent = 0
    while wh > 99_999:
        wh, rest = divmod(wh, 10)
        wh += rest >= 5
        exponent += 1
        if wh > 99_999 and exponent == 9:
            raise ValueError("value too large for the record layout")
    digits = f"{wh:05d}{exponent}"
    return bytes(int(digits[i:i + 2], 16) for i in (0, 2, 4))


class RecordDecoder:
    """Records from the stream, fed block by block; ``offset`` counts from the stream's
    first byte, so an error names the byte a field log can find."""

    def __init__(self, max_bytes: int = MAX_STREAM_BYTES) -> None:
        self._buffer = bytearray()
        self._consumed = 0
        self._mask: int | None = None
        self._max = max_bytes
        self.ended = False

    def feed(self, data: bytes) -> list[Record]:
        if self.ended:
            return []       # the padding after the end marker, and any later blocks
        if self._consumed + len(self._buffer) + len(data) > self._max:
            raise RecordError(f"the profile is longer than {self._max} bytes",
                              self._consumed + len(self._buffer))
        self._buffer += data
        out: list[Record] = []
        raw = self._buffer
        at = 0
        while at < len(raw) and not self.ended:
            offset = self._consumed + at
            marker = raw[at]
            if marker < 0x80:
                if self._mask is None:
                    raise RecordError("an interval record before any new-day or "
                                      "configuration record", offset)
                size = 1 + 3 * channel_count(self._mask)
                if at + size > len(raw):
                    break
                values = tuple(decode_value(raw, at + 1 + 3 * i, offset + 1 + 3 * i)
                               for i in range(channel_count(self._mask)))
                out.append(Interval(marker, values))
                at += size
                continue
            size = _LENGTHS.get(marker, 0)
            if not size:
                raise RecordError(f"0x{marker:02x} is neither a record marker nor a flag "
                                  "byte", offset)
            if at + size > len(raw):
                break
            out.append(self._record(marker, raw, at, offset))
            at += size
        del raw[:at]
        self._consumed += at
        return out

    def _record(self, marker: int, raw: bytes | bytearray, at: int, offset: int) -> Record:
        if marker == NEW_DAY:
            self._mask = _mask(raw, at + 4, offset + 4)
            return NewDay(_date(raw, at + 1, offset + 1), self._mask,
                          _period(raw[at + 6], offset + 6))
        if marker == CONFIG_CHANGE:
            self._mask = _mask(raw, at + 6, offset + 6)
            return ConfigChange(_date(raw, at + 1, offset + 1),
                                _time(raw, at + 4, offset + 4), self._mask,
                                _period(raw[at + 8], offset + 8))
        if marker == POWER_UP:
            return PowerUp(_time(raw, at + 1, offset + 1))
        if marker == POWER_DOWN:
            return PowerDown(_time(raw, at + 1, offset + 1))
        if marker == FORCED_END:
            return ForcedEnd(_time(raw, at + 1, offset + 1))
        if marker == TIME_CHANGE:
            return TimeChange(_time(raw, at + 1, offset + 1, seconds=True),
                              _time(raw, at + 4, offset + 4, seconds=True))
        if marker == PROFILE_CLEARED:
            return ProfileCleared(_date(raw, at + 1, offset + 1),
                                  _time(raw, at + 4, offset + 4))
        if marker == DST_CHANGE:
            if raw[at + 3] > 1:
                raise RecordError(f"DST direction {raw[at + 3]} is not 0 or 1", offset + 3)
            return DstChange(_time(raw, at + 1, offset + 1), raw[at + 3] == 1)
        self.ended = True
        return End()

    def close(self) -> None:
        """The stream is over: a record cut short, or no end marker, is an error."""
        if self._buffer:
            raise RecordError(f"{len(self._buffer)} bytes of a record cut short",
                              self._consumed)
        if not self.ended:
            raise RecordError("the stream ended without its end marker (FF)", self._consumed)


def decode_records(data: bytes) -> list[Record]:
    decoder = RecordDecoder()
    records = decoder.feed(data)
    decoder.close()
    return records


def _bcd_bytes(*numbers: int) -> bytes:
    return bytes(_to_bcd(n) for n in numbers)


def encode_record(record: Record) -> bytes:
    """The bytes of one record (the meter role: the simulator writes its memory so)."""
    match record:
        case Interval(flags, values):
            if not 0 <= flags < 0x80:
                raise ValueError(f"interval flags 0x{flags:02x} use bit 7")
            out = bytearray([flags])
            for mantissa, exponent in values:
                digits = f"{mantissa:05d}{exponent}"
                out += bytes(int(digits[i:i + 2], 16) for i in (0, 2, 4))
            return bytes(out)
        case NewDay(day, mask, code):
            return bytes([NEW_DAY]) + _bcd_bytes(day.year % 100, day.month, day.day) \
                + bytes([mask >> 8, mask & 0xFF, code])
        case ConfigChange(day, at, mask, code):
            return bytes([CONFIG_CHANGE]) + _bcd_bytes(day.year % 100, day.month, day.day,
                                                       at.hour, at.minute) \
                + bytes([mask >> 8, mask & 0xFF, code])
        case PowerUp(at):
            return bytes([POWER_UP]) + _bcd_bytes(at.hour, at.minute)
        case PowerDown(at):
            return bytes([POWER_DOWN]) + _bcd_bytes(at.hour, at.minute)
        case ForcedEnd(at):
            return bytes([FORCED_END]) + _bcd_bytes(at.hour, at.minute)
        case TimeChange(old, new):
            return bytes([TIME_CHANGE]) + _bcd_bytes(old.hour, old.minute, old.second,
                                                     new.hour, new.minute, new.second)
        case ProfileCleared(day, at):
            return bytes([PROFILE_CLEARED]) + _bcd_bytes(day.year % 100, day.month, day.day,
                                                         at.hour, at.minute)
        case DstChange(at, to_summer):
            return bytes([DST_CHANGE]) + _bcd_bytes(at.hour, at.minute) \
                + bytes([int(to_summer)])
        case End():
            return bytes([END])
    raise TypeError(f"not a record: {record!r}")


def encode_records(records: list[Record] | tuple[Record, ...]) -> bytes:
    return b"".join(encode_record(r) for r in records)


def blocks(stream: bytes) -> list[bytes]:
    """The stream cut into register 550's 64-byte blocks, the last padded with FF."""
    out = [stream[i:i + BLOCK_BYTES] for i in range(0, len(stream), BLOCK_BYTES)] or [b""]
    out[-1] = out[-1] + b"\xff" * (BLOCK_BYTES - len(out[-1]))
    return out
