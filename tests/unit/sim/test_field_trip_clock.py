"""The simulated HHU stamps each visit with its own clock, never ahead of it (issue 12.17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hhu_firmware_sim.field_trip import run_trip
from hhu_firmware_sim.flash import FlashStore
from hhu_sync.transfer import decode_transfer, encode_transfer

KEY = b"k" * 32
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def _flash(tmp_path, serials=("M1", "M2", "M3", "M4")) -> FlashStore:
    flash = FlashStore(tmp_path / "flash")
    meters = [{"serial": s, "site": "", "address": "", "task": "read", "scheme": None,
               "model": None, "notes": ""} for s in serials]
    payload = {"meter_list": {"id": "L1", "name": "", "hhu": "HHU-001", "crew": None,
                              "due": "2026-11-30", "notes": "", "meters": meters},
               "schemes": []}
    flash.store_bundle("B-1", encode_transfer("meter_list", payload, source="DEPOT",
                                              target="HHU-001", key=KEY, bundle_id="B-1"))
    return flash


def _visit_times(flash: FlashStore) -> list[datetime]:
    entry = flash.uploads()[0]
    payload = decode_transfer(flash.read_upload(entry.upload_id), KEY).payload
    return [datetime.fromisoformat(v["time"]) for v in payload["visits"]]


class _Clock:
    """A clock that moves a second each time it is read; remembers the latest reading."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def test_without_a_start_no_visit_is_stamped_after_the_hhu_clock(tmp_path):
    flash, clock = _flash(tmp_path), _Clock()
    run_trip(flash, "HHU-001", KEY, clock=clock)
    times = _visit_times(flash)
    assert len(times) == 4
    assert all(t <= clock.now for t in times)
    assert times == sorted(times)


def test_with_a_start_the_simulated_clock_spaces_the_visits(tmp_path):
    flash = _flash(tmp_path)
    run_trip(flash, "HHU-001", KEY, start=T0, minutes_per_visit=20, clock=_Clock())
    assert _visit_times(flash) == [T0 + timedelta(minutes=20 * k) for k in range(4)]
