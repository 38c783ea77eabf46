"""Exceptions resolved by a clerk: listed and paged, shown with their evidence, accepted
or dismissed once, audited in the same transaction, and what was decided is what the
next export bills."""

from __future__ import annotations

import json

import pytest

from hhu_sync.export.formats import export
from hhu_sync.store.exception_rules import BadResolution, resolve
from hhu_sync.store.exceptions import (
    MAX_PAGE,
    AlreadyResolved,
    ExceptionFilter,
    ResolutionRefused,
    State,
    UnknownException,
)
from tests.unit.store.helpers import meter_list, upload, visit

NOW = "2026-11-25T12:00:00+00:00"
LATER = "2026-11-26T09:00:00+00:00"


@pytest.fixture
def store(empty_store):
    s = empty_store
    s.add_meter_list(meter_list())
    return s


def _only(store, kind: str) -> int:
    (row,) = [r for r in store.exceptions(ExceptionFilter(kind=kind)).rows]
    return row.exception_id


def _billed(store, meter: str = "M1") -> list[tuple[str, str, str]]:
    return [(r.value, r.status, r.upload_id) for r in store.readings() if r.meter == meter]


@pytest.fixture
def conflict(store):
    store.ingest(upload("U1", [visit("M1", value="100.0")]), NOW)
    store.ingest(upload("U2", [visit("M1", value="999.9", notes="<b>re-read</b>")],
                        hhu="HHU-002"), NOW)
    return _only(store, "conflict")


def test_a_conflict_shows_the_held_reading_and_the_value_its_upload_brought(store, conflict):
    found = store.exception(conflict)
    assert found is not None and found.exception.kind == "conflict"
    (held,) = found.held
    assert (held.value, held.status, held.upload_id, held.hhu) == (
        "100.0", "conflict", "U1", "HHU-001")
    assert found.brought == "999.9" and found.choices == ["100.0", "999.9"]
    assert found.upload is not None and found.upload.hhu_id == "HHU-002"
    assert found.visit is not None and (found.visit.notes, found.visit.operator,
                                        found.visit.outcome) == ("<b>re-read</b>", "crew-a",
                                                                 "done")
    assert found.may_accept and found.resolution is None
    assert store.exception(10_000) is None


def test_accepting_the_new_value_of_a_conflict_bills_it_and_the_next_export_has_it(
        store, conflict, tmp_path):
    assert _billed(store) == [("100.0", "conflict", "U1")]           # neither is billed
    done = resolve(store, conflict, "accept", LATER, value="999.9", user="otto")
    assert (done.decision, done.value, done.replaced, done.readings) == (
        "accept", "999.9", "100.0", 1)
    assert _billed(store) == [("999.9", "ok", "U2")]
    rows = list(store.readings())
    assert [(r.value, r.status, r.hhu) for r in rows] == [("999.9", "ok", "HHU-002")]
    cmep = tmp_path / "out.cmep"
    assert export(rows, "cmep", cmep) == 1 and "999.9" in cmep.read_text()
    after = store.exception(conflict)
    assert after is not None and after.resolution is not None
    assert (after.resolution.user, after.resolution.at) == ("otto", LATER)
    assert after.exception.decision == "accept" and not after.may_accept


def test_accepting_the_held_value_bills_it_as_it_was(store, conflict):
    resolve(store, conflict, "accept", LATER, value="100.0", user="otto")
    assert _billed(store) == [("100.0", "ok", "U1")]


def test_a_value_never_seen_under_the_key_is_refused_and_nothing_changes(store, conflict):
    with pytest.raises(ResolutionRefused, match="'5' is not a value seen"):
        resolve(store, conflict, "accept", LATER, value="5", user="otto")
    with pytest.raises(ResolutionRefused, match="names the value"):
        resolve(store, conflict, "accept", LATER, user="otto")
    assert _billed(store) == [("100.0", "conflict", "U1")]
    assert not [e for e in store.audit_log() if e.action == "exception.resolve"]


def test_a_dismissed_conflict_stays_out_of_the_export(store, conflict, tmp_path):
    resolve(store, conflict, "dismiss", LATER, reason="meter replaced", user="otto")
    assert _billed(store) == [("100.0", "conflict", "U1")]
    path = tmp_path / "out.cmep"
    assert export(list(store.readings()), "cmep", path) == 0


def test_a_second_resolution_is_refused_and_the_first_stands(store, conflict):
    resolve(store, conflict, "accept", LATER, value="999.9", user="otto")
    with pytest.raises(AlreadyResolved, match="resolved already .accept by otto"):
        resolve(store, conflict, "dismiss", LATER, reason="oops", user="ada")
    assert _billed(store) == [("999.9", "ok", "U2")]


def test_the_resolution_is_in_the_audit_log_with_the_reading_before_and_after(
        store, conflict):
    resolve(store, conflict, "accept", LATER, value="999.9", reason="checked on site",
            user="otto")
    (entry,) = [e for e in store.audit_log() if e.action == "exception.resolve"]
    assert (entry.user, entry.target, entry.at) == ("otto", str(conflict), LATER)
    assert json.loads(entry.before) == {"value": "100.0", "status": "conflict",
                                        "upload_id": "U1"}
    assert json.loads(entry.after) == {"value": "999.9", "status": "ok", "upload_id": "U2",
                                       "decision": "accept", "reason": "checked on site"}


def test_accepting_one_of_three_values_resolves_every_conflict_under_the_key(store):
    store.ingest(upload("U1", [visit("M1", value="100.0")]), NOW)
    store.ingest(upload("U2", [visit("M1", value="200.0")], hhu="HHU-002"), NOW)
    store.ingest(upload("U3", [visit("M1", value="300.0")], hhu="HHU-003"), NOW)
    first, second = sorted(r.exception_id for r in store.exceptions(
        ExceptionFilter(kind="conflict")).rows)
    found = store.exception(first)
    assert found is not None and found.choices == ["100.0", "200.0", "300.0"]
    resolve(store, first, "accept", LATER, value="300.0", user="otto")
    assert _billed(store) == [("300.0", "ok", "U3")]
    with pytest.raises(AlreadyResolved):
        resolve(store, second, "dismiss", LATER, reason="x", user="otto")
    assert store.exceptions(ExceptionFilter(state=State.OPEN, kind="conflict")).rows == []


def test_accepting_a_meter_not_on_the_list_bills_its_readings(store, tmp_path):
    store.ingest(upload("U1", [visit("M9", registers=[["1.8.1", "5.0", "kWh",
                                                       "2026-11-25T10:00:00+00:00"],
                                                      ["2.8.1", "1.0", "kWh",
                                                       "2026-11-25T10:00:00+00:00"]])]), NOW)
    eid = _only(store, "not_on_list")
    found = store.exception(eid)
    assert found is not None and [h.status for h in found.held] == ["not_on_list"] * 2
    done = resolve(store, eid, "accept", LATER, user="otto")
    assert done.readings == 2
    rows = list(store.readings())
    assert [(r.obis, r.status) for r in rows] == [("1.8.1", "ok"), ("2.8.1", "ok")]


def test_a_dismissed_meter_not_on_the_list_stays_out(store, tmp_path):
    store.ingest(upload("U1", [visit("M9")]), NOW)
    eid = _only(store, "not_on_list")
    with pytest.raises(BadResolution, match="reason: is required"):
        resolve(store, eid, "dismiss", LATER, reason="  ", user="otto")
    resolve(store, eid, "dismiss", LATER, reason="not our meter", user="otto")
    assert [r.status for r in list(store.readings())] == ["not_on_list"]


def test_a_visit_to_an_unknown_list_accepted_is_billed(store):
    store.ingest(upload("U1", [visit("M1", list_id="L404")]), NOW)
    resolve(store, _only(store, "unknown_list"), "accept", LATER, user="otto")
    assert _billed(store) == [("100.0", "ok", "U1")]


def test_a_second_reading_dismissed_is_no_longer_billed(store):
    store.ingest(upload("U1", [visit("M1")]), NOW)
    store.ingest(upload("U2", [visit("M1", time="2026-11-25T11:00:00+00:00")],
                        hhu="HHU-002"), NOW)
    eid = _only(store, "already_read")
    assert [s for _, s, _ in _billed(store)] == ["ok", "ok"]
    resolve(store, eid, "dismiss", LATER, reason="read twice by mistake", user="otto")
    assert [(s, u) for _, s, u in _billed(store)] == [("ok", "U1"), ("dismissed", "U2")]


def test_a_rejected_reading_can_only_be_dismissed(store):
    store.ingest(upload("U1", [visit("M1", value="-5")]), NOW)
    (row,) = store.exceptions(ExceptionFilter()).rows
    assert row.obis is not None and row.value == "-5"
    found = store.exception(row.exception_id)
    assert found is not None and not found.may_accept and "Dismiss only" in found.effect
    with pytest.raises(ResolutionRefused, match="can only be dismissed"):
        resolve(store, row.exception_id, "accept", LATER, user="otto")
    resolve(store, row.exception_id, "dismiss", LATER, reason="typo", user="otto")
    assert list(store.readings()) == []


def test_bad_requests_name_their_field(store, conflict):
    for kwargs, field in ((dict(decision="maybe"), "decision"),
                          (dict(decision="dismiss", reason="x" * 501), "reason"),
                          (dict(decision="dismiss", reason="a\nb"), "reason"),
                          (dict(decision="dismiss", reason="r", value="1"), "value"),
                          (dict(decision="accept", value=5), "value")):
        with pytest.raises(BadResolution) as err:
            resolve(store, conflict, kwargs.pop("decision"), LATER, user="otto", **kwargs)
        assert err.value.field == field
    with pytest.raises(UnknownException):
        resolve(store, 10_000, "dismiss", LATER, reason="r", user="otto")


def test_exceptions_filter_and_page_by_id_newest_first(store):
    for n in range(5):
        store.ingest(upload(f"U{n}", [visit(f"X{n}")]), NOW)
    page = store.exceptions(ExceptionFilter(kind="not_on_list"), limit=2)
    assert [r.meter for r in page.rows] == ["X4", "X3"] and page.next_before is not None
    page2 = store.exceptions(ExceptionFilter(kind="not_on_list"), before=page.next_before,
                             limit=2)
    assert [r.meter for r in page2.rows] == ["X2", "X1"]
    assert page.counts == {"not_on_list": 5}
    assert [r.meter for r in store.exceptions(ExceptionFilter(meter="X3")).rows] == ["X3"]
    assert [r.upload_id for r in store.exceptions(ExceptionFilter(upload_id="U2")).rows] \
        == ["U2"]
    resolve(store, page.rows[0].exception_id, "dismiss", LATER, reason="r", user="otto")
    assert len(store.exceptions(ExceptionFilter(state=State.OPEN)).rows) == 4
    assert [r.meter for r in store.exceptions(ExceptionFilter(state=State.RESOLVED)).rows] \
        == ["X4"]
    assert store.exceptions(ExceptionFilter(), limit=10_000).rows.__len__() <= MAX_PAGE
