"""Issue 12.18, round 3: a value is ``primary`` only on the visit's proof of the ratios.

An A1700 programmed by an HHU that did not write the CT/VT ratios (every visit before
they were written, or a firmware that does not) verifies, and still counts secondary
values: calling its later readings ``primary`` bills a CT meter 8000 times too low. The
proof travels with the visit (``ratios``: what the HHU read back from 128.11.0/128.11.1),
ingest checks it, the store keeps it, and the export goes by the latest proof at or
before a reading.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hhu_sync.ingest import UploadError
from hhu_sync.model.inputs import load_inputs
from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.store import SqliteStore
from hhu_sync.store.sqlite import export_rows
from tests.conftest import EXAMPLES, ROOT
from tests.unit.store.helpers import upload, visit

NOW = "2026-11-28T12:00:00+00:00"
DAY1, DAY2, DAY3 = ("2026-11-25T10:00:00+00:00", "2026-11-26T10:00:00+00:00",
                    "2026-11-27T10:00:00+00:00")
RECEIVED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
A1700 = "a1700-ci-tou-2026"                       # CT 400/5, VT 11000/110: 8000
HELD = {"ct": "400/5", "vt": "11000/110"}


@pytest.fixture
def store(empty_store, catalog):
    s = empty_store
    for n, scheme in enumerate(load_inputs([EXAMPLES], catalog).schemes.values()):
        s.accept_input(sha256=f"{n:064d}", name=f"{scheme.id}.toml", kind="scheme",
                       moved_to="", now=NOW, scheme=scheme)
    s.add_meter_list(MeterList("L1", "L1", "HHU-001", None, "2026-12-01", "", (
        MeterEntry("M1", "Foundry", "", "read+program", A1700, None, ""),)))
    return s


def programmed(time: str = DAY1, ratios: dict | None = None, **extra) -> dict:
    v = {**visit("M1", time=time, value="000100.000"), "scheme": A1700, "verify": "ok"}
    return {**v, "ratios": ratios, **extra} if ratios is not None or extra else v


def read(time: str = DAY2, value: str = "000200.000", **extra) -> dict:
    return {**visit("M1", time=time, value=value), **extra}


def ingest(store, *uploads_visits) -> None:
    for n, visits in enumerate(uploads_visits):
        store.ingest(upload(f"U{n}", visits, received_at=RECEIVED), NOW)


def row_at(store, time: str):
    return next(r for r in store.readings() if r.time == time)


def test_an_a1700_programmed_without_proof_bills_its_later_readings_secondary(store):
    ingest(store, [programmed()], [read()])
    later = row_at(store, DAY2)
    assert (later.scheme, later.multiplier, later.value_basis, later.value_primary) == (
        A1700, "8000", "secondary", "1600000.000")      # 200 x 8000, never 200


def test_an_a1700_programmed_with_proof_of_its_ratios_reads_primary(store):
    ingest(store, [programmed(ratios=HELD)], [read()])
    later = row_at(store, DAY2)
    assert (later.multiplier, later.value_basis, later.value_primary) == (
        "8000", "primary", "200.000")
    # the programming visit read its registers first: the proof tells about later ones
    assert row_at(store, DAY1).value_basis == "secondary"


def test_proof_written_another_way_is_one_ratio(store):
    ingest(store, [programmed(ratios={"ct": "400.0/5", "vt": "011000/110.00"})], [read()])
    assert row_at(store, DAY2).value_basis == "primary"


def test_proof_of_other_ratios_says_unknown_with_a_finding(store):
    ingest(store, [programmed(ratios={"ct": "200/5", "vt": "11000/110"})], [read()])
    later = row_at(store, DAY2)
    assert (later.value_basis, later.value_primary) == ("unknown", "")
    kinds = [k for (k,) in store._rows("SELECT kind FROM exceptions")]
    assert kinds == ["ratios_mismatch"]
    (detail,) = store._rows("SELECT detail FROM exceptions")[0]
    assert "visits[0].ratios" in detail and "200/5" in detail and "400/5" in detail


def test_proof_that_the_meter_holds_no_ratios_keeps_the_values_secondary(store):
    ingest(store, [programmed(ratios={"ct": "1/1", "vt": "1/1"})], [read()])
    later = row_at(store, DAY2)
    assert (later.value_basis, later.value_primary) == ("secondary", "1600000.000")


def test_the_latest_proof_at_or_before_a_reading_decides(store):
    # Day 1 programmed with its ratios; day 3 a read visit (nothing written) reads the
    # ratio registers back at 1/1 (the meter was swapped or reset): day 2 is primary,
    # day 3, by its own visit's proof, secondary.
    ingest(store, [programmed(ratios=HELD)], [read()],
           [read(DAY3, ratios={"ct": "1/1", "vt": "1/1"})])
    assert row_at(store, DAY2).value_basis == "primary"
    assert row_at(store, DAY3).value_basis == "secondary"


def test_a_ratio_that_is_no_ratio_is_a_finding_and_no_proof(store):
    ingest(store, [programmed(ratios={"ct": "400/0", "vt": "=1+1"})], [read()])
    assert row_at(store, DAY2).value_basis == "secondary"
    kinds = [k for (k,) in store._rows("SELECT kind FROM exceptions")]
    assert kinds == ["bad_ratio"]
    assert store._one("SELECT COUNT(*) FROM visits WHERE ratios IS NOT NULL") == 0


@pytest.mark.parametrize("ratios", [
    "400/5", ["400/5", "1/1"], {"ct": "400/5"}, {"ct": "400/5", "vt": "1/1", "x": "1"},
    {"ct": 80, "vt": "1/1"}, {"ct": "4" * 65, "vt": "1/1"}])
def test_ratios_of_the_wrong_shape_refuse_the_upload_naming_the_field(ratios):
    with pytest.raises(UploadError, match=r"visits\[0\]\.ratios"):
        upload("U1", [programmed(ratios=ratios)])


def test_proof_from_a_visit_that_never_reached_the_meter_counts_for_nothing(store):
    ingest(store, [programmed(ratios=HELD)],
           [read(DAY2), read(DAY3, outcome="no_access", registers=[],
                             ratios={"ct": "1/1", "vt": "1/1"})])
    assert row_at(store, DAY2).value_basis == "primary"


def test_the_configured_catalog_says_which_models_take_ratios(store, tmp_path):
    """Point 2: the export asks the configured catalog, not the default one."""
    a1700 = store.scheme(A1700)
    other = dataclasses.replace(a1700, id="a1140-ct", model="A1140")
    store.accept_input(sha256="f" * 64, name="a1140-ct.toml", kind="scheme", moved_to="",
                       now=NOW, scheme=other)
    store.add_meter_list(MeterList("L2", "L2", "HHU-001", None, "2026-12-01", "", (
        MeterEntry("M2", "", "", "read+program", "a1140-ct", None, ""),)))
    ingest(store, [{**visit("M2", list_id="L2", time=DAY1), "scheme": "a1140-ct",
                    "verify": "ok", "ratios": HELD},
                   {**visit("M2", list_id="L2", time=DAY2)}])
    text = (ROOT / "config" / "meter-models.toml").read_text()
    mine = tmp_path / "models.toml"
    mine.write_text(text.replace('ct_secondary = [1, 5]\n\n[models.AS230]',
                                 'ct_secondary = [1, 5]\ntakes_ratios = true\n\n'
                                 '[models.AS230]'))

    def basis(catalog):
        return next(r.value_basis for r in store.readings(catalog=catalog)
                    if r.meter == "M2" and r.time == DAY2)

    assert basis(mine) == "primary"        # the configured catalog: the A1140 takes them
    assert basis(None) == "unknown"        # the default: it cannot hold what it says


@pytest.mark.sqlite_only("an older SQLite file upgraded at open")
def test_an_older_database_gains_the_ratios_column_and_the_index(tmp_path):
    path = tmp_path / "old.sqlite"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.executescript(
        "DROP INDEX visits_meter; DROP TABLE visits; CREATE TABLE visits (upload_id TEXT "
        "NOT NULL, seq INTEGER NOT NULL, meter TEXT NOT NULL, list_id TEXT NOT NULL, time "
        "TEXT NOT NULL, outcome TEXT NOT NULL, scheme TEXT, verify TEXT, error_flags TEXT, "
        "operator TEXT NOT NULL, notes TEXT NOT NULL, PRIMARY KEY (upload_id, seq)) "
        "WITHOUT ROWID; INSERT INTO visits VALUES ('U0',0,'M1','L1','t','done','s','ok',"
        "NULL,'o','');")
    db.commit()
    db.close()
    store = SqliteStore(path)
    try:
        assert store._rows("SELECT seq, ratios FROM visits") == [(0, None)]   # no proof
        assert store._one("SELECT name FROM sqlite_master WHERE name='visits_meter'")
        store.ingest(upload("U1", [programmed(ratios=HELD)]), NOW)
        assert json.loads(store._one("SELECT ratios FROM visits WHERE upload_id='U1'")) \
            == HELD
    finally:
        store.close()


@pytest.mark.sqlite_only("SQLite query plans (EXPLAIN QUERY PLAN)")
def test_the_exports_visit_look_ups_use_an_index(store):
    """Point 4: every statement an export runs finds visits (and one upload's readings)
    by an index: the visits that programmed or brought a proof by their partial indexes,
    a reading's visit by the primary key, never by reading the whole table."""
    ingest(store, [programmed(ratios=HELD)], [read()])
    db = store._db()
    seen: list[str] = []
    db.set_trace_callback(seen.append)
    try:
        list(export_rows(db))
        list(export_rows(db, upload_id="U1"))
    finally:
        db.set_trace_callback(None)
    plans = {sql: [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql)]
             for sql in seen if "visits" in sql or "FROM readings r WHERE" in sql}
    # programmed, proofs, the readings' join (all uploads), one upload's visits (read
    # once, by the primary key) and its readings
    assert len(plans) >= 5
    for sql, plan in plans.items():
        for step in plan:
            if " visits" in step or step.startswith(("SCAN v", "SCAN w")):
                assert "USING" in step, (sql, plan)
    (one_upload,) = [p for sql, p in plans.items() if "r.upload_id = " in sql]
    assert any("readings_upload" in step for step in one_upload), one_upload


def test_primary_values_are_the_meters_digits_not_multiplied(store):
    ingest(store, [programmed(ratios=HELD)], [read(value="001234.500")])
    assert Decimal(row_at(store, DAY2).value_primary) == Decimal("1234.5")


def test_a_value_of_unknown_basis_is_left_out_of_cmep(store, tmp_path):
    """CMEP's CalculationConstant would be 1 for it: billed as primary, wrong either way."""
    from hhu_sync.export import write_cmep

    ingest(store, [programmed(ratios={"ct": "200/5", "vt": "11000/110"})], [read()])
    out = tmp_path / "r.cmep"
    write_cmep(list(store.readings()), out, sender="DEPOT")
    text = out.read_text()
    assert "20261126" not in text                # the day-2 reading: basis unknown
    assert "20261125" in text                    # day 1 (secondary, constant 8000) stays


_ANY = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["ct", "vt", "x"]) | st.text(max_size=3),
                                      inner, max_size=3), max_leaves=8)
_RATIO_TEXT = st.from_regex(r"[0-9.]{0,9}/?[0-9.]{0,9}|=.*|\d+/\d+", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_ANY, st.fixed_dictionaries({"ct": _RATIO_TEXT, "vt": _RATIO_TEXT})))
def test_any_ratios_value_is_proof_a_finding_or_a_refusal_never_a_crash(ratios):
    try:
        up = upload("U1", [programmed(ratios=ratios) if ratios is not None else programmed()])
    except UploadError as exc:
        assert "visits[0].ratios" in str(exc)
        return
    (v,) = up.visits
    if v.ratios is None:
        assert ratios is None or [f.code for f in up.findings] == ["bad_ratio"]
    else:
        held = json.loads(v.ratios)
        assert set(held) == {"ct", "vt"}
        assert all(Decimal(p) > 0 for r in held.values() for p in r.split("/"))
