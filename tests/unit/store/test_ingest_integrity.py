"""Billing integrity, second round: variants of the ingest defects that round one missed.

A reading's own time must be its visit's; one number written two ways is one reading;
two values for one instant are never billed on either side; a cancelled list bills
nothing; text that reorders what a reader sees is flagged like any control character.
"""

from __future__ import annotations

import pytest

from hhu_sync.ingest import ExceptionKind, FindingCode, ReadingStatus
from tests.unit.store.helpers import RECEIVED, meter_list, sql, upload, visit

NOW = "2026-11-25T12:00:00+00:00"
T = "2026-11-25T10:00:00+00:00"


@pytest.fixture
def store(empty_store):
    s = empty_store
    s.add_meter_list(meter_list())
    return s


def kinds(store) -> list[str]:
    return [r[0] for r in sql(store, "SELECT kind FROM exceptions "
                                              "ORDER BY exception_id")]


def statuses(store) -> list[tuple[str, str, str]]:
    return [(r[0], r[3], r[5]) for r in store.readings()]


@pytest.mark.parametrize("reading_time", [
    "2025-01-01T10:00:00+00:00",         # a year before its visit, inside the window
    "2026-11-25T08:59:59+00:00",         # just over an hour before
    "2026-11-25T11:00:01+00:00",         # just over an hour after
    "2026-11-25T12:30:00+01:00",         # 11:30 UTC, written in another zone
])
def test_a_reading_stamped_away_from_its_visit_is_an_exception_not_a_reading(store,
                                                                             reading_time):
    visits = [visit("M1", time=T, registers=[["1.8.1", "1.0", "kWh", reading_time]]),
              visit("M2", time=T, registers=[["1.8.1", "2.0", "kWh", T]])]
    report = store.ingest(upload("U1", visits), NOW)
    assert report.readings_rejected == 1
    assert statuses(store) == [("M2", "2.0", "ok")]
    detail = sql(store, "SELECT detail FROM exceptions").fetchone()[0]
    assert kinds(store) == [FindingCode.TIME_OFF_VISIT]
    assert detail.startswith("visits[0].registers[0].time:")


@pytest.mark.parametrize("reading_time", ["2026-11-25T09:00:00+00:00",
                                          "2026-11-25T11:00:00+00:00",
                                          "2026-11-25T10:59:00+01:00"])
def test_a_reading_within_an_hour_of_its_visit_is_ok(store, reading_time):
    store.ingest(upload("U1", [visit("M1", registers=[["1.8.1", "1.0", "kWh",
                                                       reading_time]])]), NOW)
    assert [s[2] for s in statuses(store)] == ["ok"]


@pytest.mark.parametrize("first, second", [("12.5", "12.50"), ("0012.5", "12.5"),
                                           ("12", "12.0000"), ("0", "0.0")])
def test_one_number_written_two_ways_is_a_duplicate_not_a_conflict(store, first, second):
    store.ingest(upload("U1", [visit("M1", value=first)]), NOW)
    report = store.ingest(upload("U2", [visit("M1", value=second)], hhu="HHU-002"), NOW)
    assert report.conflicts == 0 and report.readings_already_held == 1
    assert kinds(store)[-1] == ExceptionKind.DUPLICATE
    assert statuses(store) == [("M1", first, "ok")]


def test_two_values_for_one_instant_are_billed_on_neither_side(store):
    store.ingest(upload("U1", [visit("M1", value="100.0")]), NOW)
    report = store.ingest(upload("U2", [visit("M1", value="5.0")], hhu="HHU-002"), NOW)
    assert report.conflicts == 1
    assert statuses(store) == [("M1", "100.0", ReadingStatus.CONFLICT)]
    assert ExceptionKind.CONFLICT in kinds(store)
    # the same within one upload
    store.ingest(upload("U3", [visit("M2", value="1.0"), visit("M2", value="2.0")]), NOW)
    assert [s for s in statuses(store) if s[0] == "M2"] == [("M2", "1.0", "conflict")]


def test_a_later_equal_copy_does_not_make_a_conflict_billable_again(store):
    store.ingest(upload("U1", [visit("M1", value="100.0")]), NOW)
    store.ingest(upload("U2", [visit("M1", value="5.0")], hhu="HHU-002"), NOW)
    store.ingest(upload("U3", [visit("M1", value="100.0")], hhu="HHU-003"), NOW)
    assert statuses(store) == [("M1", "100.0", "conflict")]


def test_readings_on_a_cancelled_list_are_not_billed(store):
    store.cancel_list("L1", NOW)
    report = store.ingest(upload("U1", [visit("M1")]), NOW)
    assert report.readings_stored == 1
    assert statuses(store) == [("M1", "100.0", ReadingStatus.LIST_CANCELLED)]
    assert kinds(store) == [ExceptionKind.LIST_CANCELLED]


@pytest.mark.parametrize("notes", ["paid \u202eevil\u202c", "zero\u200bwidth",
                                   "isolate \u2066x\u2069", "bom\ufeffmid", "mark\u200f"])
def test_notes_that_reorder_or_hide_text_are_flagged(store, notes):
    store.ingest(upload("U1", [visit("M1", notes=notes)]), NOW)
    assert kinds(store) == [FindingCode.CONTROL_CHARS]
    detail = sql(store, "SELECT detail FROM exceptions").fetchone()[0]
    assert not any(ch in detail for ch in "\u202e\u200b\u2066\ufeff\u200f")


@pytest.mark.parametrize("field", ["notes", "operator"])
def test_a_megabyte_of_free_text_is_kept_and_flagged_not_a_refused_upload(store, field):
    """A crew's long note must not keep every reading of the upload from billing (a
    refused upload stays on the HHU and is refused again at every docking)."""
    text = "\u202e\x1b[2J" + "x" * 1_000_000
    v = visit("M1")
    v[field] = text
    report = store.ingest(upload("U1", [v]), NOW)
    assert report.readings_stored == 1 and statuses(store) == [("M1", "100.0", "ok")]
    held = sql(store, f"SELECT {field} FROM visits").fetchone()[0]
    assert held == text                                      # nothing lost
    assert set(kinds(store)) == {FindingCode.TOO_LONG, FindingCode.CONTROL_CHARS}
    longest = sql(store, "SELECT MAX(LENGTH(detail)) FROM exceptions").fetchone()[0]
    assert longest < 300


@pytest.mark.parametrize("first, second", [("1.8.0", "01.08.00"), ("1.8.0", "1.8.000"),
                                           ("1-0:1.8.0", "001-000:001.008.000*255"),
                                           ("1.8.0*1", "1.8.0*001"), ("1.8.0*1", "1.8.0&1"),
                                           ("C.1.0", "c.1.0"), ("F.F", "f.f"),
                                           ("1-1:1.8.0", "01-01:1.8.0")])
def test_one_register_written_two_ways_is_one_key(store, first, second):
    regs = [[first, "100.0", "kWh", T], [second, "100.0", "kWh", T]]
    if first.startswith(("C.", "F.")):
        regs = [[first, "0001", "", T], [second, "0001", "", T]]
    report = store.ingest(upload("U1", [visit("M1", registers=regs)]), NOW)
    assert report.readings_stored == 1 and report.readings_already_held == 1


def _deliver(store, list_id: str, hhu: str) -> None:
    (delivery,) = store.pending_deliveries(hhu, None, NOW)
    assert store.bind_delivery(delivery.delivery_id, hhu, f"B-{hhu}", b"bundle")
    store.delivery_done(delivery.delivery_id, hhu, NOW)


def test_readings_on_a_list_given_to_another_hhu_are_not_billed(store):
    """A genuine key proves which HHU sent the upload, not that the list was its work:
    HHU-002 naming a list only HHU-001 was given is not billed."""
    _deliver(store, "L1", "HHU-001")
    report = store.ingest(upload("U1", [visit("M1")], hhu="HHU-002"), NOW)
    assert report.readings_stored == 1
    assert statuses(store) == [("M1", "100.0", ReadingStatus.NOT_DELIVERED)]
    assert kinds(store) == [ExceptionKind.NOT_DELIVERED]
    store.ingest(upload("U2", [visit("M2")], hhu="HHU-001"), NOW)       # its own HHU: ok
    assert ("M2", "100.0", "ok") in statuses(store)


def test_a_crew_list_requeued_to_another_hhu_bills_both_hhus_readings(store):
    store.add_meter_list(meter_list("L2", serials=("M5", "M6"), hhu=None, crew="crew-a"))
    (first,) = [d for d in store.pending_deliveries("HHU-001", "crew-a", NOW) if d.ref == "L2"]
    assert store.bind_delivery(first.delivery_id, "HHU-001", "B-1", b"bundle")
    store.delivery_done(first.delivery_id, "HHU-001", NOW)
    store.requeue_list("L2", NOW)                         # HHU-001 lost: to the crew again
    (again,) = [d for d in store.pending_deliveries("HHU-002", "crew-a", NOW) if d.ref == "L2"]
    assert store.bind_delivery(again.delivery_id, "HHU-002", "B-2", b"bundle")
    store.delivery_done(again.delivery_id, "HHU-002", NOW)
    store.ingest(upload("U1", [visit("M5", list_id="L2")], hhu="HHU-001"), NOW)
    store.ingest(upload("U2", [visit("M6", list_id="L2")], hhu="HHU-002"), NOW)
    store.ingest(upload("U3", [visit("M5", list_id="L2", time="2026-11-25T10:30:00+00:00")],
                        hhu="HHU-003"), NOW)
    assert statuses(store) == [("M5", "100.0", "ok"), ("M5", "100.0", "not_delivered"),
                               ("M6", "100.0", "ok")]


def test_an_upload_id_held_with_other_content_is_refused_not_acknowledged(store):
    """'Already held' lets the HHU delete its copy: for other bytes under the same id (or
    another HHU's upload that happens to share it) that would lose every reading."""
    from hhu_sync.dock.readings import UploadRefused
    from hhu_sync.ingest import parse_upload

    first = parse_upload({"visits": [visit("M1")]}, upload_id="U1", hhu_id="HHU-001",
                         sha256="a" * 64, received_at=RECEIVED)
    store.ingest(first, NOW)
    same = parse_upload({"visits": [visit("M1")]}, upload_id="U1", hhu_id="HHU-001",
                        sha256="a" * 64, received_at=RECEIVED)
    assert store.ingest(same, NOW).already_held
    for hhu in ("HHU-001", "HHU-002"):
        other = parse_upload({"visits": [visit("M2")]}, upload_id="U1", hhu_id=hhu,
                             sha256="b" * 64, received_at=RECEIVED)
        with pytest.raises(UploadRefused, match="already held with other content"):
            store.ingest(other, NOW)
    assert statuses(store) == [("M1", "100.0", "ok")]


@pytest.mark.parametrize("index, own", [(4, "2026-11-25T11:30:00+00:00"),    # MD after the read
                                        (5, "2026-11-25T12:01:00+01:00")])   # reset, +1 h
def test_a_registers_own_time_after_it_was_read_is_an_exception(store, index, own):
    reg = ["1.6.0", "12.5", "kW", T, "", ""]
    reg[index] = own
    store.ingest(upload("U1", [visit("M1", registers=[reg])]), NOW)
    assert statuses(store) == []
    assert kinds(store) == [FindingCode.TIME_OFF_VISIT]


def test_a_registers_own_time_before_its_read_is_ok(store):
    reg = ["1.8.0*1", "100.0", "kWh", T, "2026-11-01T00:00:00+00:00",
           "2026-11-01T00:00:00+00:00"]
    store.ingest(upload("U1", [visit("M1", registers=[reg])]), NOW)
    assert [s[2] for s in statuses(store)] == ["ok"]


@pytest.mark.parametrize("spelling", ["2026-11-25T10:00:00Z", "2026-11-25T10:00:00-00:00",
                                      "2026-11-25T10:00:00.000000+00:00",
                                      "2026-W48-3T10:00:00+00:00", "20261125T100000Z",
                                      "2026-11-25T11:00:00+01:00", "2026-11-25T10:00+00:00"])
def test_every_spelling_of_one_instant_is_one_key(store, spelling):
    store.ingest(upload("U1", [visit("M1")]), NOW)
    report = store.ingest(upload("U2", [visit("M1", time=spelling)], hhu="HHU-002"), NOW)
    assert report.readings_already_held == 1 and report.readings_stored == 0


@pytest.mark.parametrize("spelling", ["2026-11-25T23:59:60+00:00", "2026-11-25T24:00:00Z",
                                      "2026-11-25T10:00:00+14:01", "2026-11-25T10:00:00z",
                                      "2026-11-25T10:00:00.12345678901234567890Z",
                                      "２026-11-25T10:00:00Z", "2026-11-25T10:00:00Z\u200b"])
def test_times_no_clock_can_show_or_in_other_digits_are_refused(store, spelling):
    store.ingest(upload("U1", [visit("M1", registers=[["1.8.1", "1.0", "kWh", spelling]])]),
                 NOW)
    assert statuses(store) == [] and kinds(store) == [FindingCode.BAD_TIME]


def test_a_done_visit_without_a_register_is_an_exception_not_silence(store):
    """'done' with nothing read settles the entry, and billing would get nothing for the
    meter without anyone being told."""
    store.ingest(upload("U1", [visit("M1", registers=[]), visit("M2")]), NOW)
    assert kinds(store) == [ExceptionKind.NO_READINGS]
    detail = sql(store, "SELECT meter, detail FROM exceptions").fetchone()
    assert detail[0] == "M1" and "visits[0]" in detail[1]


def test_a_billable_copy_of_a_key_held_unbillable_says_so_in_its_exception(store):
    """A reading held first with a status that is not ok (here: no list) keeps its key;
    the billable copy that follows must tell the clerk it was not billed either."""
    store.ingest(upload("U1", [visit("M1", list_id="")], hhu="HHU-002"), NOW)
    store.ingest(upload("U2", [visit("M1")]), NOW)
    detail = sql(store, "SELECT detail FROM exceptions WHERE kind='duplicate'"
                                 ).fetchone()[0]
    assert "no_list" in detail and "not billed" in detail
