"""A damaged or hostile bundle never ends a field trip (issue 12, round 2).

Every entry of a bundle's meter list and schemes that cannot be used makes that meter's
visit fail with a reason (or, with no serial to record it under, is refused and logged);
the other meters are visited as usual and the upload is stored.
"""

from __future__ import annotations

import logging
from typing import Any

from hhu_firmware_sim.field_trip import run_trip, synthetic_visit
from hhu_firmware_sim.flash import FlashStore
from hhu_sync.model.catalog import load_catalog
from hhu_sync.model.loader import load_toml
from hhu_sync.model.scheme import parse_scheme
from hhu_sync.transfer import decode_transfer, encode_transfer
from hhu_sync.transfer.secrets import encrypt_password
from tests.conftest import EXAMPLES, ROOT

KEY = b"k" * 32
HHU = "HHU-001"
BUNDLE = "B-1"


def _scheme(scheme_id: str, *, bad_password: bool = False) -> dict[str, Any]:
    data, locate = load_toml(EXAMPLES / "a1700-ci-tou.toml")
    scheme = parse_scheme(data, "s", load_catalog(ROOT / "config" / "meter-models.toml"),
                          locate)
    out = scheme.to_dict()
    out["id"] = scheme_id
    enc = encrypt_password(KEY, bundle_id=BUNDLE, target=HHU, name="pw", password="FEDC0003")
    if bad_password:
        enc = {**enc, "ct": bytes(len(enc["ct"]))}       # altered: does not decrypt
    out["passwords"] = [{"level": 3, "secret": "pw", "enc": enc}]
    return out


def _entry(serial: str, task: str = "read", scheme: str | None = None) -> dict[str, Any]:
    return {"serial": serial, "site": "", "address": "", "task": task, "scheme": scheme,
            "model": None, "notes": ""}


def _flash(tmp_path, meters: list[dict], schemes: list[dict]) -> FlashStore:
    flash = FlashStore(tmp_path / "flash")
    payload = {"meter_list": {"id": "L1", "name": "", "hhu": HHU, "crew": None,
                              "due": "2026-11-30", "notes": "", "meters": meters},
               "schemes": schemes}
    flash.store_bundle(BUNDLE, encode_transfer("meter_list", payload, source="DEPOT",
                                               target=HHU, key=KEY, bundle_id=BUNDLE))
    return flash


def _visits(flash: FlashStore) -> dict[str, dict]:
    (entry,) = flash.uploads()
    payload = decode_transfer(flash.read_upload(entry.upload_id), KEY).payload
    return {v["meter"]: v for v in payload["visits"]}


def test_a_bad_password_record_fails_only_the_visits_that_need_it(tmp_path, caplog):
    flash = _flash(tmp_path, [_entry("M1", "program", "BAD"), _entry("M2"),
                              _entry("M3", "read+program", "BAD"),
                              _entry("M4", "program", "GOOD")],
                   [_scheme("BAD", bad_password=True), _scheme("GOOD")])
    with caplog.at_level(logging.WARNING, "hhu_firmware_sim.field_trip"):
        result = run_trip(flash, HHU, KEY)
    visits = _visits(flash)
    assert set(visits) == {"M1", "M2", "M3", "M4"} and result.visits == 4
    for serial in ("M1", "M3"):
        assert visits[serial]["outcome"] == "verify_failed"
        assert visits[serial]["verify"] == "failed" and visits[serial]["scheme"] == "BAD"
        assert "BAD" in visits[serial]["notes"] and "decrypt" in visits[serial]["notes"]
    assert visits["M3"]["registers"]                 # read+program: the read still made
    assert visits["M1"]["registers"] == []
    assert visits["M2"]["outcome"] == "done" and visits["M4"]["outcome"] == "done"
    assert "BAD" in caplog.text
    assert flash.bundles() == []                     # the route is done


def test_entries_that_cannot_be_visited_fail_with_a_reason(tmp_path):
    flash = _flash(tmp_path, [_entry("M1", "explode"), _entry("M2", "program", "MISSING"),
                              _entry(""), _entry("M4")], [])
    result = run_trip(flash, HHU, KEY)
    visits = _visits(flash)
    assert set(visits) == {"M1", "M2", "M4"}
    assert visits["M1"]["outcome"] != "done" and "explode" in visits["M1"]["notes"]
    assert visits["M2"]["outcome"] == "verify_failed" and "MISSING" in visits["M2"]["notes"]
    assert visits["M4"]["outcome"] == "done"
    assert any("meters[2]" in p for p in result.problems)


def test_a_visitor_that_raises_fails_that_visit_only(tmp_path):
    flash = _flash(tmp_path, [_entry("M1"), _entry("M2"), _entry("M3")], [])

    def visit(entry, scheme, when):
        if entry["serial"] == "M2":
            raise KeyError("registers")
        return synthetic_visit(entry, scheme, when)

    run_trip(flash, HHU, KEY, visit=visit)
    visits = _visits(flash)
    assert visits["M1"]["outcome"] == visits["M3"]["outcome"] == "done"
    assert visits["M2"]["outcome"] != "done" and "KeyError" in visits["M2"]["notes"]


def test_a_bundle_that_does_not_decode_is_refused_and_logged(tmp_path, caplog):
    flash = _flash(tmp_path, [_entry("M1")], [])
    flash.store_bundle("B-0", b"\x00" * 64)
    with caplog.at_level(logging.WARNING, "hhu_firmware_sim.field_trip"):
        result = run_trip(flash, HHU, KEY)
    assert result.lists == ("L1",)
    assert any("B-0" in p for p in result.problems) and "B-0" in caplog.text


def test_a_bundle_whose_bytes_are_gone_is_refused_and_the_others_run(tmp_path):
    flash = _flash(tmp_path, [_entry("M1")], [])
    flash.store_bundle("B-0", b"x")
    flash._bin_path("B-0").unlink()          # its record survives, its bytes do not
    result = run_trip(flash, HHU, KEY)
    assert result.lists == ("L1",)
    assert any("B-0" in p for p in result.problems)
