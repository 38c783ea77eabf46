"""A docking's exports bill only what passed every check (issue 12, points 12 and 17)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta

from hhu_sync.keys import load_key_file
from hhu_sync.transfer import encode_transfer
from tests.integration.test_daemon_docks import SCHEMES, Depot, dock

LIST = "route-north-2026-11"


def test_a_field_trip_in_the_demo_way_is_billed_ok_with_no_finding(tmp_path, capsys):
    depot = Depot(tmp_path, dock("cradle-1", "HHU-001"))
    depot.drop(*SCHEMES, "route-north.toml")
    assert depot.run(capsys) == 0
    trip = depot.field_trip("HHU-001")             # no start: the HHU's own clock
    assert depot.run(capsys) == 0
    assert depot.count("SELECT COUNT(*) FROM readings WHERE status='ok'") == trip.readings
    assert depot.count("SELECT COUNT(*) FROM exceptions") == 0


def test_the_per_upload_export_never_writes_a_bad_reading_as_ok(tmp_path, capsys):
    depot = Depot(tmp_path, dock("cradle-1", "HHU-001"))
    depot.drop(*SCHEMES, "route-north.toml")
    assert depot.run(capsys) == 0
    now = datetime.now(UTC).replace(microsecond=0)
    t, later = now.isoformat(), (now + timedelta(hours=1)).isoformat()
    visits = [
        {"meter": "35100001", "list": LIST, "time": t, "outcome": "done",
         "registers": [["1.8.0", "001846.0", "kWh", t], ["1.8.1", "NaN", "kWh", t]]},
        {"meter": "35100002", "list": LIST, "time": later, "outcome": "done",
         "registers": [["1.8.0", "000100.0", "kWh", later]]},
        {"meter": "99999999", "list": LIST, "time": t, "outcome": "done",
         "registers": [["1.8.0", "000200.0", "kWh", t]]},
        {"meter": "41200017", "list": "", "time": t, "outcome": "done",
         "registers": [["1.8.0", "000300.0", "kWh", t]]},
    ]
    key = load_key_file(depot.root / "var" / "keystore" / "hhus" / "HHU-001.key")
    depot.flash("HHU-001").store_upload("R-X", encode_transfer(
        "readings", {"upload_id": "R-X", "visits": visits}, source="HHU-001",
        target="DEPOT-T", key=key, bundle_id="R-X"))
    assert depot.run(capsys) == 0
    exports = depot.root / "var" / "exports"
    with (exports / "R-X.csv").open() as fh:
        rows = {(r["meter"], r["value"]): r["status"] for r in csv.DictReader(fh)}
    assert rows == {("35100001", "001846.0"): "ok", ("99999999", "000200.0"): "not_on_list",
                    ("41200017", "000300.0"): "no_list"}
    cmep = (exports / "R-X.cmep").read_text()
    assert "35100001:1.8.0" in cmep and "99999999" not in cmep and "41200017" not in cmep
    store = depot.store()
    kinds = {r[0] for r in store._db().execute("SELECT kind FROM exceptions")}
    store.close()
    assert {"bad_value", "time_in_future", "not_on_list"} <= kinds
    assert depot.count("SELECT COUNT(*) FROM readings WHERE value='NaN'") == 0
