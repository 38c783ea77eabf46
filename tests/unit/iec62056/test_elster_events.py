"""The Elster event log (register 560, issue 15 point 2): our documented layout."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hhu_sync.iec62056.elster_events import decode_event_log, encode_event_log
from hhu_sync.iec62056.elster_records import RecordError
from hhu_sync.profile.events import EventKind

#: docs/iec62056.md, "Elster event log": a power down and up, a cover opened, then the end.
VECTOR = bytes.fromhex("01261201011000 00" "02261201024000 00" "04261202093015 00"
                       .replace(" ", "") + "07261202100000" "05" + "ff")


def test_the_documented_vector():
    events = decode_event_log(VECTOR, std_offset_s=3600)
    assert [(e.kind, e.code) for e in events] == [
        (EventKind.POWER_DOWN, 1), (EventKind.POWER_UP, 2), (EventKind.COVER_OPENED, 4),
        (EventKind.PHASE_FAILURE, 7)]
    assert events[0].at == int(datetime(2026, 12, 1, 0, 10, tzinfo=UTC).timestamp())
    assert dict(events[3].data) == {"phases": "101"}


def test_encode_pads_to_blocks_and_round_trips():
    raw = encode_event_log([(1, datetime(2026, 12, 1, 1, 10), 0),
                            (7, datetime(2026, 12, 2, 10, 0), 5)])
    assert len(raw) == 64 and raw[16] == 0xFF
    assert [e.kind for e in decode_event_log(raw, std_offset_s=0)] == [
        EventKind.POWER_DOWN, EventKind.PHASE_FAILURE]


@pytest.mark.parametrize("raw, offset, words", [
    (b"\x99" + bytes(7) + b"\xff", 0, "not an event code"),
    (bytes.fromhex("01261301011000 00".replace(" ", "")) + b"\xff", 1, "not a time"),
    (bytes.fromhex("012612010110a0 00".replace(" ", "")) + b"\xff", 6, "BCD"),
    (bytes.fromhex("0126120101"), 0, "cut short"),
    (VECTOR[:-1], 32, "end marker"),
])
def test_a_broken_log_names_the_byte(raw, offset, words):
    with pytest.raises(RecordError) as err:
        decode_event_log(raw, std_offset_s=0)
    assert err.value.offset == offset and words in str(err.value)
