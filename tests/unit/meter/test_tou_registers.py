"""The simulated meter's TOU engine and registers, on simulated time only."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from hhu_firmware_sim.meter import LoadProfile, SimMeter, TouTable
from hhu_sync.model.catalog import load_catalog
from hhu_sync.model.loader import load_toml
from hhu_sync.model.scheme import parse_scheme

from .conftest import SCHEME


@pytest.fixture(scope="module")
def tou() -> TouTable:
    data, locate = load_toml(SCHEME)
    return TouTable.from_scheme(parse_scheme(data, str(SCHEME), load_catalog(), locate))


def meter(tou: TouTable, start: datetime, kw: str = "6") -> SimMeter:
    return SimMeter("1", tou=tou, start=start, load=LoadProfile.constant(kw))


def test_rate_on_winter_workday_peak(tou):
    assert tou.rate_at(datetime(2026, 1, 6, 17, 0)) == 2  # Tuesday 17:00 -> Peak


def test_summer_season_has_no_peak(tou):
    assert tou.rate_at(datetime(2026, 6, 2, 17, 0)) == 1


def test_season_wraps_over_new_year(tou):
    assert tou.week_for(datetime(2026, 1, 15).date()).id == "winter"


def test_special_day_uses_its_profile(tou):
    assert tou.rate_at(datetime(2026, 12, 25, 17, 0)) == 1  # Friday, but weekend profile


def test_energy_accrues_on_active_rate_across_switch(tou):
    m = meter(tou, datetime(2026, 1, 6, 15, 0))
    m.at(datetime(2026, 1, 6, 17, 0))  # 1 h Day (rate 1) then 1 h Peak (rate 2) at 6 kW
    assert (m.energy["1.8.1"], m.energy["1.8.2"]) == (Decimal(6), Decimal(6))


def test_total_is_sum_of_rates(tou):
    m = meter(tou, datetime(2026, 1, 6, 0, 0))
    m.advance(86400)
    assert m.total == sum(m.energy.values()) == Decimal(144)


def test_season_change_moves_energy_to_other_profile(tou):
    m = meter(tou, datetime(2026, 3, 31, 16, 0))  # Tuesday, last winter day
    m.at(datetime(2026, 4, 1, 17, 0))  # Wednesday 16:00-17:00 is summer: Day, no Peak
    assert m.energy["1.8.2"] == Decimal(18)  # only the 3 winter peak hours on 31 March


def test_special_day_energy_goes_to_weekend_profile(tou):
    m = meter(tou, datetime(2026, 12, 25, 16, 0))
    m.advance(3600)
    assert "1.8.2" not in m.energy


def test_max_demand_per_period_with_timestamp():
    m = SimMeter("1", start=datetime(2026, 1, 5), demand_period_minutes=30,
                 load=LoadProfile(((0, Decimal(2)), (600, Decimal(10)), (630, Decimal(2)))))
    m.at(datetime(2026, 1, 5, 12, 0))
    ds = {d.key: d for d in m.readout()}["1.6.0"]
    assert (ds.value, ds.timestamp) == ("0010.000", "2601051030")


def test_partial_period_does_not_count_yet():
    m = SimMeter("1", start=datetime(2026, 1, 5), load=LoadProfile.constant(4))
    m.advance(600)
    assert m.max_demand == 0


def test_billing_reset_moves_values_to_history():
    m = SimMeter("1", start=datetime(2026, 1, 31), load=LoadProfile.constant(1))
    m.at(datetime(2026, 2, 1, 1, 0))
    regs = {d.key: d.value for d in m.readout()}
    assert (regs["1.8.0*1"], regs["1.8.0"], regs["0.1.0"]) == ("000024.000", "000025.000", "1")


def test_billing_reset_restarts_max_demand():
    m = SimMeter("1", start=datetime(2026, 1, 31), load=LoadProfile.constant(1))
    m.at(datetime(2026, 2, 1, 0, 10))
    assert (m.max_demand, m.history[0].max_demand) == (0, 1)


def test_history_depth_is_bounded():
    m = SimMeter("1", start=datetime(2026, 1, 1), history_depth=2)
    for _ in range(4):
        m.billing_reset()
    assert (len(m.history), m.reset_count) == (2, 4)


def test_flags_in_error_register():
    m = SimMeter("1", flags=("battery_low", "cover_opened"))
    assert m.register_value("F.F")[0].text == "00000005"


def test_unknown_flag_refused():
    with pytest.raises(ValueError):
        SimMeter("1", flags=("smoke",))


def test_clock_and_serial_registers():
    m = SimMeter("35012345", start=datetime(2026, 11, 25, 10, 30, 7))
    regs = {d.key: d.value for d in m.readout()}
    assert (regs["0.0.0"], regs["C.1.0"], regs["0.9.1"], regs["0.9.2"]) == (
        "35012345", "35012345", "10:30:07", "26-11-25")


def test_initial_registers_loaded():
    m = SimMeter("1", registers={"1.8.1": "100.5", "1.8.0": "200"})
    assert (m.total, m.energy["1.8.1"]) == (Decimal(200), Decimal("100.5"))


def test_time_never_runs_backwards():
    m = SimMeter("1", start=datetime(2026, 1, 2))
    with pytest.raises(ValueError):
        m.at(datetime(2026, 1, 1))
