"""The simulated HHU writes upload version 3 (version 2 when told) when a visit brought
a profile or events, and version 1 otherwise (which every depot reads)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hhu_firmware_sim.field_trip import run_trip, synthetic_visit
from hhu_sync.dock.readings import check_upload
from hhu_sync.profile.events import EventKind, MeterEvent
from hhu_sync.profile.series import Channel, ChannelSeries, Run
from hhu_sync.transfer import decode_transfer
from tests.unit.sim.test_field_trip_clock import KEY, T0, _flash

SERIES = ChannelSeries(Channel("1.8.0", "kWh"), 1800, -3,
                       (Run(int(T0.timestamp()) - 1800, (5, 7), (0, 0)),))


def profiled_visit(entry, scheme, when):
    v = synthetic_visit(entry, scheme, when)
    if entry["serial"] == "M2":
        v["profiles"] = [SERIES]
        v["events"] = [MeterEvent(int(T0.timestamp()) - 60, EventKind.POWER_UP)]
    return v


def payload(flash):
    (entry,) = flash.uploads()
    return entry.upload_id, flash.read_upload(entry.upload_id)


def test_a_route_with_a_profile_is_uploaded_as_version_3(tmp_path):
    flash = _flash(tmp_path, serials=("M1", "M2"))
    run_trip(flash, "HHU-001", KEY, start=T0, visit=profiled_visit)
    upload_id, data = payload(flash)
    sent = decode_transfer(data, KEY).payload
    assert sent["version"] == 3
    (run,) = sent["visits"][1]["profiles"][0][4]
    assert type(run[1]) is bytes                  # the values in byte planes
    upload = check_upload(data, hhu_id="HHU-001", hhu_key=KEY, upload_id=upload_id,
                          received_at=datetime(2026, 11, 26, tzinfo=UTC))
    assert upload.profiles == [(1, SERIES)]
    assert [e.kind for _, e in upload.events] == [EventKind.POWER_UP]


@pytest.mark.parametrize("version", [2, 3])
def test_a_route_is_uploaded_as_the_version_asked_for_and_reads_the_same(tmp_path,
                                                                         version):
    flash = _flash(tmp_path, serials=("M1", "M2"))
    run_trip(flash, "HHU-001", KEY, start=T0, visit=profiled_visit, upload_version=version)
    upload_id, data = payload(flash)
    sent = decode_transfer(data, KEY).payload
    assert sent["version"] == version
    (run,) = sent["visits"][1]["profiles"][0][4]
    assert run[1] == ([5, 2] if version == 2 else bytes.fromhex("01 02 00 0a 04"))
    upload = check_upload(data, hhu_id="HHU-001", hhu_key=KEY, upload_id=upload_id,
                          received_at=datetime(2026, 11, 26, tzinfo=UTC))
    assert upload.version == version and upload.profiles == [(1, SERIES)]


def test_a_route_without_one_stays_version_1(tmp_path):
    flash = _flash(tmp_path, serials=("M1",))
    run_trip(flash, "HHU-001", KEY, start=T0)
    _, data = payload(flash)
    assert "version" not in decode_transfer(data, KEY).payload
