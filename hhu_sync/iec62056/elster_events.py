"""Elster FLAG dialect event log: register 560, read in 64-byte blocks like the profile.

Our layout (``docs/iec62056.md``, "Elster event log"): entries of eight bytes, an event
code, the time as BCD ``YY MM DD hh mm ss`` in the meter's standard time, and a detail
byte (the phases of a phase failure, else 0); ``FF`` ends the log and pads its last block.
Oldest entry first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hhu_sync.iec62056.elster_records import BLOCK_BYTES, RecordError, bcd_digits
from hhu_sync.profile.events import EventKind, MeterEvent

EVENT_LOG_REGISTER = 560
ENTRY_BYTES = 8
MAX_ENTRIES = 10_000
#: Event code -> kind. Codes are the wire contract; kinds are ours.
EVENT_CODES: dict[int, EventKind] = {
    0x01: EventKind.POWER_DOWN, 0x02: EventKind.POWER_UP, 0x03: EventKind.CLOCK_SET,
    0x04: EventKind.COVER_OPENED, 0x05: EventKind.COVER_CLOSED,
    0x06: EventKind.TERMINAL_COVER_OPENED, 0x07: EventKind.PHASE_FAILURE,
    0x08: EventKind.BILLING_RESET, 0x09: EventKind.PARAMETER_SET,
    0x0A: EventKind.DEVICE_RESET, 0x0B: EventKind.PROFILE_CLEARED,
    0x0C: EventKind.DST_CHANGE, 0x0D: EventKind.ERROR_BEGIN, 0x0E: EventKind.ERROR_END,
}
CODES_OF = {kind: code for code, kind in EVENT_CODES.items()}
_END = 0xFF


def decode_event_log(data: bytes, *, std_offset_s: int) -> list[MeterEvent]:
    """Every entry up to the end marker; an unknown code, a bad time or a log without
    its end is refused naming the byte offset."""
    offset = timedelta(seconds=std_offset_s)
    out: list[MeterEvent] = []
    at = 0
    while True:
        if at >= len(data):
            raise RecordError("the event log ended without its end marker (FF)", at)
        code = data[at]
        if code == _END:
            return out
        if at + ENTRY_BYTES > len(data):
            raise RecordError("an event entry cut short", at)
        kind = EVENT_CODES.get(code)
        if kind is None:
            raise RecordError(f"0x{code:02x} is not an event code", at)
        parts = [bcd_digits(data[at + 1 + i], at + 1 + i) for i in range(6)]
        try:
            when = datetime(2000 + parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
        except ValueError:
            raise RecordError("{:02d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d} is not a time"
                              .format(*parts), at + 1) from None
        detail = data[at + 7]
        extra = (("phases", f"{detail:03b}"),) if kind is EventKind.PHASE_FAILURE else ()
        out.append(MeterEvent(int((when - offset).replace(tzinfo=UTC).timestamp()), kind,
                              code, extra))
        if len(out) > MAX_ENTRIES:
            raise RecordError(f"more than {MAX_ENTRIES} event entries", at)
        at += ENTRY_BYTES


def encode_event_log(events: Sequence[tuple[int, datetime, int]]) -> bytes:
    """(code, standard-time moment, detail) entries, then the end marker, padded to
    whole blocks: what the meter answers over its blocks."""
    out = bytearray()
    for code, when, detail in events:
        if code not in EVENT_CODES:
            raise ValueError(f"0x{code:02x} is not an event code")
        digits = (when.year % 100, when.month, when.day, when.hour, when.minute,
                  when.second)
        out += bytes([code, *((d // 10) << 4 | d % 10 for d in digits), detail])
    out.append(_END)
    out += b"\xff" * (-len(out) % BLOCK_BYTES)
    return bytes(out)
