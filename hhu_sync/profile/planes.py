"""One run's values as upload version 3 codes them: zigzag deltas in byte planes.

Why: a load's consecutive intervals differ by a little noise, so the deltas' low byte is
noise and their high bytes are mostly 0. Written value by value (msgpack, version 2)
zlib meets the two mixed; written as planes (every delta's low byte, then every second
byte, ...) the noise stands apart and the near-constant planes shrink to almost
nothing: 16 % fewer bytes on the line for the bench's route (docs/benchmarks.md).

The field (docs/upload-format.md, "Version 3"): ``w`` (one byte, 0 to 7), the interval
count ``n`` and the nil count ``k`` (unsigned LEB128 varints), ``k`` nil indexes as
gaps (varints), the first value's mantissa (zigzag varint), then ``w`` planes of
``n - k - 1`` bytes: plane ``j`` holds byte ``j`` (least significant first) of the
zigzag of each later value minus the one before. Every count is checked against the
field's length before anything is allocated for it.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from itertools import accumulate

#: Byte planes at most: a delta of two mantissas within ±999,999,999,999,999 zigzags to
#: under 2^53, seven bytes.
MAX_PLANES = 7
_VARINT_BYTES = 9                 # at most 63 bits in a varint


class CodingError(ValueError):
    """A values field that does not decode; ``offset`` is the byte it fails at."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"byte {offset}: {message}")
        self.offset = offset


def _zigzag(d: int) -> int:
    return (d << 1) ^ (d >> 63)


def _varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


def encode_values(values: Sequence[int | None]) -> bytes:
    """The field for one run's mantissas (``None``: no value recorded). Refuses a run a
    depot would (empty, or a delta beyond :data:`MAX_PLANES` bytes) with ValueError."""
    if not values:
        raise ValueError("a run holds at least one interval")
    present = [v for v in values if v is not None]
    out = bytearray(1)
    _varint(out, len(values))
    _varint(out, len(values) - len(present))
    previous = -1
    for i, v in enumerate(values):
        if v is None:
            _varint(out, i - previous - 1)
            previous = i
    if not present:
        return bytes(out)
    _varint(out, _zigzag(present[0]))
    zs = [_zigzag(b - a) for a, b in zip(present, present[1:], strict=False)]
    top = max(zs, default=0)
    width = (top.bit_length() + 7) // 8
    if width > MAX_PLANES or min(zs, default=0) < 0:
        raise ValueError(f"a delta takes more than {MAX_PLANES} bytes")
    out[0] = width
    if width:
        raw = array("Q", zs)
        if sys.byteorder == "big":
            raw.byteswap()
        wide = raw.tobytes()
        for j in range(width):
            out += wide[j::8]
    return bytes(out)


def _read_varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    start, value, shift = pos, 0, 0
    end = min(len(data), pos + _VARINT_BYTES)
    while pos < end:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and pos - start > 1:
                raise CodingError(start, f"{what}: a varint with a needless last byte 00")
            return value, pos
        shift += 7
    if pos - start == _VARINT_BYTES:
        raise CodingError(start, f"{what}: a varint longer than {_VARINT_BYTES} bytes")
    raise CodingError(start, f"{what}: the field ends inside its varint")


def decode_values(data: bytes, max_intervals: int,
                  max_mantissa: int) -> tuple[int | None, ...]:
    """One run's mantissas from its field, checked whole: at most ``max_intervals``,
    each within ±``max_mantissa``, the field exactly as long as its counts say. Raises
    :class:`CodingError` naming the byte it fails at."""
    size = len(data)
    if not size:
        raise CodingError(0, "empty: expected the byte plane count")
    width = data[0]
    if width > MAX_PLANES:
        raise CodingError(0, f"{width} byte planes, more than {MAX_PLANES}")
    n, pos = _read_varint(data, 1, "interval count")
    if not 1 <= n <= max_intervals:
        raise CodingError(1, f"{n} intervals, where a run may hold from 1 to "
                             f"{max_intervals} here")
    at_k = pos
    k, pos = _read_varint(data, pos, "nil count")
    if k > n or k > size - pos:           # each nil index takes a byte at least
        raise CodingError(at_k, f"{k} nil intervals in a run of {n} and a field of "
                                f"{size - pos} more bytes")
    nils: list[int] = []
    index = -1
    for _ in range(k):
        at = pos
        gap, pos = _read_varint(data, pos, "nil index")
        index += gap + 1
        if index >= n:
            raise CodingError(at, f"nil index {index} is not below the run's {n} intervals")
        nils.append(index)
    m = n - k
    if not m:
        if pos != size:
            raise CodingError(pos, f"{size - pos} bytes after a run of nils only")
        return (None,) * n
    at = pos
    first, pos = _read_varint(data, pos, "first value")
    first = (first >> 1) ^ -(first & 1)
    if abs(first) > max_mantissa:
        raise CodingError(at, f"the first value {first} is beyond ±{max_mantissa}")
    count = m - 1
    if size - pos != width * count:
        raise CodingError(pos, f"{size - pos} bytes of byte planes where {width} planes of "
                               f"{count} deltas take {width * count}")
    if count and width:
        wide = bytearray(8 * count)
        for j in range(width):
            wide[j::8] = data[pos + j * count:pos + (j + 1) * count]
        zs = array("Q", wide)
        if sys.byteorder == "big":
            zs.byteswap()
        mantissas = list(accumulate(((z >> 1) ^ -(z & 1) for z in zs), initial=first))
        if max(mantissas) > max_mantissa or min(mantissas) < -max_mantissa:
            bad = next(i for i, v in enumerate(mantissas) if abs(v) > max_mantissa)
            raise CodingError(pos + bad - 1, f"value {_interval(bad, nils)} is beyond "
                                             f"±{max_mantissa}")
    else:
        mantissas = [first] * m
    if not nils:
        return tuple(mantissas)
    out: list[int | None] = []
    taken = 0
    for index in nils:              # the values between nils, a slice at a time
        upto = index - len(out) + taken
        out += mantissas[taken:upto]
        taken = upto
        out.append(None)
    out += mantissas[taken:]
    return tuple(out)


def _interval(value_index: int, nils: Sequence[int]) -> str:
    """The interval index of the ``value_index``-th value (nils skipped), for messages."""
    i = value_index
    for index in nils:
        if index <= i:
            i += 1
    return f"{value_index} (interval {i})"
