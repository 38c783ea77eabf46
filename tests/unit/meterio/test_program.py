"""A scheme as R1/W1 traffic: the plan, programming a simulated meter, the read-back."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from hhu_firmware_sim.field_trip import InProcessProbe, _DisplayDroppingSession
from hhu_firmware_sim.meter import MeterSession, SimMeter, TouTable
from hhu_sync.meterio import (
    DriverSettings,
    MeterClient,
    MeterRefused,
    SchemeEncodingError,
    plan_scheme,
    program_scheme,
)
from hhu_sync.model.loader import load_toml
from hhu_sync.model.scheme import DayProfile, Rate, Switch, parse_scheme

FAST = DriverSettings(reaction_s=0.0, max_reads=200)


@pytest.fixture
def scheme(catalog, examples):
    def load(name: str):
        data, locate = load_toml(examples / name)
        return parse_scheme(data, name, catalog, locate)
    return load


def meter(**kw) -> SimMeter:
    return SimMeter("35100001", passwords={1: "DEMO-L1", 3: "DEMO-L3"},
                    start=datetime(2026, 11, 1), **kw)


def client(m: SimMeter, session_cls=MeterSession) -> MeterClient:
    return MeterClient(InProcessProbe(session_cls(lambda a: m)), FAST)


def test_the_plan_follows_the_documented_address_map(scheme):
    plan = plan_scheme(scheme("a1700-ci-tou.toml"))
    writes = dict(plan.writes())
    assert writes["128.1.2"] == "1.8.2;Peak"
    assert writes["128.2.1"] == "winter-workday;0000=3,0700=1,1600=2,1900=1"
    assert writes["128.3.2"] == ("summer;summer-workday,summer-workday,summer-workday,"
                                 "summer-workday,summer-workday,weekend,weekend")
    assert writes["128.4.1"] == "summer;04-01;summer"          # seasons by start date
    assert writes["128.5.1"] == "12-25;weekend"
    assert writes["128.6.0"] == "30"
    assert writes["128.7.0"] == "01;00:00"
    assert writes["128.8.0"] == "6;0.9.1,0.9.2,1.8.0,1.8.1,1.8.2,1.8.3,1.6.0,F.F"


def test_what_the_meter_cannot_hold_is_refused_before_talking(scheme):
    base = scheme("as230-flat.toml")
    long_id = dataclasses.replace(base, day_profiles=(DayProfile("x" * 25,
                                                                 (Switch("00:00", 1),)),))
    with pytest.raises(SchemeEncodingError, match="1-24"):
        plan_scheme(long_id)
    bad_reg = dataclasses.replace(base, rates=(Rate(1, "Any", ("1-0:1.8.1*255",)),))
    with pytest.raises(SchemeEncodingError, match="short OBIS"):
        plan_scheme(bad_reg)


def test_programming_makes_the_scheme_the_running_table(scheme):
    s = scheme("a1700-ci-tou.toml")
    m = meter()
    with client(m).programming("", "DEMO-L3") as session:
        report = program_scheme(session, plan_scheme(s))
    assert report.verified and report.checked > report.writes
    assert m.tou == TouTable.from_scheme(s)
    assert m.display_items == s.display_items and m.demand_period_minutes == 30


def test_reprogramming_deletes_what_the_old_scheme_left(scheme):
    m = meter()
    c = client(m)
    with c.programming("", "DEMO-L3") as session:
        program_scheme(session, plan_scheme(scheme("a1700-ci-tou.toml")))
    flat = dataclasses.replace(scheme("as230-flat.toml"), model="A1700")
    with c.programming("", "DEMO-L3") as session:
        report = program_scheme(session, plan_scheme(flat))
    assert report.verified
    assert set(report.deleted) >= {"128.1.2", "128.1.3", "128.2.2", "128.2.3", "128.3.2",
                                   "128.4.1", "128.4.2", "128.5.1"}
    assert m.tou == TouTable.from_scheme(flat)


def test_a_meter_storing_something_else_fails_the_verify(scheme):
    m = meter()
    with client(m, _DisplayDroppingSession).programming("", "DEMO-L3") as session:
        report = program_scheme(session, plan_scheme(scheme("a1700-ci-tou.toml")))
    assert not report.verified
    assert [a for a, _, _ in report.mismatches] == ["128.8.0"]


def test_a_write_the_meter_refuses_is_an_error_not_a_verify(scheme):
    m = meter(write_level=3)
    with client(m).programming("", "DEMO-L1") as session, \
            pytest.raises(MeterRefused) as err:
        program_scheme(session, plan_scheme(scheme("a1700-ci-tou.toml")))
    assert err.value.code == "ER03"
