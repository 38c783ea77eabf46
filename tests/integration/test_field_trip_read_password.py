"""A read-only entry that asks for the load profile opens the meter with the reading
password its list names (``read_password_ref``), sealed into the bundle for the HHU
(issue 15, point 4). Without one, a meter that is not on the default reading password
refuses, once, and the depot records the visit as ``password_rejected``."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import msgpack
import pytest

from hhu_firmware_sim.field_trip import fleet_trip, load_field_fleet, load_state
from hhu_firmware_sim.flash import FlashStore
from hhu_sync.dock.readings import check_upload
from hhu_sync.keys import KeyStore
from hhu_sync.model.inputs import load_inputs
from hhu_sync.packing import Packer, PackError
from hhu_sync.store import open_store
from hhu_sync.transfer import decode_transfer

T1 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
SERIAL = "35100002"
READ_PASSWORD = "RD-07731"       # the meter's reading password: not the default 00000000
FLEET = f"""
[[meters]]
serial = "{SERIAL}"
model = "A1700"
passwords = {{ 1 = "DEMO-L1", 3 = "DEMO-L3" }}
read_password = "{READ_PASSWORD}"
start = 2026-11-01T00:00:00
load_kw = "96.0"
"""
LIST = f"""
[list]
id = "route-read-2026-11"
hhu = "HHU-001"
due = 2026-12-04

[[meters]]
serial = "{SERIAL}"
site = "Northgate Cold Store"
model = "A1700"
task = "read"
profile = true
events = true
since = 2026-11-18
"""


class Depot:
    """A depot (key store, database) and one HHU with its flash, for one list."""

    def __init__(self, root: Path, catalog, list_text: str,
                 secrets: dict[str, str]) -> None:
        self.root = root
        self.keys = KeyStore(root / "keystore")
        self.keys.enroll("HHU-001")
        for name, value in secrets.items():
            self.keys.set_secret(name, value)
        self.key = self.keys.hhu_key("HHU-001")
        (root / "fleet.toml").write_text(FLEET)
        (root / "list.toml").write_text(list_text)
        inputs = load_inputs([root / "list.toml"], catalog)
        assert not inputs.problems, inputs.problems
        (self.mlist,) = inputs.lists.values()
        self.store = open_store(root / "depot.db")
        self.store.add_meter_list(self.mlist, T1.isoformat())
        self.flash = FlashStore(root / "flash")

    def pack(self) -> bytes:
        package = Packer(self.store, self.keys, "DEPOT").seal("meter_list", "HHU-001",
                                                              mlist=self.mlist)
        self.flash.store_bundle(package.bundle_id, package.data)
        return package.data

    def trip(self) -> tuple[dict, object]:
        fleet_trip(self.flash, "HHU-001", self.key, self.root / "fleet.toml", start=T1)
        (entry,) = self.flash.uploads()
        data = self.flash.read_upload(entry.upload_id)
        (visit,) = decode_transfer(data, self.key).payload["visits"]
        upload = check_upload(data, hhu_id="HHU-001", hhu_key=self.key,
                              upload_id=entry.upload_id, received_at=T1)
        self.store.ingest(upload, T1.isoformat())
        return visit, self.meter()

    def meter(self):
        field = load_field_fleet(self.root / "fleet.toml")
        load_state(field.fleet, self.flash.root / "fleet-state.json")
        (meter,) = field.fleet.meters
        return meter

    def recorded(self) -> list[dict]:
        return self.store.list_view(self.mlist.id)["visits"]

    def held_bytes(self) -> bytes:
        """Everything the depot's database holds on disk (the WAL too)."""
        self.store.close()
        return b"".join(p.read_bytes() for p in self.root.glob("depot.db*"))


@pytest.fixture
def with_ref(tmp_path, catalog) -> Depot:
    text = LIST.replace('since = 2026-11-18',
                        'since = 2026-11-18\nread_password_ref = "a1700-read"')
    return Depot(tmp_path, catalog, text, {"a1700-read": READ_PASSWORD})


def test_an_entry_with_its_reading_password_reads_the_profile(with_ref):
    with_ref.pack()
    visit, meter = with_ref.trip()
    assert visit["outcome"] == "done", visit["notes"]
    assert visit["profiles"] and visit["registers"]
    assert meter.failed_logins == 0
    (recorded,) = with_ref.recorded()
    assert recorded["outcome"] == "done"
    assert with_ref.store.intervals(SERIAL)


def test_the_reading_password_is_sealed_never_in_clear(with_ref, caplog):
    caplog.set_level(logging.DEBUG)
    data = with_ref.pack()
    secret = READ_PASSWORD.encode()
    assert secret not in data
    payload = decode_transfer(data, with_ref.key).payload
    plain = msgpack.packb(payload, use_bin_type=True)       # the payload decompressed
    assert secret not in plain and b"a1700-read" in plain
    (entry,) = payload["meter_list"]["meters"]
    assert entry["read_password"]["secret"] == "a1700-read"
    assert set(entry["read_password"]["enc"]) == {"alg", "nonce", "ct"}
    assert "read_password_ref" not in entry
    with_ref.trip()
    for upload in with_ref.flash.uploads():        # nor does the HHU send it home
        home = decode_transfer(with_ref.flash.read_upload(upload.upload_id), with_ref.key)
        assert secret not in msgpack.packb(home.payload, use_bin_type=True)
    assert caplog.records and READ_PASSWORD not in caplog.text
    held = with_ref.held_bytes()
    assert secret not in held and b"a1700-read" in held       # the name, not the password


def test_without_it_the_meter_refuses_once_and_the_depot_records_it(tmp_path, catalog):
    depot = Depot(tmp_path, catalog, LIST, {})
    depot.pack()
    visit, meter = depot.trip()
    assert visit["outcome"] == "password_rejected"
    assert "default reading password" in visit["notes"]
    assert visit["registers"] and not visit.get("profiles")   # the readout needs none
    assert meter.failed_logins == 1                             # one try, no second guess
    (recorded,) = depot.recorded()
    assert recorded["outcome"] == "password_rejected"
    assert "load profile not read" in recorded["notes"]
    assert not depot.store.intervals(SERIAL)


def test_a_wrong_reading_password_is_rejected_and_named_not_shown(tmp_path, catalog):
    text = LIST.replace('since = 2026-11-18',
                        'since = 2026-11-18\nread_password_ref = "a1700-read"')
    depot = Depot(tmp_path, catalog, text, {"a1700-read": "WRONG-PW"})
    depot.pack()
    visit, meter = depot.trip()
    assert visit["outcome"] == "password_rejected"
    assert "a1700-read" in visit["notes"] and "WRONG-PW" not in visit["notes"]
    assert meter.failed_logins == 1


def test_an_unknown_reference_is_refused_at_pack_naming_the_entry(tmp_path, catalog):
    text = LIST.replace('since = 2026-11-18',
                        'since = 2026-11-18\nread_password_ref = "no-such-secret"')
    depot = Depot(tmp_path, catalog, text, {})
    with pytest.raises(PackError) as err:
        depot.pack()
    message = str(err.value)
    assert "meters[0] (meter 35100002).read_password_ref" in message
    assert "'no-such-secret' is not in the key store" in message
    assert not list(depot.flash.bundles())


def test_pack_on_the_command_line_names_the_file_and_field(tmp_path, monkeypatch, capsys):
    from hhu_sync.cli import main

    (tmp_path / "hhu-sync.toml").write_text("[depot]\nid = 'DEPOT-N'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HHU_SYNC_CONFIG", raising=False)
    assert main(["enroll", "HHU-001"]) == 0
    (tmp_path / "list.toml").write_text(LIST.replace(
        'since = 2026-11-18', 'since = 2026-11-18\nread_password_ref = "a1700-read"'))
    capsys.readouterr()
    assert main(["pack", "list.toml", "--hhu", "HHU-001"]) == 1
    err = capsys.readouterr().err
    assert "list.toml" in err and "read_password_ref" in err
    assert "hhu-sync secret set a1700-read" in err
    monkeypatch.setattr("sys.stdin", io.StringIO(READ_PASSWORD + "\n"))
    assert main(["secret", "set", "a1700-read"]) == 0
    assert main(["pack", "list.toml", "--hhu", "HHU-001", "-o", "l.hhux"]) == 0
    assert READ_PASSWORD.encode() not in (tmp_path / "l.hhux").read_bytes()
    capsys.readouterr()
    assert main(["inspect", "l.hhux", "--json", "--key-file",
                 "var/keystore/hhus/HHU-001.key"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["read_passwords"] == [
        {"meter": SERIAL, "secret": "a1700-read", "state": "encrypted, decrypts with this key"}]
    assert READ_PASSWORD not in out


def test_a_refused_read_does_not_undo_the_programming_of_a_read_program_visit(tmp_path,
                                                                             catalog):
    """Programming decides a read+program visit's outcome: the depot takes a scheme as
    in force only from ``done`` with ``verify = ok``; the refused read is in the notes."""
    import dataclasses

    from tests.integration.test_field_trip import T1 as DEMO_T1
    from tests.integration.test_field_trip import Hhu

    hhu = Hhu(tmp_path, catalog)
    hhu.store.set_secret("wrong-read", "NOT-IT-1")
    mlist = hhu.inputs.lists["route-north-2026-11"]
    hhu.inputs.lists[mlist.id] = dataclasses.replace(mlist, meters=tuple(
        dataclasses.replace(m, profile=True, read_password_ref="wrong-read")
        for m in mlist.meters))
    hhu.load()
    result = hhu.trip(DEMO_T1)
    assert dict(result.outcomes) == {"35100001": "done", "35100002": "password_rejected",
                                     "41200017": "done"}
    visit = {v["meter"]: v for v in hhu.upload_visits()}["35100001"]
    assert visit["verify"] == "ok" and not visit.get("profiles")
    assert "refused the reading password wrong-read" in visit["notes"]
