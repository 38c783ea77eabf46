"""Every scheme validation message, one case each, against the A1700 example."""

from __future__ import annotations

import copy
import tomllib

import pytest

from hhu_sync.model.loader import locate_lines
from hhu_sync.model.problems import ModelError
from hhu_sync.model.scheme import parse_scheme
from tests.conftest import EXAMPLES

BASE = tomllib.loads((EXAMPLES / "a1700-ci-tou.toml").read_text())


def problems(catalog, mutate) -> list[tuple[str, str]]:
    data = copy.deepcopy(BASE)
    mutate(data)
    try:
        parse_scheme(data, "s.toml", catalog)
    except ModelError as exc:
        return [(p.field, p.message) for p in exc.problems]
    return []


def test_the_example_scheme_is_valid(catalog):
    scheme = parse_scheme(copy.deepcopy(BASE), "s.toml", catalog)
    assert scheme.id == "a1700-ci-tou-2026"
    assert [r.registers for r in scheme.rates] == [("1.8.1",), ("1.8.2",), ("1.8.3",)]
    assert scheme.seasons[0].start == "04-01"  # seasons sorted by start


def _set(path, value):
    def mutate(d):
        *parents, last = path
        for p in parents:
            d = d[p]
        d[last] = value
    return mutate


def _del(path):
    def mutate(d):
        *parents, last = path
        for p in parents:
            d = d[p]
        del d[last]
    return mutate


def _extend(key, items):
    def mutate(d):
        d[key] = list(d.get(key, [])) + items
    return mutate


CASES = {
    "unknown top-level field": (_set(["tarifs"], {}), "tarifs", "unknown field"),
    "missing scheme id": (_del(["scheme", "id"]), "scheme.id", "missing"),
    "bad scheme id": (_set(["scheme", "id"], "../etc"), "scheme.id", "not a valid id"),
    "wrong type": (_set(["scheme", "name"], 5), "scheme.name", "expected text, found integer"),
    "unknown model": (_set(["scheme", "model"], "X9"), "scheme.model",
                      "unknown meter model 'X9'"),
    "ratio not positive": (_set(["ratios", "ct_primary"], 0), "ratios.ct_primary",
                           "greater than zero"),
    "ratio half given": (_del(["ratios", "vt_secondary"]), "ratios.vt_primary", "give both"),
    "ratio inverted": (_set(["ratios", "ct_primary"], 1), "ratios.ct_primary", "inverted"),
    "ct secondary not taken": (_set(["ratios", "ct_secondary"], 2), "ratios.ct_secondary",
                               "not a CT secondary"),
    "no rates": (_set(["rates"], []), "rates", "at least one tariff rate"),
    "rate out of range": (_set(["rates", 0, "number"], 9), "rates[0].number",
                          "between 1 and 8"),
    "too many rates": (_extend("rates", [{"number": n, "registers": [f"1.8.{n}"]}
                                         for n in range(4, 10)]), "rates", "at most 8"),
    "duplicate rate": (_set(["rates", 1, "number"], 1), "rates[1].number",
                       "duplicate rate number 1"),
    "bad register": (_set(["rates", 0, "registers"], ["energy"]), "rates[0].registers[0]",
                     "not an OBIS code"),
    "empty registers": (_set(["rates", 0, "registers"], []), "rates[0].registers",
                        "at least one register"),
    "register driven twice": (_set(["rates", 1, "registers"], ["1.8.1"]), "rates[1].registers",
                              "duplicate register '1.8.1'"),
    "no day profiles": (_set(["day_profiles"], []), "day_profiles", "at least one day profile"),
    "bad switch time": (_set(["day_profiles", 0, "switches", 1, "at"], "25:00"),
                        "day_profiles[0].switches[1].at", "not a time of day"),
    "day not starting at midnight": (_set(["day_profiles", 1, "switches", 0, "at"], "00:30"),
                                     "day_profiles[1].switches[0].at", "must be at 00:00"),
    "switch times out of order": (_set(["day_profiles", 0, "switches", 2, "at"], "06:00"),
                                  "day_profiles[0].switches[2].at", "not after the previous"),
    "switch to undefined rate": (_set(["day_profiles", 0, "switches", 1, "rate"], 7),
                                 "day_profiles[0].switches[1].rate", "rate 7 is not defined"),
    "switch not a table": (_set(["day_profiles", 0, "switches", 1], "07:00"),
                           "day_profiles[0].switches[1]", "expected a table"),
    "too many switch times": (_set(["day_profiles", 0, "switches"],
                                   [{"at": f"{h:02d}:00", "rate": 1} for h in range(14)]),
                              "day_profiles[0].switches", "at most 12"),
    "empty day profile": (_set(["day_profiles", 0, "switches"], []),
                          "day_profiles[0].switches", "at least one switch time"),
    "duplicate day profile": (_set(["day_profiles", 1, "id"], "winter-workday"),
                              "day_profiles[1].id", "duplicate day profile id"),
    "no week profiles": (_set(["week_profiles"], []), "week_profiles",
                         "at least one week profile"),
    "week day missing": (_del(["week_profiles", 0, "sun"]), "week_profiles[0].sun",
                         "every day of the week"),
    "week names unknown day profile": (_set(["week_profiles", 0, "mon"], "holiday"),
                                       "week_profiles[0].mon", "'holiday' is not defined"),
    "several weeks without seasons": (_set(["seasons"], []), "seasons",
                                      "several week profiles need [[seasons]]"),
    "bad season start": (_set(["seasons", 0, "start"], "13-01"), "seasons[0].start",
                         "not a date"),
    "season names unknown week": (_set(["seasons", 0, "week"], "autumn"), "seasons[0].week",
                                  "'autumn' is not defined"),
    "duplicate season start": (_set(["seasons", 1, "start"], "10-01"), "seasons[1].start",
                               "duplicate season start"),
    "too many seasons": (_extend("seasons", [{"id": f"s{m}", "start": f"{m:02d}-15",
                                              "week": "winter"} for m in range(1, 12)]),
                         "seasons", "at most 12"),
    "bad special day": (_set(["special_days", 0, "date"], "12-32"), "special_days[0].date",
                        "not a date"),
    "special day unknown profile": (_set(["special_days", 0, "day_profile"], "x"),
                                    "special_days[0].day_profile", "'x' is not defined"),
    "duplicate special day": (_set(["special_days", 1, "date"], "12-25"),
                              "special_days[1].date", "duplicate special day"),
    "demand period not taken": (_set(["demand", "period_minutes"], 45),
                                "demand.period_minutes", "45 minutes is not a demand period"),
    "demand missing": (_del(["demand"]), "demand", "missing"),
    "billing day out of range": (_set(["billing", "reset_day"], 31), "billing.reset_day",
                                 "between 1 and 28"),
    "billing time bad": (_set(["billing", "reset_time"], "7am"), "billing.reset_time",
                         "not a time of day"),
    "bad display item": (_set(["display", "items"], ["1.8.1", "kWh"]), "display.items[1]",
                         "not an OBIS code"),
    "duplicate display item": (_set(["display", "items"], ["1.8.1", "1.8.1"]),
                               "display.items[1]", "duplicate display item"),
    "too many display items": (_set(["display", "items"], [f"1.8.{n}" for n in range(65)]),
                               "display.items", "at most 64"),
    "clear-text password": (_set(["passwords", 0, "password"], "1234"),
                            "passwords[0].password", "must not be written in a scheme"),
    "password level not on model": (_set(["passwords", 0, "level"], 4), "passwords[0].level",
                                     "no password level 4"),
    "password secret bad name": (_set(["passwords", 0, "secret"], "a/b"),
                                 "passwords[0].secret", "not a valid id"),
    "duplicate password level": (_set(["passwords", 1, "level"], 1), "passwords[1].level",
                                 "duplicate password level"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_each_problem_names_its_field_and_says_what_is_wrong(catalog, case):
    mutate, field, fragment = CASES[case]
    found = problems(catalog, mutate)
    assert any(f == field and fragment in m for f, m in found), found


def test_all_problems_are_reported_at_once(catalog):
    def two_faults(d):
        d["scheme"]["model"] = "X9"
        d["billing"]["reset_day"] = 0
    assert {f for f, _ in problems(catalog, two_faults)} >= {"scheme.model", "billing.reset_day"}


def test_locator_finds_lines_of_array_tables_and_keys():
    text = (EXAMPLES / "a1700-ci-tou.toml").read_text()
    lines = text.splitlines()
    locate = locate_lines(text).line
    assert lines[locate("rates[1].number") - 1].startswith("number = 2")
    assert lines[locate("billing.reset_day") - 1].startswith("reset_day")
    # The element's own line inside the multi-line array, not the line of `switches = [`.
    assert lines[locate("day_profiles[0].switches[3].at") - 1].strip() == \
        '{ at = "19:00", rate = 1 },'
