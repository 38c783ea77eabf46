"""The parts of a scheme and one parser per section of its TOML.

Each ``parse_*`` function reads one section (``[scheme]``, ``[ratios]``, ``[[rates]]``,
...), records its problems in the shared :class:`Fields` and returns its part; the
parts a later section refers to (rate numbers, day and week profile ids) are passed in.
:func:`hhu_sync.model.scheme.parse_scheme` calls them in file order, so the problems
come out in the order a person reads the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hhu_sync.model.catalog import Catalog, MeterModel
from hhu_sync.model.fields import Fields, shown

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Rate:
    number: int
    name: str
    registers: tuple[str, ...]


@dataclass(frozen=True)
class Switch:
    at: str     # "HH:MM"
    rate: int


@dataclass(frozen=True)
class DayProfile:
    id: str
    switches: tuple[Switch, ...]


@dataclass(frozen=True)
class WeekProfile:
    id: str
    days: tuple[str, ...]  # day profile id for mon..sun


@dataclass(frozen=True)
class Season:
    id: str
    start: str  # "MM-DD"
    week: str


@dataclass(frozen=True)
class SpecialDay:
    date: str   # "MM-DD" every year or "YYYY-MM-DD" once
    day_profile: str


@dataclass(frozen=True)
class PasswordRef:
    level: int
    secret: str


@dataclass(frozen=True)
class Head:
    """What ``[scheme]`` says: who the scheme is and which meter model it is for."""

    id: str | None
    name: str
    model_name: str | None
    version: int
    description: str
    model: MeterModel | None


def _mname(model: MeterModel | None) -> str:
    return model.name if model else "meter"


def _table_list(f: Fields, data: dict[str, Any], key: str
                ) -> list[tuple[str, dict[str, Any]]]:
    value = f.get(data, "", key, list, required=False, default=[])
    out: list[tuple[str, dict[str, Any]]] = []
    for index, item in enumerate(value):
        path = f"{key}[{index}]"
        if isinstance(item, dict):
            out.append((path, item))
        else:
            f.add(path, "expected a table")
    return out


def _check_unique(f: Fields, items: list[tuple[str, Any]], what: str) -> None:
    seen: dict[Any, str] = {}
    for path, value in items:
        if not isinstance(value, str | int):   # wrong types are reported where they are read
            continue
        if value in seen:
            f.add(path, f"duplicate {what} {value!r} (first at {seen[value]})")
        else:
            seen[value] = path


def _check_count(f: Fields, path: str, count: int, limit: int, what: str, model: str) -> None:
    if count > limit:
        f.add(path, f"{count} {what}, but the {model} takes at most {limit}")


def parse_head(f: Fields, data: dict[str, Any], catalog: Catalog) -> Head:
    """``[scheme]``: id, name, model (looked up in the catalog), version, description."""
    head = f.get(data, "", "scheme", dict) or {}
    f.unknown(head, "scheme", ("id", "name", "model", "version", "description"))
    sid = f.ident(head, "scheme", "id")
    name = f.get(head, "scheme", "name", str, default="")
    model_name = f.get(head, "scheme", "model", str)
    version = f.int_range(head, "scheme", "version", 1, 1_000_000, required=False) or 1
    description = f.get(head, "scheme", "description", str, required=False, default="")
    model = catalog.get(model_name) if model_name else None
    if model_name and model is None:
        f.add("scheme.model", f"unknown meter model {model_name!r} "
              f"(the catalog has: {', '.join(sorted(catalog))})")
    return Head(sid, name, model_name, version, description, model)


def _ratio(f: Fields, ratios: dict[str, Any], kind: str, model: MeterModel | None
           ) -> tuple[float, float] | None:
    primary = f.positive(ratios, "ratios", f"{kind}_primary", required=False)
    secondary = f.positive(ratios, "ratios", f"{kind}_secondary", required=False)
    if primary is None and secondary is None:
        return None
    if primary is None or secondary is None:
        f.add(f"ratios.{kind}_primary", f"give both {kind}_primary and {kind}_secondary")
        return None
    if primary < secondary:
        f.add(f"ratios.{kind}_primary",
              f"primary {primary} is below secondary {secondary}; the ratio is inverted")
    if kind == "ct" and model is not None:
        if not model.ct_secondary:
            f.add("ratios.ct_secondary", f"the {model.name} is whole-current and takes no CT")
        elif secondary not in model.ct_secondary:
            f.add("ratios.ct_secondary", f"{secondary} A is not a CT secondary the "
                  f"{model.name} takes ({', '.join(map(str, model.ct_secondary))} A)")
    return (primary, secondary)


def parse_ratios(f: Fields, data: dict[str, Any], model: MeterModel | None
                 ) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """``[ratios]``: the CT ratio (checked against the model's secondaries) and VT ratio."""
    ratios = f.get(data, "", "ratios", dict, required=False, default={})
    f.unknown(ratios, "ratios", ("ct_primary", "ct_secondary", "vt_primary", "vt_secondary"))
    return _ratio(f, ratios, "ct", model), _ratio(f, ratios, "vt", None)


def parse_rates(f: Fields, data: dict[str, Any], model: MeterModel | None) -> list[Rate]:
    """``[[rates]]``: the tariff rates and the registers each drives."""
    rates: list[Rate] = []
    rate_items = _table_list(f, data, "rates")
    if not rate_items:
        f.add("rates", "a scheme needs at least one tariff rate")
    for path, item in rate_items:
        f.unknown(item, path, ("number", "name", "registers"))
        number = f.int_range(item, path, "number", 1, model.max_rates if model else 64)
        rname = f.get(item, path, "name", str, required=False, default="")
        regs = f.get(item, path, "registers", list, default=[])
        checked = tuple(r for i, r in enumerate(regs) if f.obis(r, f"{path}.registers[{i}]"))
        if not regs and "registers" in item:
            f.add(f"{path}.registers", "a rate must drive at least one register")
        if number is not None:
            rates.append(Rate(number, rname or f"Rate {number}", checked))
    if model:
        _check_count(f, "rates", len(rate_items), model.max_rates, "rates", _mname(model))
    _check_unique(f, [(f"{p}.number", i.get("number")) for p, i in rate_items], "rate number")
    _check_unique(f, [(f"{p}.registers", r) for p, i in rate_items
                      if isinstance(i.get("registers"), list)
                      for r in i["registers"] if isinstance(r, str)], "register")
    return rates


def _switches(f: Fields, path: str, switches: list[Any], rate_numbers: set[int]
              ) -> list[Switch]:
    """A day profile's switch times: sorted, starting at midnight, to defined rates."""
    parsed: list[Switch] = []
    last = -1
    for i, sw in enumerate(switches):
        spath = f"{path}.switches[{i}]"
        if not isinstance(sw, dict):
            f.add(spath, "expected a table such as { at = \"07:00\", rate = 1 }")
            continue
        f.unknown(sw, spath, ("at", "rate"))
        minutes = f.hhmm(sw.get("at"), f"{spath}.at")
        rate = f.get(sw, spath, "rate", int)
        if rate is not None and rate_numbers and rate not in rate_numbers:
            f.add(f"{spath}.rate", f"rate {rate} is not defined in [[rates]]")
        if minutes is not None:
            if i == 0 and minutes != 0:
                f.add(f"{spath}.at", "the first switch of a day must be at 00:00")
            if minutes <= last:
                f.add(f"{spath}.at", f"{sw['at']} is not after the previous switch time")
            last = max(last, minutes)
            if rate is not None:
                parsed.append(Switch(sw["at"], rate))
    return parsed


def parse_day_profiles(f: Fields, data: dict[str, Any], model: MeterModel | None,
                       rate_numbers: set[int]) -> list[DayProfile]:
    """``[[day_profiles]]``: switch time -> rate, sorted, starting at midnight."""
    days: list[DayProfile] = []
    day_items = _table_list(f, data, "day_profiles")
    if not day_items:
        f.add("day_profiles", "a scheme needs at least one day profile")
    for path, item in day_items:
        f.unknown(item, path, ("id", "switches"))
        did = f.ident(item, path, "id")
        switches = f.get(item, path, "switches", list, default=[])
        if "switches" in item and not switches:
            f.add(f"{path}.switches", "a day profile needs at least one switch time")
        parsed = _switches(f, path, switches, rate_numbers)
        if model:
            _check_count(f, f"{path}.switches", len(switches), model.max_switch_times,
                         "switch times", _mname(model))
        if did:
            days.append(DayProfile(did, tuple(parsed)))
    if model:
        _check_count(f, "day_profiles", len(day_items), model.max_day_profiles,
                     "day profiles", _mname(model))
    _check_unique(f, [(f"{p}.id", i.get("id")) for p, i in day_items], "day profile id")
    return days


def _need_day(f: Fields, day_ids: set[str], ref: Any, path: str) -> None:
    if isinstance(ref, str) and ref not in day_ids:
        f.add(path, f"day profile {ref!r} is not defined in [[day_profiles]]")
    elif not isinstance(ref, str):
        f.add(path, "expected the id of a day profile")


def parse_week_profiles(f: Fields, data: dict[str, Any], model: MeterModel | None,
                        day_ids: set[str]) -> tuple[list[WeekProfile], int]:
    """``[[week_profiles]]``: a day profile for every weekday. Also returns how many
    tables the section has (valid or not): several need ``[[seasons]]``."""
    weeks: list[WeekProfile] = []
    week_items = _table_list(f, data, "week_profiles")
    if not week_items:
        f.add("week_profiles", "a scheme needs at least one week profile")
    for path, item in week_items:
        f.unknown(item, path, ("id", *WEEKDAYS))
        wid = f.ident(item, path, "id")
        for d in WEEKDAYS:
            if d not in item:
                f.add(f"{path}.{d}", "missing (every day of the week needs a day profile)")
            else:
                _need_day(f, day_ids, item[d], f"{path}.{d}")
        if wid:
            weeks.append(WeekProfile(wid, tuple(str(item.get(d, "")) for d in WEEKDAYS)))
    if model:
        _check_count(f, "week_profiles", len(week_items), model.max_week_profiles,
                     "week profiles", _mname(model))
    _check_unique(f, [(f"{p}.id", i.get("id")) for p, i in week_items], "week profile id")
    return weeks, len(week_items)


def parse_seasons(f: Fields, data: dict[str, Any], model: MeterModel | None,
                  week_ids: set[str], week_tables: int) -> list[Season]:
    """``[[seasons]]``: from which day (MM-DD) each week profile applies."""
    seasons: list[Season] = []
    season_items = _table_list(f, data, "seasons")
    if not season_items and week_tables > 1:
        f.add("seasons", "several week profiles need [[seasons]] to say when each applies")
    for path, item in season_items:
        f.unknown(item, path, ("id", "start", "week"))
        sid = f.ident(item, path, "id")
        start = item.get("start")
        if not isinstance(start, str) or len(start) != 5:
            f.add(f"{path}.start", f"{shown(start)} is not a season start MM-DD")
            start = None
        else:
            start = f.day(start, f"{path}.start")
        week = f.get(item, path, "week", str)
        if week is not None and week not in week_ids:
            f.add(f"{path}.week", f"week profile {week!r} is not defined in [[week_profiles]]")
        if sid and start and week:
            seasons.append(Season(sid, start, week))
    if model:
        _check_count(f, "seasons", len(season_items), model.max_seasons, "seasons",
                     _mname(model))
    _check_unique(f, [(f"{p}.start", i.get("start")) for p, i in season_items], "season start")
    _check_unique(f, [(f"{p}.id", i.get("id")) for p, i in season_items], "season id")
    return seasons


def parse_special_days(f: Fields, data: dict[str, Any], model: MeterModel | None,
                       day_ids: set[str]) -> list[SpecialDay]:
    """``[[special_days]]``: dates (every year or once) that use a day profile of their own."""
    specials: list[SpecialDay] = []
    special_items = _table_list(f, data, "special_days")
    for path, item in special_items:
        f.unknown(item, path, ("date", "day_profile"))
        when = f.day(item.get("date"), f"{path}.date") if "date" in item else None
        if "date" not in item:
            f.add(f"{path}.date", "missing")
        ref = item.get("day_profile")
        if "day_profile" not in item:
            f.add(f"{path}.day_profile", "missing")
        else:
            _need_day(f, day_ids, ref, f"{path}.day_profile")
        if when and isinstance(ref, str):
            specials.append(SpecialDay(when, ref))
    if model:
        _check_count(f, "special_days", len(special_items), model.max_special_days,
                     "special days", _mname(model))
    _check_unique(f, [(f"{p}.date", i.get("date")) for p, i in special_items], "special day")
    return specials


def parse_demand(f: Fields, data: dict[str, Any], model: MeterModel | None) -> int | None:
    """``[demand]``: the demand integration period, one the model takes."""
    demand = f.get(data, "", "demand", dict, default={})
    f.unknown(demand, "demand", ("period_minutes",))
    period = f.get(demand, "demand", "period_minutes", int) if "demand" in data else None
    if period is not None and model and period not in model.demand_periods:
        f.add("demand.period_minutes", f"{period} minutes is not a demand period the "
              f"{_mname(model)} takes ({', '.join(map(str, model.demand_periods))})")
    return period


def parse_billing(f: Fields, data: dict[str, Any]) -> tuple[int | None, Any]:
    """``[billing]``: the day of the month (1-28) and time of the billing reset."""
    billing = f.get(data, "", "billing", dict, default={})
    f.unknown(billing, "billing", ("reset_day", "reset_time"))
    reset_day = f.int_range(billing, "billing", "reset_day", 1, 28) if "billing" in data else None
    reset_time = billing.get("reset_time", "00:00")
    f.hhmm(reset_time, "billing.reset_time")
    return reset_day, reset_time


def parse_display(f: Fields, data: dict[str, Any], model: MeterModel | None
                  ) -> tuple[tuple[str, ...], int]:
    """``[display]``: the registers the meter's display scrolls through, and how fast."""
    display = f.get(data, "", "display", dict, required=False, default={})
    f.unknown(display, "display", ("items", "scroll_seconds"))
    items = f.get(display, "display", "items", list, required=False, default=[])
    good_items = tuple(x for i, x in enumerate(items) if f.obis(x, f"display.items[{i}]"))
    _check_unique(f, [(f"display.items[{i}]", x) for i, x in enumerate(items)
                      if isinstance(x, str)], "display item")
    if model:
        _check_count(f, "display.items", len(items), model.max_display_items,
                     "display items", _mname(model))
    scroll = f.int_range(display, "display", "scroll_seconds", 1, 60, required=False) or 5
    return good_items, scroll


def parse_passwords(f: Fields, data: dict[str, Any], model: MeterModel | None
                    ) -> list[PasswordRef]:
    """``[[passwords]]``: each level names a key-store secret; a clear password is refused."""
    passwords: list[PasswordRef] = []
    pw_items = _table_list(f, data, "passwords")
    for path, item in pw_items:
        for clear in ("password", "value", "pin"):
            if clear in item:
                f.add(f"{path}.{clear}", "a password must not be written in a scheme; "
                      "name a key-store secret with secret = \"NAME\"")
        f.unknown(item, path, ("level", "secret", "password", "value", "pin"))
        level = f.get(item, path, "level", int)
        if level is not None and model and level not in model.password_levels:
            f.add(f"{path}.level", f"the {_mname(model)} has no password level {level} "
                  f"(levels: {', '.join(map(str, model.password_levels))})")
        secret = f.ident(item, path, "secret")
        if level is not None and secret:
            passwords.append(PasswordRef(level, secret))
    _check_unique(f, [(f"{p}.level", i.get("level")) for p, i in pw_items], "password level")
    return passwords
