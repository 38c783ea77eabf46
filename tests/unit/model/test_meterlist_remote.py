"""A meter list the depot reads itself (issue 17, point 1): ``target = "remote"``, each
meter with its ``port`` (a pyserial URL) and, on a shared line, its ``device_address``;
what cannot be read that way is refused naming the file and the field."""

from __future__ import annotations

import pytest

from hhu_sync.model.meterlist import (
    meter_list_from_dict,
    parse_meter_list_csv,
    parse_meter_list_toml,
    render_meter_list_csv,
    render_meter_list_toml,
)
from hhu_sync.model.problems import ModelError

GW = "socket://10.0.0.5:4001"


def _list(*meters, **head):
    return {"list": {"id": "R1", "target": "remote", "due": "2026-12-31", **head},
            "meters": list(meters) or [
                {"serial": "M1", "task": "read", "port": GW, "device_address": "201"},
                {"serial": "M2", "task": "read", "port": GW, "device_address": "202"},
                {"serial": "M3", "task": "read", "port": "rfc2217://modem.example:7000",
                 "profile": True},
                {"serial": "M4", "task": "read", "port": "/dev/ttyUSB0",
                 "device_address": "11"}]}


def _problems(catalog, data):
    with pytest.raises(ModelError) as err:
        parse_meter_list_toml(data, "remote.toml", catalog)
    return {(p.field, p.message) for p in err.value.problems}


def _fields(catalog, data):
    return {f for f, _ in _problems(catalog, data)}


def test_a_remote_list_gives_every_meter_its_port_and_address(catalog):
    ml = parse_meter_list_toml(_list(), "remote.toml", catalog)
    assert ml.remote and ml.target == "remote" and ml.hhu is None and ml.crew is None
    assert [(m.port, m.device_address) for m in ml.meters] == [
        (GW, "201"), (GW, "202"), ("rfc2217://modem.example:7000", ""),
        ("/dev/ttyUSB0", "11")]


def test_a_remote_list_reads_back_equal_from_toml_csv_and_plain_data(catalog):
    ml = parse_meter_list_toml(_list(), "remote.toml", catalog)
    import tomllib
    assert parse_meter_list_toml(tomllib.loads(render_meter_list_toml(ml)), "r.toml",
                                 catalog) == ml
    assert parse_meter_list_csv(render_meter_list_csv(ml), "r.csv", catalog) == ml
    assert meter_list_from_dict(ml.to_dict()) == ml


def test_an_hhu_list_is_stored_as_it_was_before_remote_lists(catalog):
    ml = parse_meter_list_toml({"list": {"id": "L", "hhu": "H1", "due": "2026-12-31"},
                                "meters": [{"serial": "M1", "task": "read"}]}, "l.toml",
                               catalog)
    assert not ml.remote
    assert "target" not in ml.to_dict() and "port" not in ml.to_dict()["meters"][0]


def test_a_csv_remote_list_names_its_target_in_a_head_line_and_ports_in_columns(catalog):
    text = ("# list: R2\n# target: remote\n# due: 2026-12-31\n"
            "serial,site,address,task,scheme,model,notes,port,device_address\n"
            f"M1,Estate,Unit 1,read,,,,{GW},201\n"
            f"M2,Estate,Unit 2,read,,,,{GW},201\n")
    with pytest.raises(ModelError) as err:
        parse_meter_list_csv(text, "r.csv", catalog)
    [problem] = err.value.problems
    assert (problem.file, problem.line, problem.field) == ("r.csv", 6,
                                                           "row 6, column device_address")
    assert "address '201' on port" in problem.message and "row 5" in problem.message


def test_a_remote_meter_without_a_port_is_refused(catalog):
    found = _problems(catalog, _list({"serial": "M1", "task": "read"}))
    assert [m for f, m in found if f == "meters[0].port"] == [
        "missing: every meter of a remote list needs its port (socket://HOST:PORT, "
        "rfc2217://HOST:PORT or a local device)"]


def test_two_meters_at_one_address_on_one_port_are_refused_naming_both(catalog):
    found = _problems(catalog, _list(
        {"serial": "M1", "task": "read", "port": GW, "device_address": "201"},
        {"serial": "M2", "task": "read", "port": "socket://10.0.0.6:4001",
         "device_address": "201"},                       # another port: fine
        {"serial": "M3", "task": "read", "port": GW, "device_address": "201"}))
    assert {f for f, _ in found} == {"meters[2].device_address"}
    assert "(at meters[0])" in next(m for _, m in found)


@pytest.mark.parametrize("port, says", [
    ("loop://", "unknown URL scheme 'loop'"),
    ("http://10.0.0.5:80", "unknown URL scheme 'http'"),
    ("socket://10.0.0.5", "expected socket://HOST:PORT with a port 1-65535"),
    ("socket://10.0.0.5:70000", "expected socket://HOST:PORT with a port 1-65535"),
    ("ttyUSB0", "is not a port"),
])
def test_a_port_that_is_no_meter_line_is_refused(catalog, port, says):
    found = _problems(catalog, _list({"serial": "M1", "task": "read", "port": port}))
    [(field, message)] = found
    assert field == "meters[0].port" and says in message


def test_a_port_on_a_list_for_an_hhu_is_refused(catalog):
    data = {"list": {"id": "L", "hhu": "H1", "due": "2026-12-31"},
            "meters": [{"serial": "M1", "task": "read", "port": GW}]}
    assert _fields(catalog, data) == {"meters[0].port"}


def test_a_target_other_than_remote_or_beside_an_hhu_is_refused(catalog):
    assert _fields(catalog, _list(target="cloud")) == {"list.target"}
    assert _fields(catalog, _list(hhu="H1")) == {"list.hhu"}


def test_programming_on_a_remote_list_is_refused_without_allow_remote_program(catalog):
    found = _problems(catalog, _list({"serial": "M1", "task": "program", "scheme": "S",
                                      "port": GW}))
    flag = [m for f, m in found if f == "list.allow_remote_program"]
    assert flag and "maintenance_window" in flag[0]      # test_meterlist_remote_program


def test_a_remote_list_may_run_on_a_cron_schedule_read_back_from_toml_and_csv(catalog):
    ml = parse_meter_list_toml(_list(schedule=" 0  2 * * *"), "remote.toml", catalog)
    assert ml.schedule == "0 2 * * *"
    import tomllib
    assert parse_meter_list_toml(tomllib.loads(render_meter_list_toml(ml)), "r.toml",
                                 catalog) == ml
    assert parse_meter_list_csv(render_meter_list_csv(ml), "r.csv", catalog) == ml
    assert meter_list_from_dict(ml.to_dict()) == ml


def test_a_schedule_that_is_no_cron_expression_or_on_an_hhus_list_is_refused(catalog):
    found = _problems(catalog, _list(schedule="0 25 * * *"))
    [(field, message)] = found
    assert field == "list.schedule" and "is not a cron expression" in message
    assert _fields(catalog, _list(schedule="nightly")) == {"list.schedule"}
    data = {"list": {"id": "L", "hhu": "H1", "due": "2026-12-31", "schedule": "0 2 * * *"},
            "meters": [{"serial": "M1", "task": "read"}]}
    assert _fields(catalog, data) == {"list.schedule"}


def test_a_schedule_on_a_day_no_month_has_is_refused_and_the_29th_of_february_is_not(
        catalog):
    [(field, message)] = _problems(catalog, _list(schedule="0 2 30 2 *"))
    assert field == "list.schedule" and "never fires" in message
    leap = parse_meter_list_toml(_list(schedule="0 2 29 2 *"), "remote.toml", catalog)
    assert leap.schedule == "0 2 29 2 *"
