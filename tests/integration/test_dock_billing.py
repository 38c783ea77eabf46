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


def _sealed_raw(body: bytes, key: bytes, upload_id: str) -> bytes:
    """A readings file with an honest header, digest and seal around any payload bytes."""
    import hashlib
    import hmac
    import struct
    import zlib

    import msgpack

    from hhu_sync.transfer import MAGIC
    stored = zlib.compress(body, 9)
    head = msgpack.packb({"kind": "readings", "bundle_id": upload_id,
                          "created": datetime.now(UTC).isoformat(timespec="seconds"),
                          "source": "HHU-001", "target": "DEPOT-T", "compression": "zlib",
                          "expanded_size": len(body), "manifest": []})
    out = struct.pack(">8sHHIQ", MAGIC, 1, 0, len(head), len(stored)) + head + stored
    out += hashlib.sha256(out).digest()
    return out + hmac.new(key, out, hashlib.sha256).digest()


def test_hostile_uploads_over_a_docking_bill_nothing_wrong_and_end_nothing(tmp_path, capsys):
    """Round two's variants, over a simulated cradle: an object bomb with a valid seal is
    refused and left on the HHU; a reading stamped away from its visit, a second value
    for an instant another HHU already gave, and readings on a cancelled list are not
    billed; the daemon goes on and the good upload is taken."""
    depot = Depot(tmp_path, dock("cradle-1", "HHU-001") + dock("cradle-2", "HHU-002"))
    depot.drop(*SCHEMES, "route-north.toml")
    assert depot.run(capsys) == 0
    now = datetime.now(UTC).replace(microsecond=0)
    t = now.isoformat()
    year_ago = (now - timedelta(days=365)).isoformat()
    keys = {h: load_key_file(depot.root / "var" / "keystore" / "hhus" / f"{h}.key")
            for h in ("HHU-001", "HHU-002")}
    bomb = b"\x81\xa6visits\xdd" + (4_000_000).to_bytes(4, "big") + b"\x80" * 4_000_000
    depot.flash("HHU-001").store_upload("R-BOMB", _sealed_raw(bomb, keys["HHU-001"],
                                                              "R-BOMB"))
    first = [{"meter": "35100001", "list": LIST, "time": t, "outcome": "done",
              "registers": [["1.8.0", "001846.0", "kWh", t],
                            ["1.8.1", "000001.0", "kWh", year_ago]]}]
    depot.flash("HHU-001").store_upload("R-A", encode_transfer(
        "readings", {"upload_id": "R-A", "visits": first}, source="HHU-001",
        target="DEPOT-T", key=keys["HHU-001"], bundle_id="R-A"))
    assert depot.run(capsys) == 0
    assert [u.upload_id for u in depot.flash("HHU-001").uploads()] == ["R-BOMB"]
    other = [{"meter": "35100001", "list": LIST, "time": t, "outcome": "done",
              "registers": [["01.08.00", "000999.0", "kWh", t]]}]
    depot.flash("HHU-002").store_upload("R-B", encode_transfer(
        "readings", {"upload_id": "R-B", "visits": other}, source="HHU-002",
        target="DEPOT-T", key=keys["HHU-002"], bundle_id="R-B"))
    assert depot.run(capsys) == 0
    assert depot.flash("HHU-002").uploads() == []
    assert depot.count("SELECT COUNT(*) FROM readings WHERE status='ok'") == 0
    assert depot.count("SELECT COUNT(*) FROM readings WHERE status='conflict'") == 1
    assert depot.count("SELECT COUNT(*) FROM readings WHERE value='000001.0'") == 0
    kinds = {r[0] for r in depot.store()._db().execute("SELECT kind FROM exceptions")}
    assert {"time_off_visit", "conflict"} <= kinds
    assert [u.upload_id for u in depot.flash("HHU-001").uploads()] == ["R-BOMB"]
