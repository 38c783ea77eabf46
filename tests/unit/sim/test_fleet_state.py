"""The ``--fleet-state`` file keeps its format across the move of its code to ``meter/``.

``tests/data/fleet-state-v1.json`` was written by ``field_trip.save_state`` as it stood
before the move (two trips over ``config/demo-fleet.toml``: programmed tariffs, a billing
reset with history, maximum-demand times, CT/VT ratios). The code now in
:mod:`hhu_firmware_sim.meter.fleet_state` must read it and write it back byte for byte.
"""

from __future__ import annotations

import json

from hhu_firmware_sim import field_trip
from hhu_firmware_sim.meter import fleet_state
from hhu_firmware_sim.meter.fleet import load_field_fleet
from tests.conftest import ROOT

OLD_STATE = ROOT / "tests" / "data" / "fleet-state-v1.json"
DEMO_FLEET = ROOT / "config" / "demo-fleet.toml"


def test_a_state_file_written_before_the_move_is_read_and_written_back_unchanged(tmp_path):
    field = load_field_fleet(DEMO_FLEET)
    assert fleet_state.load_state(field.fleet, OLD_STATE) == 6
    meters = {m.serial: m for m in field.fleet.meters}
    assert meters["35100001"].history[0].at.isoformat() == "2026-12-01T00:00:00"
    assert [r.name for r in meters["35100001"].tou.rates] == ["Day", "Peak", "Night"]
    again = tmp_path / fleet_state.STATE_FILE
    fleet_state.save_state(field.fleet, again)
    assert again.read_bytes() == OLD_STATE.read_bytes()


def test_each_saved_meter_is_restored_field_for_field():
    field = load_field_fleet(DEMO_FLEET)
    fleet_state.load_state(field.fleet, OLD_STATE)
    saved = json.loads(OLD_STATE.read_text())["meters"]
    for meter in field.fleet.meters:
        assert fleet_state.meter_state(meter) == saved[meter.serial]


def test_the_trip_keeps_its_old_names_for_the_state_and_the_fleet():
    assert field_trip.STATE_FILE == fleet_state.STATE_FILE == "fleet-state.json"
    assert field_trip.load_state is fleet_state.load_state
    assert field_trip.save_state is fleet_state.save_state
    assert field_trip.state_lock is fleet_state.state_lock
    assert field_trip.load_field_fleet is load_field_fleet
