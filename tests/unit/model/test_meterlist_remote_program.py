"""Remote programming on a meter list (issue 17, point 2): a program task on a remote
list needs ``allow_remote_program = true`` and a ``maintenance_window``; without either it
is refused at validation, naming the field; neither belongs on an HHU's list."""

from __future__ import annotations

import tomllib

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
PROGRAM = {"serial": "M1", "task": "read+program", "scheme": "a1700-ci-tou", "port": GW,
           "device_address": "201"}
READ = {"serial": "M2", "task": "read", "port": GW, "device_address": "202"}


def _data(*meters, **head):
    return {"list": {"id": "R1", "target": "remote", "due": "2026-12-31", **head},
            "meters": list(meters) or [PROGRAM, READ]}


def _problems(catalog, data):
    with pytest.raises(ModelError) as err:
        parse_meter_list_toml(data, "remote.toml", catalog)
    return {p.field: p.message for p in err.value.problems}


def test_a_remote_list_that_allows_programming_in_a_window_takes_program_tasks(catalog):
    ml = parse_meter_list_toml(_data(allow_remote_program=True,
                                     maintenance_window="22:00-02:00"), "r.toml", catalog)
    assert ml.allow_remote_program and ml.maintenance_window == "22:00-02:00"
    assert ml.window is not None and ml.window.crosses_midnight
    assert [m.task for m in ml.meters] == ["read+program", "read"]


def test_it_reads_back_equal_from_toml_csv_and_plain_data(catalog):
    ml = parse_meter_list_toml(_data(allow_remote_program=True,
                                     maintenance_window="01:00-04:00"), "r.toml", catalog)
    assert parse_meter_list_toml(tomllib.loads(render_meter_list_toml(ml)), "r.toml",
                                 catalog) == ml
    text = render_meter_list_csv(ml)
    assert "# allow_remote_program: yes" in text and "# maintenance_window: 01:00-04:00" in text
    assert parse_meter_list_csv(text, "r.csv", catalog) == ml
    assert meter_list_from_dict(ml.to_dict()) == ml


def test_a_program_task_without_the_flag_is_refused_naming_it(catalog):
    problems = _problems(catalog, _data(maintenance_window="01:00-04:00"))
    assert set(problems) == {"list.allow_remote_program"}
    assert "meters[0]" in problems["list.allow_remote_program"]
    problems = _problems(catalog, _data(allow_remote_program=False,
                                        maintenance_window="01:00-04:00"))
    assert set(problems) == {"list.allow_remote_program"}


def test_a_program_task_without_a_window_is_refused_naming_it(catalog):
    problems = _problems(catalog, _data(allow_remote_program=True))
    assert set(problems) == {"list.maintenance_window"}
    assert "missing" in problems["list.maintenance_window"]


def test_many_program_tasks_without_the_flag_are_told_once(catalog):
    meters = [{**PROGRAM, "serial": f"M{n}", "device_address": str(n)} for n in range(50)]
    with pytest.raises(ModelError) as err:
        parse_meter_list_toml(_data(*meters), "remote.toml", catalog)
    [problem] = err.value.problems
    assert problem.field == "list.allow_remote_program" and "49 more" in problem.message


def test_a_window_that_is_no_window_is_refused_naming_it(catalog):
    problems = _problems(catalog, _data(allow_remote_program=True,
                                        maintenance_window="1 to 4"))
    assert set(problems) == {"list.maintenance_window"}
    problems = _problems(catalog, _data(allow_remote_program="perhaps",
                                        maintenance_window="01:00-04:00"))
    assert set(problems) == {"list.allow_remote_program"}


def test_a_csv_remote_list_says_it_in_its_head_lines(catalog):
    text = ("# list: R1\n# target: remote\n# due: 2026-12-31\n"
            "# allow_remote_program: yes\n# maintenance_window: 01:00-04:00\n"
            "serial,site,address,task,scheme,model,notes,port,device_address\n"
            f"M1,,,program,a1700-ci-tou,,,{GW},201\n")
    ml = parse_meter_list_csv(text, "r.csv", catalog)
    assert ml.allow_remote_program and ml.maintenance_window == "01:00-04:00"
    with pytest.raises(ModelError) as err:
        parse_meter_list_csv(text.replace("# allow_remote_program: yes\n", ""), "r.csv",
                             catalog)
    assert [p.field for p in err.value.problems] == ["list.allow_remote_program"]


def test_an_hhu_list_takes_neither(catalog):
    data = {"list": {"id": "L", "hhu": "H1", "due": "2026-12-31",
                     "allow_remote_program": True, "maintenance_window": "01:00-04:00"},
            "meters": [{"serial": "M1", "task": "read"}]}
    assert set(_problems(catalog, data)) == {"list.allow_remote_program",
                                             "list.maintenance_window"}


def test_a_list_without_them_is_stored_as_before(catalog):
    ml = parse_meter_list_toml(_data(READ), "r.toml", catalog)
    assert not ml.allow_remote_program and ml.window is None
    assert "allow_remote_program" not in ml.to_dict()
    assert "maintenance_window" not in ml.to_dict()


# -- the list's time zone ----------------------------------------------------------------

def test_a_remote_lists_window_and_schedule_may_be_in_its_time_zone(catalog):
    ml = parse_meter_list_toml(_data(allow_remote_program=True, schedule="0 2 * * *",
                                     maintenance_window="01:00-04:00",
                                     timezone="Europe/London"), "r.toml", catalog)
    assert ml.timezone == ml.zone == "Europe/London"
    assert ml.window is not None and ml.window.zone == "Europe/London"
    assert parse_meter_list_toml(tomllib.loads(render_meter_list_toml(ml)), "r.toml",
                                 catalog) == ml
    text = render_meter_list_csv(ml)
    assert "# timezone: Europe/London" in text
    assert parse_meter_list_csv(text, "r.csv", catalog) == ml
    assert meter_list_from_dict(ml.to_dict()) == ml


def test_a_list_that_names_no_zone_is_utc_and_its_plain_data_is_as_before(catalog):
    ml = parse_meter_list_toml(_data(allow_remote_program=True,
                                     maintenance_window="01:00-04:00"), "r.toml", catalog)
    assert ml.timezone is None and ml.zone == "UTC" and "timezone" not in ml.to_dict()
    assert "timezone" not in render_meter_list_toml(ml)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "GMT+25", "../../etc/passwd", "", 7,
                                  "Europe/London\nx"])
def test_a_zone_that_is_no_zone_is_refused_naming_the_field(catalog, zone):
    problems = _problems(catalog, _data(allow_remote_program=True,
                                        maintenance_window="01:00-04:00", timezone=zone))
    assert set(problems) == {"list.timezone"}
    assert "time zone" in problems["list.timezone"]


def test_a_zone_on_an_hhus_list_is_refused(catalog):
    data = {"list": {"id": "L1", "hhu": "HHU-001", "due": "2026-12-31",
                     "timezone": "Europe/London"},
            "meters": [{"serial": "M1", "task": "read"}]}
    problems = _problems(catalog, data)
    assert "only a remote list" in problems["list.timezone"]


def test_a_folder_of_the_zone_database_on_a_list_is_a_list_problem(catalog):
    problems = _problems(catalog, _data(allow_remote_program=True,
                                        maintenance_window="01:00-04:00", timezone="Europe"))
    assert set(problems) == {"list.timezone"}
