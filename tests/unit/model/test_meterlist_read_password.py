"""A meter list names the key-store secret a read opens the meter with
(``read_password_ref``), as its default or per entry, in TOML and CSV (issue 15, point 4):
a reference only, never a password."""

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


def _list(head=None, **entry):
    meter = {"serial": "M1", "task": "read", **entry}
    return {"list": {"id": "L1", "hhu": "H1", "due": "2026-12-31", **(head or {})},
            "meters": [meter, {"serial": "M2", "task": "read", "profile": True}]}


def _problems(catalog, data):
    with pytest.raises(ModelError) as err:
        parse_meter_list_toml(data, "l.toml", catalog)
    return {(p.field, p.message) for p in err.value.problems}


def test_an_entry_names_its_reading_password_and_the_lists_default_fills_the_rest(catalog):
    ml = parse_meter_list_toml(_list({"read_password_ref": "utility-read"},
                                     read_password_ref="a1700-read-35100002"),
                               "l.toml", catalog)
    assert [m.read_password_ref for m in ml.meters] == ["a1700-read-35100002",
                                                        "utility-read"]
    ml = parse_meter_list_toml(_list(), "l.toml", catalog)
    assert [m.read_password_ref for m in ml.meters] == [None, None]


def test_the_default_is_not_given_to_a_program_task(catalog):
    data = _list({"read_password_ref": "utility-read"})
    data["meters"].append({"serial": "M3", "task": "program", "scheme": "S"})
    ml = parse_meter_list_toml(data, "l.toml", catalog)
    assert [m.read_password_ref for m in ml.meters] == ["utility-read", "utility-read", None]


@pytest.mark.parametrize("head, entry, path, words", [
    ({}, {"read_password_ref": "../../etc/shadow"}, "meters[0].read_password_ref",
     "not a key-store secret name"),
    ({}, {"read_password_ref": 12345678}, "meters[0].read_password_ref",
     "never the password itself"),
    ({}, {"read_password_ref": "r", "task": "program", "scheme": "S"},
     "meters[0].read_password_ref", "reads nothing"),
    ({"read_password_ref": "has space"}, {}, "list.read_password_ref", "secret name"),
])
def test_a_bad_reference_is_named(catalog, head, entry, path, words):
    found = _problems(catalog, _list(head, **entry))
    assert any(p == path and words in m for p, m in found), found


def test_csv_takes_it_as_a_column_and_as_a_head_line(catalog):
    text = ("# list: L1\n# hhu: H1\n# due: 2026-12-31\n# read_password_ref: utility-read\n"
            "serial,task,profile,read_password_ref\nM1,read,yes,a1140-read\nM2,read,yes,\n")
    ml = parse_meter_list_csv(text, "l.csv", catalog)
    assert [m.read_password_ref for m in ml.meters] == ["a1140-read", "utility-read"]
    with pytest.raises(ModelError) as err:
        parse_meter_list_csv(text.replace("a1140-read", "a b"), "l.csv", catalog)
    assert [(p.line, p.field) for p in err.value.problems] == [
        (6, "row 6, column read_password_ref")]


def test_it_round_trips_and_a_list_without_it_is_unchanged(catalog):
    ml = parse_meter_list_toml(_list(read_password_ref="r1"), "l.toml", catalog)
    assert ml.to_dict()["meters"][0]["read_password_ref"] == "r1"
    assert "read_password_ref" not in ml.to_dict()["meters"][1]
    assert meter_list_from_dict(ml.to_dict()) == ml
    assert parse_meter_list_csv(render_meter_list_csv(ml), "l.csv", catalog) == ml
    assert parse_meter_list_toml(tomllib.loads(render_meter_list_toml(ml)), "l.toml",
                                 catalog) == ml
    plain = parse_meter_list_toml(_list(), "l.toml", catalog)
    assert "read_password_ref" not in render_meter_list_csv(plain)


@pytest.mark.parametrize("head, entry", [
    ({"read_password_ref": "Hunter2 secret!"}, {}),
    ({}, {"read_password_ref": "Hunter2 secret!"}),
    ({}, {"read_password_ref": 20261125}),
])
def test_a_password_written_where_its_name_belongs_is_never_repeated(catalog, head, entry):
    """The message goes to the daemon's log, the rejected file's reason and the web
    app's outbox page: a password typed in the field must not travel with it."""
    found = _problems(catalog, _list(head, **entry))
    assert any("never the password itself" in m for _, m in found), found
    assert not any("Hunter2" in m or "20261125" in m for _, m in found), found
    text = "# list: L1\n# hhu: H1\n# due: 2026-12-31\nserial,task,read_password_ref\n" \
           "M1,read,Hunter2 secret!\n"
    with pytest.raises(ModelError) as err:
        parse_meter_list_csv(text, "l.csv", catalog)
    assert "Hunter2" not in str(err.value)
