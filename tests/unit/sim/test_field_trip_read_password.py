"""The HHU opens a list entry's reading password with its own key and hands it to the
visit; which password a programming-mode read tries, and what a record that does not
open costs (issue 15, point 4)."""

from __future__ import annotations

from typing import Any

import pytest

from hhu_firmware_sim.field_trip import read_password, run_trip
from hhu_firmware_sim.flash import FlashStore
from hhu_sync.errors import TransferError
from hhu_sync.transfer import decode_transfer, encode_transfer
from hhu_sync.transfer.secrets import encrypt_password

KEY = b"k" * 32
HHU = "HHU-001"
BUNDLE = "B-1"


def _entry(serial: str, record: dict[str, Any] | None = None) -> dict[str, Any]:
    entry = {"serial": serial, "site": "", "address": "", "task": "read", "scheme": None,
             "model": None, "notes": "", "profile": True}
    if record is not None:
        entry["read_password"] = record
    return entry


def _record(name: str = "rd", password: str = "RD-07731", **change: Any) -> dict[str, Any]:
    enc = encrypt_password(KEY, bundle_id=BUNDLE, target=HHU, name=name, password=password)
    return {"secret": name, "enc": {**enc, **change}}


def _flash(tmp_path, meters: list[dict]) -> FlashStore:
    flash = FlashStore(tmp_path / "flash")
    payload = {"meter_list": {"id": "L1", "name": "", "hhu": HHU, "crew": None,
                              "due": "2026-11-30", "notes": "", "meters": meters}}
    flash.store_bundle(BUNDLE, encode_transfer("meter_list", payload, source="DEPOT",
                                               target=HHU, key=KEY, bundle_id=BUNDLE))
    return flash


def test_the_visit_gets_the_opened_password_and_a_bad_record_costs_the_profile_only(tmp_path):
    seen: dict[str, dict] = {}

    def visit(entry, scheme, when):
        seen[entry["serial"]] = entry
        return {"meter": entry["serial"], "time": when.isoformat(), "outcome": "done",
                "registers": [["1.8.0", "1.0", "kWh", when.isoformat()]],
                "error_flags": None, "scheme": None, "verify": None, "notes": ""}

    bad = _record(ct=bytes(24))                               # altered: does not open
    flash = _flash(tmp_path, [_entry("M1", _record()), _entry("M2", bad), _entry("M3")])
    result = run_trip(flash, HHU, KEY, visit=visit)
    assert result.visits == 3
    assert seen["M1"]["read_password"] == {"secret": "rd", "password": "RD-07731"}
    assert seen["M1"]["profile"] is True
    assert "read_password" not in seen["M2"] and seen["M2"]["profile"] is False
    assert "read_password" not in seen["M3"] and seen["M3"]["profile"] is True
    (upload,) = flash.uploads()
    visits = {v["meter"]: v for v in
              decode_transfer(flash.read_upload(upload.upload_id), KEY).payload["visits"]}
    assert visits["M2"]["outcome"] == "done" and visits["M2"]["registers"]
    assert "reading password record does not open" in visits["M2"]["notes"]


def test_a_record_of_the_wrong_shape_refuses_the_bundle_naming_the_field():
    data = encode_transfer("meter_list", {"meter_list": {
        "id": "L1", "name": "", "hhu": HHU, "crew": None, "due": "2026-11-30", "notes": "",
        "meters": [_entry("M1", {"secret": "rd", "enc": "RD-07731"})]}},
        source="DEPOT", target=HHU, key=KEY, bundle_id=BUNDLE)
    with pytest.raises(TransferError, match=r"meters\[0\]\.read_password\.enc"):
        decode_transfer(data, KEY)


SCHEME = {"id": "S", "passwords": [{"level": 1, "secret": "l1", "password": "L1"},
                                   {"level": 3, "secret": "l3", "password": "L3"}]}


@pytest.mark.parametrize("entry, scheme, expected, words", [
    ({"read_password": {"secret": "rd", "password": "RD"}}, SCHEME, "RD",
     "the reading password rd"),
    ({}, SCHEME, "L3", "the scheme's level 3 password l3"),
    ({}, None, "00000000", "the default reading password"),
    ({}, {"id": "S", "passwords": []}, "00000000", "the default reading password"),
])
def test_the_entrys_password_then_the_schemes_highest_then_the_default(entry, scheme,
                                                                       expected, words):
    assert read_password(entry, scheme) == (expected, words)   # words name, never show
