"""The test vector in docs/upload-format.md decodes as the page says, and our encoder
writes exactly those bytes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgpack
import pytest

from hhu_sync.ingest import UploadError, parse_upload
from hhu_sync.profile.events import EventKind, MeterEvent
from hhu_sync.profile.flags import IntervalStatus
from hhu_sync.profile.series import Channel, ChannelSeries, Run
from hhu_sync.profile.wire import encode_event, encode_profile
from tests.conftest import ROOT

T = "2026-11-25T10:15:00+00:00"
END = 1_795_566_600     # 2026-11-25T00:30:00Z
SERIES = ChannelSeries(Channel("1.8.0", "kWh"), 1800, -3, (Run(
    END, (18841, 18900, None, 18000), (0, 0, int(IntervalStatus.POWER_FAIL), 0)),))
EVENT = MeterEvent(END + 600, EventKind.POWER_DOWN, 0x80)


def documented(heading: str = "## Test vector") -> bytes:
    """The hex block after ``heading`` in docs/upload-format.md, as bytes."""
    text = (ROOT / "docs" / "upload-format.md").read_text()
    block = text.split(heading, 1)[1].split("```", 2)[1]
    return bytes.fromhex(re.sub(r"\s+", "", block))


def test_the_documented_vector_decodes_as_the_page_says():
    data = documented()
    assert len(data) == 270
    upload = parse_upload(msgpack.unpackb(data, use_list=False), upload_id="U-1",
                          hhu_id="HHU-001", sha256="0" * 64,
                          received_at=datetime(2026, 11, 25, 12, tzinfo=UTC))
    assert upload.version == 2
    assert upload.profiles == [(0, SERIES)] and upload.events == [(0, EVENT)]
    assert upload.visits[0].clock_offset_s == 90          # the meter's clock, ahead
    (reading,) = upload.readings
    assert reading[1:5] == ("1.6.0", T, "0012.34", "kW")
    assert reading[8] == "2026-11-24T18:30:00+00:00"     # the maximum demand's own time
    ends = [end for end, _, _ in SERIES.intervals()]
    assert datetime.fromtimestamp(ends[2], UTC).isoformat() == "2026-11-25T01:30:00+00:00"


def test_our_encoder_writes_the_documented_bytes():
    payload = {"version": 2, "visits": [{
        "meter": "35100002", "time": T, "outcome": "done",
        "registers": [["1.6.0", "0012.34", "kW", T, "2026-11-24T18:30:00+00:00", ""]],
        "profiles": [encode_profile(SERIES)], "events": [encode_event(EVENT)],
        "meter_clock": "2026-11-25T10:16:30+00:00"}]}
    assert msgpack.packb(payload) == documented()


def _visit(**extra):
    payload = msgpack.unpackb(documented(), use_list=False)
    (visit,) = payload["visits"]
    visit = {k: v for k, v in visit.items() if k != "meter_clock"} | extra
    return {**payload, "visits": [visit]}


def _parsed(payload):
    return parse_upload(payload, upload_id="U-1", hhu_id="HHU-001", sha256="0" * 64,
                        received_at=datetime(2026, 11, 25, 12, tzinfo=UTC))


def test_an_upload_without_meter_clock_decodes_with_no_offset():
    upload = _parsed(_visit())
    assert upload.visits[0].clock_offset_s is None and upload.profiles == [(0, SERIES)]


@pytest.mark.parametrize("value, words", [
    (1795566990, "expected ISO 8601 text"),
    ("10:16:30", "is not an ISO 8601 time"),
    ("2026-11-25T10:16:30", "has no zone"),
    ("x" * 65, "expected ISO 8601 text"),
    ("2026-11-25T10:16:30\x00+00:00", "is not an ISO 8601 time"),   # fromisoformat takes it
    ("2026-11-25T10:16:30-23:59", "no zone is that far from UTC"),
    ("9999-12-31T23:59:59-14:00", "is out of range"),
])
def test_a_meter_clock_of_another_shape_refuses_the_upload_naming_it(value, words):
    with pytest.raises(UploadError, match=r"visits\[0\]\.meter_clock: .*" + words):
        _parsed(_visit(meter_clock=value))


def test_a_version_1_upload_may_not_carry_meter_clock():
    payload = _visit(meter_clock=T)
    payload = {**payload, "version": 1, "visits": [
        {k: v for k, v in payload["visits"][0].items() if k not in ("profiles", "events")}]}
    with pytest.raises(UploadError, match=r"visits\[0\]\.meter_clock: only upload version 2"):
        _parsed(payload)


# -- version 3: the same upload, the run's values in byte planes ---------------------------

def documented_v3() -> bytes:
    return documented("### Version 3 test vector")


def test_the_documented_version_3_vector_decodes_to_the_same_upload():
    data = documented_v3()
    assert len(data) == 274
    upload = _parsed(msgpack.unpackb(data, use_list=False))
    assert upload.version == 3
    assert upload.profiles == [(0, SERIES)] and upload.events == [(0, EVENT)]
    assert upload.visits[0].clock_offset_s == 90
    v2 = _parsed(msgpack.unpackb(documented(), use_list=False))
    assert upload.readings == v2.readings and upload.visits == v2.visits


def test_our_encoder_writes_the_documented_version_3_bytes():
    payload = {"version": 3, "visits": [{
        "meter": "35100002", "time": T, "outcome": "done",
        "registers": [["1.6.0", "0012.34", "kW", T, "2026-11-24T18:30:00+00:00", ""]],
        "profiles": [encode_profile(SERIES, 3)], "events": [encode_event(EVENT)],
        "meter_clock": "2026-11-25T10:16:30+00:00"}]}
    assert msgpack.packb(payload) == documented_v3()


def test_the_version_3_run_is_the_page_s_byte_table():
    data = documented_v3()
    run = bytes.fromhex("93 ce6b062c08 c40b 02 04 01 02 b2a602 7607 0007 920201")
    assert data.count(run) == 1


def test_a_version_3_field_of_junk_refuses_the_upload_naming_the_run_and_byte():
    payload = msgpack.unpackb(documented_v3(), use_list=True)
    payload["visits"][0]["profiles"][0][4][0][1] = bytes.fromhex("02040102b2a602760700")
    with pytest.raises(UploadError, match=r"^visits\[0\]\.profiles\[0\]\.runs\[0\]\.deltas: "
                                          r"byte 7: 3 bytes of byte planes"):
        _parsed(payload)


def test_a_version_3_run_may_not_travel_as_version_2_nor_the_reverse():
    payload = msgpack.unpackb(documented_v3(), use_list=True)
    with pytest.raises(UploadError, match=r"runs\[0\]\.deltas: expected an array"):
        _parsed({**payload, "version": 2})
    payload = msgpack.unpackb(documented(), use_list=True)
    with pytest.raises(UploadError, match=r"runs\[0\]\.deltas: expected binary"):
        _parsed({**payload, "version": 3})


def test_version_3_fields_that_count_past_the_upload_s_bound_are_refused_at_the_run():
    from hhu_sync.ingest.upload import MAX_INTERVALS_PER_UPLOAD
    from hhu_sync.profile.planes import encode_values
    from hhu_sync.profile.series import MAX_INTERVALS_PER_READ

    full = encode_values((1,) * MAX_INTERVALS_PER_READ)      # a few bytes: no planes
    channels = MAX_INTERVALS_PER_UPLOAD // MAX_INTERVALS_PER_READ
    payload = msgpack.unpackb(documented_v3(), use_list=True)
    (visit,) = payload["visits"]
    visit["profiles"] = [[f"{c}.8.0", "kWh", 60, -3, [[END, full, []]]]
                         for c in range(1, channels + 1)]
    again = {**visit, "profiles": [["1.8.0", "kWh", 1800, -3, [[END, b"\x00\x01\x00\x02",
                                                                 []]]]]}
    with pytest.raises(UploadError, match=r"^visits\[1\]\.profiles\[0\]\.runs\[0\]\.deltas: "
                                          "no room for another interval"):
        _parsed({**payload, "visits": [visit, again]})
