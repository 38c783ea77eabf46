"""Reading register 550/560 block by block (issue 15, point 2): the requests, the hex
answers, the end marker, and the bounds."""

from __future__ import annotations

from datetime import datetime

import pytest

from hhu_sync.iec62056.elster_events import decode_event_log, encode_event_log
from hhu_sync.iec62056.elster_read import (
    EVENT_LOG_REGISTER,
    BlockRead,
    block_request,
    select_request,
)
from hhu_sync.iec62056.elster_records import RecordError, blocks, encode_records
from hhu_sync.iec62056.events import ReadRequest, WriteRequest
from tests.unit.iec62056.test_elster_records import RECORDS


def test_the_requests_on_the_wire():
    assert select_request() == WriteRequest("551001", "FFFF")
    assert select_request(35) == WriteRequest("551001", "0023")
    assert block_request(550, 0x1F) == ReadRequest("550001F", "40")
    with pytest.raises(ValueError):
        select_request(0)


def _answers(stream):
    return [raw.hex().upper() for raw in blocks(stream)]


def test_a_profile_read_ends_at_its_end_marker():
    stream = encode_records(RECORDS * 1)[:-1] + encode_records(RECORDS[1:])  # two blocks
    read = BlockRead()
    for answer in _answers(stream):
        request = read.next_request()
        assert request is not None
        read.accept(f"({answer})")
    assert read.done and read.next_request() is None
    assert read.records[:len(RECORDS) - 1] == RECORDS[:-1]
    assert read.block == 2


def test_an_event_log_read_and_a_bad_answer():
    raw = encode_event_log([(1, datetime(2026, 12, 1, 1, 0), 0)] * 9)     # 73 -> 128 bytes
    read = BlockRead(EVENT_LOG_REGISTER)
    for answer in _answers(raw):
        assert not read.done
        read.accept(answer)
    assert read.done and len(decode_event_log(bytes(read.data), std_offset_s=0)) == 9
    with pytest.raises(RecordError, match="block 0: expected 128 hex digits"):
        BlockRead().accept("(ERROR)")


def test_a_meter_that_never_ends_is_bounded():
    read = BlockRead(max_blocks=3)
    for _ in range(3):
        read.next_request()
        read.accept("00" * 64 if read.block else "E4261201000109" + "00" * 57)
    with pytest.raises(RecordError, match="no end marker in 3 blocks"):
        read.next_request()
