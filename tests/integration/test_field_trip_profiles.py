"""The field trip reads the load profile and events a list entry asks for (issue 15,
point 4), carries them home in upload version 3, and the depot stores them once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hhu_sync.dock.readings import check_upload
from hhu_sync.store import open_store
from hhu_sync.transfer import decode_transfer
from tests.conftest import EXAMPLES
from tests.integration.test_field_trip import DEMO_FLEET, T1, Hhu

SINCE = "2026-11-18"
SINCE_UTC = int(datetime(2026, 11, 18, tzinfo=UTC).timestamp())


def _asking(hhu: Hhu, list_id: str = "route-north-2026-11", **options):
    mlist = hhu.inputs.lists[list_id]
    meters = tuple(dataclasses.replace(m, **options) if m.task != "program" else m
                   for m in mlist.meters)
    hhu.inputs.lists[list_id] = dataclasses.replace(mlist, meters=meters)
    return meters


def test_a_trip_brings_profiles_and_events_home_and_the_depot_keeps_them_once(tmp_path,
                                                                              catalog):
    hhu = Hhu(tmp_path, catalog)
    meters = _asking(hhu, profile=True, events=True, since=SINCE)
    hhu.load()
    hhu.trip(T1)
    (entry,) = hhu.flash.uploads()
    data = hhu.flash.read_upload(entry.upload_id)
    payload = decode_transfer(data, hhu.key).payload
    assert payload["version"] == 3
    # The profile is read in programming mode: with the password of the scheme the
    # visit carries, or (a read-only entry carries none) the factory reading password,
    # which the demo's read-only meter 35100002 keeps.
    carried = {v["meter"]: v for v in payload["visits"] if v.get("profiles")}
    assert set(carried) == {m.serial for m in meters if m.profile} == \
        {"35100001", "35100002", "41200017"}
    upload = check_upload(data, hhu_id=hhu.hhu, hhu_key=hhu.key, upload_id=entry.upload_id,
                          received_at=T1)
    ends = [end for _, series in upload.profiles for end, _, _ in series.intervals()]
    assert ends and min(ends) > SINCE_UTC
    visited = {v.seq: int(datetime.fromisoformat(v.time).timestamp()) for v in upload.visits}
    for seq, series in upload.profiles:   # no interval still running at the visit
        assert max(end for end, _, _ in series.intervals()) <= visited[seq]
    store = open_store(tmp_path / "depot.db")
    try:
        first = store.ingest(upload, T1.isoformat())
        assert first.intervals_stored == len(ends)
        again = store.ingest(upload, T1.isoformat())
        assert again.intervals_stored == 0
        serial = next(iter(carried))
        held = store.intervals(serial)
        assert held and all(h.interval_end > SINCE_UTC for h in held)
        assert store.last_interval_ends(serial)
    finally:
        store.close()


def test_a_read_only_entry_at_a_meter_off_the_factory_reading_password_keeps_its_registers(
        tmp_path, catalog):
    # A read-only entry without a read_password_ref tries the factory reading password:
    # a meter whose password was changed refuses the profile read, and the visit is
    # password_rejected, keeps its registers and says why
    # (test_field_trip_read_password.py: the entry that names the secret reads it).
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(DEMO_FLEET.read_text().replace('1 = "00000000"', '1 = "DEMO-L1"')
                     .replace('"../schemes/examples/', f'"{EXAMPLES}/'))
    hhu = Hhu(tmp_path, catalog)
    meters = _asking(hhu, profile=True, events=True, since=SINCE)
    hhu.load()
    hhu.trip(T1, fleet)
    (entry,) = hhu.flash.uploads()
    visits = {v["meter"]: v for v in
              decode_transfer(hhu.flash.read_upload(entry.upload_id), hhu.key).payload["visits"]}
    assert {s for s, v in visits.items() if v.get("profiles")} == \
        {m.serial for m in meters if m.profile and m.scheme}
    refused = visits["35100002"]
    assert refused["outcome"] == "password_rejected" and refused["registers"]
    assert not refused.get("profiles") and "load profile not read" in refused["notes"]


def test_entries_that_do_not_ask_bring_registers_only(tmp_path, catalog):
    hhu = Hhu(tmp_path, catalog)
    _asking(hhu, profile=False, events=False, since=None)   # the example list asks
    hhu.load()
    hhu.trip(T1)
    (entry,) = hhu.flash.uploads()
    payload = decode_transfer(hhu.flash.read_upload(entry.upload_id), hhu.key).payload
    assert "version" not in payload
    assert not any(v.get("profiles") for v in payload["visits"])


def test_the_exports_after_an_ingest_hold_the_interval_records(tmp_path, catalog):
    import csv

    from hhu_sync.dock.readings import export_stored

    hhu = Hhu(tmp_path, catalog)
    _asking(hhu, profile=True, events=True, since=SINCE)
    hhu.load()
    hhu.trip(T1)
    (entry,) = hhu.flash.uploads()
    upload = check_upload(hhu.flash.read_upload(entry.upload_id), hhu_id=hhu.hhu,
                          hhu_key=hhu.key, upload_id=entry.upload_id, received_at=T1)
    store = open_store(tmp_path / "depot.db")
    try:
        stored = store.ingest(upload, T1.isoformat()).intervals_stored
    finally:
        store.close()
    paths = export_stored(database=str(tmp_path / "depot.db"), upload_id=entry.upload_id,
                          folder=str(tmp_path / "exports"), sender="DEPOT")
    names = sorted(p.rsplit("/", 1)[1] for p in paths)
    assert names == sorted(f"{entry.upload_id}{suffix}" for suffix in
                           (".csv", ".cmep", ".intervals.csv", ".intervals.cmep"))
    rows = list(csv.reader(open(tmp_path / "exports" / f"{entry.upload_id}.intervals.csv")))
    assert len(rows) - 1 == stored and rows[1][3].endswith("Z")
    records = [next(csv.reader([line])) for line in
               open(tmp_path / "exports" / f"{entry.upload_id}.intervals.cmep")]
    assert records and {r[0] for r in records} == {"MEPMD01"}
    assert {r[12] for r in records} == {"00000030"}
    assert sum(int(r[13]) for r in records) == stored
    assert all(int(r[13]) <= 48 for r in records)


def _clocks_set_ahead(hhu: Hhu, ahead: dict[str, int]) -> None:
    """The fleet's meters as the trip will find them, some with a fast clock: a meter
    whose clock is ahead of the HHU's stays ahead (the visit never turns it back)."""
    from hhu_firmware_sim.field_trip import STATE_FILE, load_field_fleet, save_state
    from tests.integration.test_field_trip import DEMO_FLEET

    field = load_field_fleet(DEMO_FLEET)
    for m in field.fleet.meters:
        m.at(T1.replace(tzinfo=None) + timedelta(seconds=ahead.get(m.serial, 0)))
    save_state(field.fleet, hhu.flash.root / STATE_FILE)


def test_a_meter_clock_off_at_the_visit_is_a_clock_finding_within_tolerance_none(
        tmp_path, catalog):
    hhu = Hhu(tmp_path, catalog)
    meters = _asking(hhu, profile=True, events=True, since=SINCE)
    carrying = sorted(m.serial for m in meters if m.profile and m.scheme)
    assert len(carrying) >= 2
    fast, close = carrying[:2]
    _clocks_set_ahead(hhu, {fast: 2 * 3600 + 300, close: 2 * 3600 + 30})
    hhu.load()
    hhu.trip(T1 + timedelta(hours=2), minutes_per_visit=0)    # every meter at 10:00
    (entry,) = hhu.flash.uploads()
    data = hhu.flash.read_upload(entry.upload_id)
    visits = {v["meter"]: v for v in decode_transfer(data, hhu.key).payload["visits"]}
    assert visits[fast]["meter_clock"] == "2026-11-20T10:05:00+00:00"
    upload = check_upload(data, hhu_id=hhu.hhu, hhu_key=hhu.key, upload_id=entry.upload_id,
                          received_at=T1 + timedelta(hours=3))
    offsets = {v.meter: v.clock_offset_s for v in upload.visits}
    store = open_store(tmp_path / "depot.db")
    try:
        store.ingest(upload, T1.isoformat())
        clock = {m: [f for f in store.vee_findings(m) if f[0] == "clock_off"]
                 for m in (fast, close)}
    finally:
        store.close()
    (finding,) = clock[fast]
    assert offsets[fast] > 60 and f"meter clock {offsets[fast]:+d} s off" in finding[5]
    assert 0 < offsets[close] <= 60 and clock[close] == []
