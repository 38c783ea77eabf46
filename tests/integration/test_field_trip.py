"""Field trips against the simulated fleet: program, verify, read; state between trips."""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from serial import SerialException

from hhu_firmware_sim.field_cli import add_field_trip_commands
from hhu_firmware_sim.field_trip import (
    STATE_FILE,
    FieldFaults,
    fleet_trip,
    load_field_fleet,
    load_state,
    state_lock,
)
from hhu_firmware_sim.flash import FlashStore
from hhu_firmware_sim.meter import FleetError, TouTable
from hhu_firmware_sim.meter.meter import UNITY
from hhu_firmware_sim.urlhandler.protocol_hhusim import Serial
from hhu_sync.keys import KeyStore
from hhu_sync.model.inputs import load_inputs
from hhu_sync.packing import pack_meter_list
from tests.conftest import EXAMPLES, ROOT

DEMO_FLEET = ROOT / "config" / "demo-fleet.toml"
SECRETS = {"a1700-level1": "DEMO-L1", "a1700-level3": "DEMO-L3", "a1140-level2": "DEMO-L2",
           "as230-level1": "DEMO-R1"}
T1 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


class Hhu:
    """An enrolled HHU with a flash, and a depot key store to pack lists for it."""

    def __init__(self, root: Path, catalog, hhu: str = "HHU-001") -> None:
        self.hhu = hhu
        self.store = KeyStore(root / "keystore")
        self.store.enroll(hhu)
        for name, value in SECRETS.items():
            self.store.set_secret(name, value)
        self.key = self.store.hhu_key(hhu)
        self.flash = FlashStore(root / "flash")
        self.inputs = load_inputs([EXAMPLES], catalog)
        assert not self.inputs.problems

    def load(self, list_id: str = "route-north-2026-11") -> None:
        pkg = pack_meter_list(self.inputs.lists[list_id], self.inputs.schemes, hhu=self.hhu,
                              hhu_key=self.key, secrets=self.store, source="DEPOT")
        self.flash.store_bundle(pkg.bundle_id, pkg.data)

    def trip(self, start: datetime, fleet: Path = DEMO_FLEET, **kw):
        return fleet_trip(self.flash, self.hhu, self.key, fleet, start=start, **kw)

    def upload_visits(self) -> list[dict]:
        from hhu_sync.transfer import decode_transfer

        visits = []
        for entry in self.flash.uploads():
            data = self.flash.read_upload(entry.upload_id)
            visits += decode_transfer(data, self.key).payload["visits"]
        return visits

    def meters(self, fleet: Path = DEMO_FLEET) -> dict:
        field = load_field_fleet(fleet)
        load_state(field.fleet, self.flash.root / STATE_FILE)
        return {m.serial: m for m in field.fleet.meters}


@pytest.fixture
def hhu(tmp_path, catalog) -> Hhu:
    return Hhu(tmp_path, catalog)


def by_meter(visits: list[dict]) -> dict[str, dict]:
    return {v["meter"]: v for v in visits}


def test_a_trip_programs_verifies_and_reads_every_meter(hhu):
    hhu.load()
    result = hhu.trip(T1)
    assert result.outcomes == (("35100001", "done"), ("35100002", "done"),
                               ("41200017", "done"))
    visits = by_meter(hhu.upload_visits())
    meters = hhu.meters()
    assert meters["35100001"].ratio_factor == 8000     # the A1700 took CT 400/5, VT 11000/110
    assert meters["41200017"].ratio_factor == 1        # the A1140 takes no ratios
    for m in meters.values():                          # each visit read before it programmed
        m.ct_ratio = m.vt_ratio = UNITY
    for serial, visit in visits.items():
        for obis, value, unit, when, *_own_times in visit["registers"]:
            held = meters[serial].register_value(obis)[0]
            assert (value, unit) == (held.text, held.unit or ""), (serial, obis)
            assert when == visit["time"]
    assert visits["35100001"]["scheme"] == "a1700-ci-tou-2026"
    assert visits["35100001"]["verify"] == "ok"
    assert visits["35100002"]["scheme"] is None
    assert visits["35100002"]["error_flags"] == "00000001"          # battery low
    assert meters["35100001"].tou == TouTable.from_scheme(hhu.inputs.schemes["a1700-ci-tou-2026"])
    assert meters["41200017"].tou == TouTable.from_scheme(hhu.inputs.schemes["a1140-day-night"])
    assert meters["35100001"].now == datetime(2026, 11, 20, 8, 0)    # the visit time


def test_a_trip_sends_the_md_time_and_the_billing_reset_of_history(hhu):
    """Issue 12, point 18: 1.6.0(value)(YYMMDDhhmm) keeps its own time to the depot, and
    each historical value the time of the reset that froze it (0.1.2*k of the readout)."""
    hhu.load()
    hhu.trip(datetime(2026, 12, 3, 8, 0, tzinfo=UTC))    # after the reset on 1 December
    regs = {r[0]: r for r in by_meter(hhu.upload_visits())["35100002"]["registers"]}
    meter = hhu.meters()["35100002"]
    md_at = meter.max_demand_at.replace(tzinfo=UTC).isoformat()
    assert regs["1.6.0"][4:] == [md_at, ""]
    reset = meter.history[0].at.replace(tzinfo=UTC).isoformat()
    assert regs["1.8.0*1"][4:] == [reset, reset]
    md1 = meter.history[0].max_demand_at.replace(tzinfo=UTC).isoformat()
    assert regs["1.6.0*1"][4:] == [md1, reset]
    assert len(regs["1.8.0"]) == 4 and not any(k.startswith("0.1.2") for k in regs)


def test_the_next_trip_finds_the_meters_as_the_last_one_left_them(hhu):
    hhu.load()
    hhu.trip(T1)
    first = by_meter(hhu.upload_visits())
    for entry in hhu.flash.uploads():
        hhu.flash.delete_upload(entry.upload_id)
    hhu.load()
    hhu.trip(T2)
    second = by_meter(hhu.upload_visits())
    regs1 = {r[0]: r[1] for r in first["35100001"]["registers"]}
    regs2 = {r[0]: r[1] for r in second["35100001"]["registers"]}
    assert "1.8.3" not in regs1 and "1.8.3" in regs2      # the programmed tariff runs now
    assert float(regs2["1.8.0"]) > float(regs1["1.8.0"])
    state = json.loads((hhu.flash.root / STATE_FILE).read_text())
    assert state["meters"]["35100001"]["now"] == "2026-11-27T09:00:00"


def test_an_a1700_programmed_with_its_ratios_reads_primary_on_the_next_trip(hhu):
    """Issue 12.18: the A1700 takes CT 400/5 and VT 11000/110 (factor 8000) into its
    registers; the ratios survive in the fleet state, and the next visit reads primary."""
    hhu.load()
    hhu.trip(T1)
    for entry in hhu.flash.uploads():
        hhu.flash.delete_upload(entry.upload_id)
    hhu.load()
    hhu.trip(T2)
    regs = {r[0]: r[1] for r in by_meter(hhu.upload_visits())["35100001"]["registers"]}
    meter = hhu.meters()["35100001"]
    assert (meter.ct_ratio, meter.vt_ratio) == ((400, 5), (11000, 110))
    assert Decimal(regs["1.8.0"]) == round(meter.total * 8000, 3)
    a1140 = {r[0]: r[1] for r in by_meter(hhu.upload_visits())["41200017"]["registers"]}
    assert Decimal(a1140["1.8.0"]) == round(hhu.meters()["41200017"].total, 3)


def test_a_programming_visit_records_the_ratios_it_wrote_and_read_back(hhu):
    """Issue 12.18, round 3: the proof of what the meter's registers count travels with
    the visit (``ratios``, R1 of 128.11.0/128.11.1 after programming), and the depot
    bills the next visit's values as primary on that proof only."""
    hhu.load()
    hhu.trip(T1)
    visits = by_meter(hhu.upload_visits())
    assert visits["35100001"]["ratios"] == {"ct": "400/5", "vt": "11000/110"}
    assert "ratios" not in visits["41200017"]          # the A1140 takes no ratios
    assert "ratios" not in visits["35100002"]          # read only: nothing written


def test_a_programming_that_fails_its_verify_still_records_what_the_meter_holds(hhu):
    hhu.load()
    hhu.trip(T1, faults=FieldFaults.parse("verify-fail=35100001"))
    v = by_meter(hhu.upload_visits())["35100001"]
    assert (v["outcome"], v["ratios"]) == ("verify_failed", {"ct": "400/5", "vt": "11000/110"})


def test_injected_faults_give_the_matching_outcomes(hhu):
    hhu.load()
    faults = FieldFaults.parse("no-access=35100002,wrong-password=35100001,"
                               "verify-fail=41200017")
    result = hhu.trip(T1, faults=faults)
    assert dict(result.outcomes) == {"35100001": "password_rejected",
                                     "35100002": "no_access", "41200017": "verify_failed"}
    visits = by_meter(hhu.upload_visits())
    assert visits["35100001"]["registers"]            # read, even though not programmed
    assert visits["35100001"]["scheme"] is None
    assert visits["35100002"]["registers"] == []
    assert visits["41200017"]["verify"] == "failed"
    assert "128.8.0" in visits["41200017"]["notes"]
    meters = hhu.meters()
    assert meters["35100001"].tou == TouTable.flat()   # the meter refused us: unchanged
    assert meters["35100001"].failed_logins == 1


def test_unreachable_and_missing_meters(hhu, tmp_path):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[[meters]]\nserial = "35100001"\naccess = false\n'
                     '[[meters]]\nserial = "35100002"\n'
                     # the factory reading password, as in the demo: the list asks for
                     # the profile, which a read-only entry reads with it
                     'passwords = { 1 = "00000000", 3 = "DEMO-L3" }\n')
    hhu.load()
    result = hhu.trip(T1, fleet=fleet)
    assert dict(result.outcomes) == {"35100001": "no_access", "35100002": "done",
                                     "41200017": "not_found"}


def test_bad_fleet_files_and_faults_are_named(hhu, tmp_path):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[[meters]]\nserial = "1"\naccess = "no"\n')
    with pytest.raises(FleetError, match="access"):
        load_field_fleet(fleet)
    with pytest.raises(ValueError, match="NAME=SERIAL"):
        FieldFaults.parse("melt-down=1")
    hhu.load()
    (hhu.flash.root / STATE_FILE).write_text("{not json")
    with pytest.raises(FleetError, match="state"):
        hhu.trip(T1)
    assert len(hhu.flash.bundles()) == 1                # nothing was done


def test_the_cli_runs_a_trip_with_faults(hhu, capsys):
    hhu.load()
    parser = argparse.ArgumentParser()
    add_field_trip_commands(parser.add_subparsers())
    args = parser.parse_args(["field-trip", "--flash", str(hhu.flash.root), "--id", "HHU-001",
                              "--key-file", str(hhu.store.key_path("HHU-001")),
                              "--fleet", str(DEMO_FLEET), "--faults", "no-access=41200017",
                              "--start", "2026-11-20T08:00:00"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "41200017     no_access" in out
    assert "3 visit(s) (2 done, 1 no_access)" in out


def test_an_unknown_hhusim_field_trip_mode_is_refused(tmp_path, hhu):
    port = Serial.__new__(Serial)
    port._port = (f"hhusim://HHU-001?flash={hhu.flash.root}&key="
                  f"{hhu.store.key_path('HHU-001')}&field_trip=teleport")
    port.device = object()
    with pytest.raises(SerialException, match="fleet:PATH"):
        port._field_trip()


def test_hhus_sharing_a_fleet_state_find_the_meters_as_the_other_left_them(tmp_path, catalog):
    shared = tmp_path / "fleet" / "state.json"
    north = Hhu(tmp_path / "one", catalog, "HHU-001")
    north.load()
    north.trip(T1, state_path=shared)                 # programs 35100001, reads after
    other = Hhu(tmp_path / "two", catalog, "HHU-002")
    route = dataclasses.replace(other.inputs.lists["route-north-2026-11"], hhu="HHU-002")
    other.inputs.lists["route-north-2026-11"] = route
    other.load()
    other.trip(T2, state_path=shared)
    regs = {r[0]: r[1] for r in by_meter(other.upload_visits())["35100001"]["registers"]}
    assert "1.8.3" in regs           # HHU-001's tariff was running before HHU-002 came
    state = json.loads(shared.read_text())
    assert state["meters"]["35100001"]["now"] == "2026-11-27T09:00:00"
    assert not (other.flash.root / STATE_FILE).exists()


def test_a_fleet_state_held_by_another_trip_is_waited_for_then_refused(tmp_path):
    state = tmp_path / "state.json"
    with state_lock(state):
        with pytest.raises(FleetError, match="another field trip held the fleet state"):
            with state_lock(state, wait_s=0.1):
                pass
    with state_lock(state, wait_s=0.1):          # free again once the first trip is done
        pass
