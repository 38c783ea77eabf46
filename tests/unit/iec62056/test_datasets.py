"""Data set parsing: OBIS forms, units, blanks, several per line, timestamps."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hhu_sync.iec62056 import DataSet, Obis, RemoteProtocolError, Value, parse_datasets


def one(text: str) -> DataSet:
    (ds,) = parse_datasets(text)
    return ds


def test_short_obis_with_unit():
    ds = one("1.8.1(001846.0*kWh)")
    assert (ds.key, ds.value, ds.unit) == ("1.8.1", "001846.0", "kWh")


def test_value_stays_text():
    assert one("1.8.0(001846.0*kWh)").values[0] == Value("001846.0", "kWh")


def test_value_decimal_is_exact():
    assert one("1.8.0(0.1*kWh)").values[0].decimal() == Decimal("0.1")


def test_full_obis_current_equals_short():
    assert one("1-0:1.8.0*255(1*kWh)").key == "1.8.0"


def test_historical_distinct_from_current():
    sets = parse_datasets("1.8.0(2*kWh)\r\n1.8.0*1(1*kWh)\r\n")
    assert [ds.key for ds in sets] == ["1.8.0", "1.8.0*1"]


def test_historical_period_number():
    assert Obis.parse("1-0:1.8.0*3").historical == 3


def test_error_register():
    assert one("F.F(00000000)").value == "00000000"


def test_meter_id_and_serial():
    assert [ds.key for ds in parse_datasets("0.0.0(20000)C.1.0(123)")] == ["0.0.0", "C.1.0"]


def test_blank_value():
    assert one("1.8.3()").value == ""


def test_several_sets_on_one_line():
    sets = parse_datasets("1.8.1(1*kWh)1.8.2(2*kWh)1.8.3(3*kWh)\r\n")
    assert [ds.value for ds in sets] == ["1", "2", "3"]


def test_max_demand_with_timestamp():
    ds = one("1.6.0(0012.3*kW)(2611251030)")
    assert (ds.value, ds.unit, ds.timestamp) == ("0012.3", "kW", "2611251030")


def test_address_less_group_extends_previous_set():
    sets = parse_datasets("P.01(1)(2)\r\n(3)(4)\r\n")
    assert [v.text for v in sets[0].values] == ["1", "2", "3", "4"]


def test_stops_at_end_line():
    assert len(parse_datasets("1.8.0(1)\r\n!\r\n")) == 1


def test_encode_round_trip():
    text = "1.6.0(0012.3*kW)(2611251030)"
    assert one(text).encode() == text


@pytest.mark.parametrize("text,offset", [("1.8.0(12", 105), ("1.8.0", 105),
                                          ("1.8.0(1(2)", 105)])
def test_malformed_data_names_offset(text, offset):
    with pytest.raises(RemoteProtocolError) as err:
        parse_datasets(text, offset=100)
    assert err.value.offset == offset
