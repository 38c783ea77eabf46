"""CT/VT ratios (issue 12.18): programmed where the model takes them, verified, exported.

The A1700 takes the scheme's CT and VT ratios into its registers (the catalog's
``takes_ratios``); the A1140 and AS230 are not marked. A meter so programmed reads
primary values, and the export says ``primary`` for its readings after that visit when
the visit brought the proof (the ratios read back), and ``secondary`` when the ratios
were never programmed into it or no visit proves they were.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

import pytest

from hhu_firmware_sim.field_trip import InProcessProbe
from hhu_firmware_sim.meter import MeterSession, SimMeter
from hhu_sync.export.enrich import BASIS_PRIMARY, BASIS_SECONDARY, Enricher, StoredReading
from hhu_sync.meterio import (
    DriverSettings,
    MeterClient,
    MeterRefused,
    plan_scheme,
    program_scheme,
)
from hhu_sync.meterio.program import CT_RATIO, VT_RATIO
from hhu_sync.model.catalog import load_catalog, model_takes_ratios, parse_catalog
from hhu_sync.model.loader import load_toml
from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.model.problems import ModelError
from hhu_sync.model.scheme import parse_scheme
from tests.conftest import EXAMPLES, ROOT

FAST = DriverSettings(reaction_s=0.0, max_reads=200)
CATALOG = ROOT / "config" / "meter-models.toml"


@pytest.fixture
def a1700(catalog):
    data, locate = load_toml(EXAMPLES / "a1700-ci-tou.toml")
    return parse_scheme(data, "a1700", catalog, locate)     # CT 400/5, VT 11000/110


def _meter(model: str = "A1700") -> SimMeter:
    m = SimMeter("35100001", model=model, passwords={1: "DEMO-L1", 3: "DEMO-L3"},
                 start=datetime(2026, 11, 1))
    m.at(datetime(2026, 11, 3))
    return m


def _program(m: SimMeter, plan):
    client = MeterClient(InProcessProbe(MeterSession(lambda a: m)), FAST)
    with client.programming("", "DEMO-L3") as session:
        return program_scheme(session, plan)


def test_the_catalog_marks_only_the_a1700_as_taking_ratios():
    catalog = load_catalog(CATALOG)
    assert catalog["A1700"].takes_ratios is True
    assert catalog["A1140"].takes_ratios is False and catalog["AS230"].takes_ratios is False


def test_takes_ratios_is_optional_and_must_be_a_boolean():
    base = {"max_rates": 1, "max_switch_times": 1, "max_day_profiles": 1,
            "max_week_profiles": 1, "max_seasons": 1, "max_special_days": 1,
            "max_display_items": 1, "demand_periods": [30], "password_levels": [1],
            "ct_secondary": []}
    assert parse_catalog({"models": {"X": base}}, "c.toml")["X"].takes_ratios is False
    with pytest.raises(ModelError) as err:
        parse_catalog({"models": {"X": {**base, "takes_ratios": "yes"}}}, "c.toml")
    assert "models.X.takes_ratios" in str(err.value.problems[0])


def test_the_plan_writes_the_ratios_only_for_a_model_that_takes_them(a1700):
    writes = dict(plan_scheme(a1700, takes_ratios=True).writes())
    assert (writes[CT_RATIO], writes[VT_RATIO]) == ("400/5", "11000/110")
    assert CT_RATIO not in dict(plan_scheme(a1700).writes())
    bare = dataclasses.replace(a1700, ct_ratio=None, vt_ratio=None)
    writes = dict(plan_scheme(bare, takes_ratios=True).writes())
    assert (writes[CT_RATIO], writes[VT_RATIO]) == ("1/1", "1/1")   # clears old ratios


def test_a_programmed_a1700_reads_primary_values_and_verifies_them(a1700):
    m = _meter()
    secondary = Decimal(m.register_value("1.8.0")[0].text)
    plan = plan_scheme(a1700, takes_ratios=True)
    report = _program(m, plan)
    assert report.verified, report.mismatches
    assert report.checked > len(plan.writes())          # the ratios were read back too
    assert m.ratio_factor == 8000
    assert Decimal(m.register_value("1.8.0")[0].text) == secondary * 8000


def test_a_meter_that_drops_the_ratio_fails_the_verify(a1700):
    m = _meter()

    class Dropping(MeterSession):
        def _handle(self, event):
            out = super()._handle(event)
            m.ct_ratio = (Decimal(1), Decimal(1))       # ACKed, not kept
            return out

    client = MeterClient(InProcessProbe(Dropping(lambda a: m)), FAST)
    with client.programming("", "DEMO-L3") as session:
        report = program_scheme(session, plan_scheme(a1700, takes_ratios=True))
    assert (CT_RATIO, "400/5", "1/1") in report.mismatches


def test_a_model_that_takes_no_ratios_refuses_them():
    m = _meter("A1140")
    client = MeterClient(InProcessProbe(MeterSession(lambda a: m)), FAST)
    with client.programming("", "DEMO-L3") as session, pytest.raises(MeterRefused) as err:
        session.write(CT_RATIO, "400/5")
    assert err.value.code == "ER01"
    assert m.ratio_factor == 1


def _reading(meter: str, visit_time: str) -> StoredReading:
    return StoredReading(meter, "1.8.1", visit_time, "0182734.250", "kWh", "ok", "HHU-1",
                         "U1", visit_time, "", "", "L1", visit_time, None, "00000000", 1, 1)


PROOF = '{"ct": "400/5", "vt": "11000/110"}'      # the visit read the ratios back


# Issue 12.18, round 3: "programmed and verified" alone no longer makes a value primary
# (an HHU before the ratios were written, or one that does not write them, verified a
# meter counting secondary values): only the visit's proof of the ratios held does.
@pytest.mark.parametrize(("model", "programmed", "proof", "basis", "primary"), [
    ("A1700", True, PROOF, BASIS_PRIMARY, "182734.250"),
    ("A1700", True, None, BASIS_SECONDARY, "1461874000.000"),
    ("A1700", False, None, BASIS_SECONDARY, "1461874000.000"),
    ("A1140", True, None, BASIS_SECONDARY, "1461874000.000"),
], ids=["a1700-programmed-with-proof", "a1700-programmed-without-proof",
        "a1700-never-programmed", "a1140-programmed"])
def test_the_export_knows_primary_from_secondary(a1700, model, programmed, proof, basis,
                                                 primary):
    scheme = dataclasses.replace(a1700, model=model)
    entry = MeterEntry("M1", "", "", "read+program", scheme.id, None, "")
    mlist = MeterList("L1", "L1", "HHU-1", None, None, "", (entry,))
    history = [("2026-11-20T08:00:00+00:00", scheme.id)] if programmed else []
    held = [("2026-11-20T08:00:00+00:00", True, proof)] if proof else []
    enrich = Enricher(lambda _: mlist, lambda _: scheme, lambda _: history,
                      takes_ratios=lambda name: name in {"A1700"}, held=lambda _: held)
    row = enrich(_reading("M1", "2026-11-27T09:00:00+00:00"))
    assert (row.multiplier, row.value_basis, row.value_primary) == ("8000", basis, primary)


def test_the_default_ratio_flag_comes_from_the_catalog(a1700):
    assert model_takes_ratios("A1700", CATALOG) is True
    assert model_takes_ratios("A1140", CATALOG) is False
    assert model_takes_ratios("NOPE", CATALOG) is False and model_takes_ratios(None) is False


def test_each_visit_is_valued_by_its_own_ratio_proof_in_whatever_order_its_rows_come(a1700):
    """Two visits of one meter: the first proved the scheme's ratios in the meter
    (primary), the second found them taken out ("1/1": the registers count as wired).
    Each reading is valued by its own visit's proof, also when the rows come in register
    order, the visits interleaved and each visit's first row unscaled (the basis is
    worked out at a visit's first scaled value, after the other visit was looked at)."""
    entry = MeterEntry("M1", "", "", "read", a1700.id, None, "")
    mlist = MeterList("L1", "L1", "HHU-1", None, None, "", (entry,))
    first, second = "2026-11-20T08:00:00+00:00", "2026-11-27T09:00:00+00:00"
    held = [(first, False, PROOF), (second, False, '{"ct": "1/1", "vt": "1/1"}')]

    def reading(obis: str, unit: str, visit: str) -> StoredReading:
        return _reading("M1", visit)._replace(obis=obis, unit=unit,
                                              value="0182734.250" if unit else "12:00:00")

    rows = {"by visit": [reading("0.9.1", "", first), reading("1.8.1", "kWh", first),
                         reading("0.9.1", "", second), reading("1.8.1", "kWh", second)],
            "by register": [reading("0.9.1", "", first), reading("0.9.1", "", second),
                            reading("1.8.1", "kWh", first), reading("1.8.1", "kWh", second)]}
    for order, readings in rows.items():
        enrich = Enricher(lambda _: mlist, lambda _: a1700, lambda _: [],
                          takes_ratios=lambda name: name in {"A1700"}, held=lambda _: held)
        valued = {(r.time, r.obis): r.value_basis for r in enrich.rows(readings)
                  if r.obis == "1.8.1"}
        assert valued == {(first, "1.8.1"): BASIS_PRIMARY,
                          (second, "1.8.1"): BASIS_SECONDARY}, order
