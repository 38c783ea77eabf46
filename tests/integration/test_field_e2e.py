"""Issue 5, done when: outbox → daemon → simulated HHU → field trip over IEC 62056-21 to
the simulated fleet → docked again → database, meters and exports agree."""

from __future__ import annotations

import csv
import json

from hhu_firmware_sim.field_trip import STATE_FILE, load_field_fleet, load_state
from hhu_firmware_sim.meter import TouTable
from hhu_firmware_sim.meter.meter import UNITY
from hhu_sync.model.inputs import load_inputs
from tests.conftest import EXAMPLES, ROOT
from tests.integration.test_daemon_docks import SCHEMES, SECRETS, Depot, dock

# The demo fleet, with the passwords the depot's key store holds in these tests.
_DEMO_PASSWORDS = {"DEMO-L1": SECRETS["a1700-level1"], "DEMO-L3": SECRETS["a1700-level3"],
                   "DEMO-L2": SECRETS["a1140-level2"], "DEMO-R1": SECRETS["as230-level1"]}


def write_fleet(path) -> None:
    text = (ROOT / "config" / "demo-fleet.toml").read_text()
    for demo, test in _DEMO_PASSWORDS.items():
        text = text.replace(f'"{demo}"', f'"{test}"')
    path.write_text(text.replace('"../schemes/examples/', f'"{EXAMPLES}/'))


def test_lists_go_out_meters_get_programmed_and_readings_come_back(tmp_path, capsys,
                                                                   catalog):
    fleet = tmp_path / "fleet.toml"
    write_fleet(fleet)
    trip = f"&field_trip=fleet:{fleet}"
    depot = Depot(tmp_path, dock("cradle-1", "HHU-001", trip) + dock("cradle-2", "HHU-002",
                                                                       trip))
    depot.drop(*SCHEMES, "route-north.toml", "route-south.csv")
    for _ in range(3):                         # push; trip on undocking; pull (bounded)
        assert depot.run(capsys) == 0
        if depot.count("SELECT COUNT(*) FROM lists WHERE state = 'complete'") == 2:
            break
    assert depot.count("SELECT COUNT(*) FROM lists WHERE state = 'complete'") == 2
    # The only exceptions: validation findings on the load profiles (the gaps of the
    # fleet's outages; tests/integration/test_demo_profiles.py has them in detail).
    assert depot.count("SELECT COUNT(*) FROM exceptions WHERE kind != 'interval_validation'"
                       ) == 0

    store = depot.store()
    try:
        db = store._db()
        readings = db.execute("SELECT meter, obis, time, value, unit, status FROM readings"
                              ).fetchall()
        visited_by = dict(db.execute("SELECT DISTINCT meter, hhu FROM readings"))
        visits = {r[0]: r[1:] for r in db.execute(
            "SELECT meter, outcome, scheme, verify, error_flags FROM visits")}
        # Issue 12.18, round 3: the proof of the ratios the A1700 holds came with its visit
        ratios = dict(db.execute("SELECT meter, ratios FROM visits"))
    finally:
        store.close()

    meters = {}                                # each HHU keeps its own copy of the fleet
    for hhu in ("HHU-001", "HHU-002"):
        field = load_field_fleet(fleet)
        assert load_state(field.fleet, depot.flash(hhu).root / STATE_FILE) == 6
        meters.update({m.serial: m for m in field.fleet.meters if visited_by[m.serial] == hhu})
    # The database holds what the meters' registers said at the visit (each visit read
    # before it programmed the CT/VT ratios into the A1700s).
    for m in meters.values():
        m.ct_ratio = m.vt_ratio = UNITY
    assert len(visits) == 6 and len(readings) >= 6 * 4
    for meter, obis, _time, value, unit, status in readings:
        values = meters[meter].register_value(obis)
        assert values[0].text == value and (values[0].unit or "") == unit, (meter, obis)
        assert status == "ok"
    # The meters hold the schemes' tariffs.
    schemes = load_inputs([EXAMPLES], catalog).schemes
    for serial, scheme_id in (("35100001", "a1700-ci-tou-2026"),
                              ("41200017", "a1140-day-night"), ("23000102", "as230-flat")):
        assert visits[serial] == ("done", scheme_id, "ok", "00000000")
        assert meters[serial].tou == TouTable.from_scheme(schemes[scheme_id])
    assert visits["35100002"][3] == "00000001"
    assert json.loads(ratios["35100001"]) == {"ct": "400/5", "vt": "11000/110"}
    assert ratios["41200017"] is None                  # the A1140 takes no ratios
    # The exports list the readings.
    exports = depot.root / "var" / "exports"
    registers = [p for p in exports.glob("R-*.csv") if not p.name.endswith(".intervals.csv")]
    rows = []
    for path in registers:
        with open(path, newline="") as fh:
            rows += [(r["meter"], r["obis"], r["time"], r["value"]) for r in csv.DictReader(fh)]
    assert sorted(rows) == sorted((m, o, t, v) for m, o, t, v, _, _ in readings)
    cmep = "".join(p.read_text() for p in exports.glob("R-*.cmep")
                   if not p.name.endswith(".intervals.cmep"))
    assert "35100001:1.8.0" in cmep and "23000103:1.8.1" in cmep
    # Issue 12, point 18: what a billing clerk needs is beside each reading.
    clerk = {}
    for path in registers:
        with open(path, newline="") as fh:
            clerk.update({(r["meter"], r["obis"]): r for r in csv.DictReader(fh)})
    day = clerk["35100001", "1.8.1"]
    assert (day["site"], day["list_id"], day["rate"]) == (
        "Acme Foundry", "route-north-2026-11", "Day")
    assert (day["multiplier"], day["value_basis"]) == ("8000", "secondary")
    assert clerk["35100001", "1.6.0"]["value_time"]               # the MD's own time
    assert {r["status"] for k, r in clerk.items() if k[0] == "35100002"} == {"battery_low"}
    assert "35100002:" not in cmep                 # flagged: not written as valid to CMEP
