"""A read task may ask for the load profile and the event log, since a date or the last
interval the depot holds (issue 15, point 4); the options are checked like every field."""

from __future__ import annotations

import datetime as dt

import pytest

from hhu_sync.model.meterlist import (
    SINCE_LAST,
    meter_list_from_dict,
    parse_meter_list_csv,
    parse_meter_list_toml,
    render_meter_list_csv,
    render_meter_list_toml,
)
from hhu_sync.model.problems import ModelError


def _list(head=None, **entry):
    meter = {"serial": "M1", "task": "read", **entry}
    return {"list": {"id": "L1", "hhu": "H1", "due": "2026-12-31", **(head or {})},
            "meters": [meter, {"serial": "M2", "task": "read"}]}


def _problems(catalog, data):
    with pytest.raises(ModelError) as err:
        parse_meter_list_toml(data, "l.toml", catalog)
    return {(p.field, p.message) for p in err.value.problems}


def test_a_read_task_asks_for_profile_and_events_since_a_date(catalog):
    ml = parse_meter_list_toml(_list(profile=True, events=True, since=dt.date(2026, 11, 1)),
                               "l.toml", catalog)
    first, second = ml.meters
    assert (first.profile, first.events, first.since) == (True, True, "2026-11-01")
    assert (second.profile, second.events, second.since) == (False, False, None)


def test_since_last_and_a_zoned_time_are_canonical(catalog):
    ml = parse_meter_list_toml(_list(profile=True, since="LAST"), "l.toml", catalog)
    assert ml.meters[0].since == SINCE_LAST
    zoned = dt.datetime(2026, 11, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    ml = parse_meter_list_toml(_list(profile=True, since=zoned), "l.toml", catalog)
    assert ml.meters[0].since == "2026-11-01T00:00:00Z"
    ml = parse_meter_list_toml(_list(events=True, since="2026-11-01T00:30:00Z"), "l.toml",
                               catalog)
    assert ml.meters[0].since == "2026-11-01T00:30:00Z"


def test_the_lists_defaults_apply_to_every_read_task_and_an_entry_overrides(catalog):
    data = _list({"profile": True, "since": "last"}, since="2026-10-01")
    data["meters"].append({"serial": "M3", "task": "program", "scheme": None})
    del data["meters"][2]["scheme"]
    with pytest.raises(ModelError):      # a program task needs its scheme: not our point
        parse_meter_list_toml(data, "l.toml", catalog)
    data["meters"].pop()
    ml = parse_meter_list_toml(data, "l.toml", catalog)
    assert [(m.profile, m.since) for m in ml.meters] == [(True, "2026-10-01"),
                                                         (True, SINCE_LAST)]


@pytest.mark.parametrize("entry, path, words", [
    ({"profile": "maybe"}, "meters[0].profile", "not yes or no"),
    ({"profile": True, "since": "yesterday"}, "meters[0].since", "not a date"),
    ({"profile": True, "since": "2026-11-01T00:00:00"}, "meters[0].since", "zone"),
    ({"profile": True, "since": "2026-02-30"}, "meters[0].since", "not a date"),
    ({"since": "2026-11-01"}, "meters[0].since", "needs profile = true"),
    ({"events": True, "task": "program", "scheme": "S"}, "meters[0].events", "reads nothing"),
])
def test_a_bad_read_option_is_named(catalog, entry, path, words):
    found = _problems(catalog, _list(**entry))
    assert any(p == path and words in m for p, m in found), found


def test_a_bad_default_is_named_on_the_list(catalog):
    found = _problems(catalog, _list({"since": "last"}))
    assert any(p == "list.since" and "needs profile" in m for p, m in found), found


def test_csv_takes_the_options_as_optional_columns(catalog):
    text = ("# list: L1\n# hhu: H1\n# due: 2026-12-31\n"
            "serial,task,profile,events,since\nM1,read,yes,no,last\nM2,read,,,\n")
    ml = parse_meter_list_csv(text, "l.csv", catalog)
    assert [(m.profile, m.events, m.since) for m in ml.meters] == [
        (True, False, SINCE_LAST), (False, False, None)]
    with pytest.raises(ModelError) as err:
        parse_meter_list_csv(text.replace("yes,no", "often,no"), "l.csv", catalog)
    assert [(p.line, p.field) for p in err.value.problems] == [(5, "row 5, column profile")]


def test_options_round_trip_and_a_list_without_them_is_unchanged(catalog):
    ml = parse_meter_list_toml(_list(profile=True, events=True, since="last"), "l.toml",
                               catalog)
    assert meter_list_from_dict(ml.to_dict()) == ml
    assert parse_meter_list_csv(render_meter_list_csv(ml), "l.csv", catalog) == ml
    import tomllib
    assert parse_meter_list_toml(tomllib.loads(render_meter_list_toml(ml)), "l.toml",
                                 catalog) == ml
    plain = parse_meter_list_toml(_list(), "l.toml", catalog)
    assert "profile" not in plain.to_dict()["meters"][0]
    assert "serial,site,address,task,scheme,model,notes" in (
        render_meter_list_csv(plain).splitlines())
