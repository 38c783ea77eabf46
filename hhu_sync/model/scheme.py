"""Schemes: a meter's programming as a meter engineer writes it, checked against its model.

A scheme file is TOML with a ``[scheme]`` table (see ``schemes/examples/``). Passwords
are never in clear: each password level names a secret held in the key store.
"""

from __future__ import annotations

import json as _json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from hhu_sync.model.catalog import Catalog, MeterModel
from hhu_sync.model.fields import Fields, shown
from hhu_sync.model.problems import ModelError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TOP = ("scheme", "ratios", "rates", "day_profiles", "week_profiles", "seasons",
        "special_days", "demand", "billing", "display", "passwords")


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
class SchemeRecord:
    """What the scheme library keeps of a scheme: its row. An outbox worker hands this
    back instead of the whole :class:`Scheme` (a tenth of the unpickling in the daemon,
    which only stores it)."""

    id: str
    model: str
    version: int
    json: str


@dataclass(frozen=True)
class Scheme:
    id: str
    name: str
    model: str
    version: int
    description: str
    ct_ratio: tuple[float, float] | None
    vt_ratio: tuple[float, float] | None
    rates: tuple[Rate, ...]
    day_profiles: tuple[DayProfile, ...]
    week_profiles: tuple[WeekProfile, ...]
    seasons: tuple[Season, ...]
    special_days: tuple[SpecialDay, ...]
    demand_period_minutes: int
    billing_reset_day: int
    billing_reset_time: str
    display_items: tuple[str, ...]
    display_scroll_seconds: int
    passwords: tuple[PasswordRef, ...] = field(default=())

    def record(self) -> SchemeRecord:
        return SchemeRecord(self.id, self.model, self.version, self.json)

    @cached_property
    def json(self) -> str:
        """:meth:`to_dict` as JSON, as the scheme library stores it. Kept with the object
        (and pickled with it): an outbox worker makes it, the daemon stores it."""
        return _json.dumps(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, dicts, str, int, float) for msgpack and JSON.

        Written out by hand: ``dataclasses.asdict`` deep-copies and is ten times slower,
        and the outbox converts every scheme it accepts.
        """
        return {
            "id": self.id, "name": self.name, "model": self.model, "version": self.version,
            "description": self.description,
            "ct_ratio": list(self.ct_ratio) if self.ct_ratio else None,
            "vt_ratio": list(self.vt_ratio) if self.vt_ratio else None,
            "rates": [{"number": r.number, "name": r.name, "registers": list(r.registers)}
                      for r in self.rates],
            "day_profiles": [{"id": d.id, "switches": [{"at": w.at, "rate": w.rate}
                                                       for w in d.switches]}
                             for d in self.day_profiles],
            "week_profiles": [{"id": w.id, "days": list(w.days)} for w in self.week_profiles],
            "seasons": [{"id": x.id, "start": x.start, "week": x.week} for x in self.seasons],
            "special_days": [{"date": x.date, "day_profile": x.day_profile}
                             for x in self.special_days],
            "demand_period_minutes": self.demand_period_minutes,
            "billing_reset_day": self.billing_reset_day,
            "billing_reset_time": self.billing_reset_time,
            "display_items": list(self.display_items),
            "display_scroll_seconds": self.display_scroll_seconds,
            "passwords": [{"level": p.level, "secret": p.secret} for p in self.passwords],
        }

    def to_toml(self) -> str:
        """Render back to the scheme TOML format (used by round-trip tests and tools)."""
        return render_scheme_toml(self)


def scheme_from_dict(data: dict[str, Any]) -> Scheme:
    """Rebuild a Scheme from :meth:`Scheme.to_dict` output (as carried in transfer files)."""
    return Scheme(
        id=data["id"], name=data["name"], model=data["model"], version=data["version"],
        description=data["description"],
        ct_ratio=tuple(data["ct_ratio"]) if data["ct_ratio"] else None,
        vt_ratio=tuple(data["vt_ratio"]) if data["vt_ratio"] else None,
        rates=tuple(Rate(r["number"], r["name"], tuple(r["registers"])) for r in data["rates"]),
        day_profiles=tuple(DayProfile(d["id"], tuple(Switch(s["at"], s["rate"])
                                                     for s in d["switches"]))
                           for d in data["day_profiles"]),
        week_profiles=tuple(WeekProfile(w["id"], tuple(w["days"])) for w in data["week_profiles"]),
        seasons=tuple(Season(s["id"], s["start"], s["week"]) for s in data["seasons"]),
        special_days=tuple(SpecialDay(s["date"], s["day_profile"]) for s in data["special_days"]),
        demand_period_minutes=data["demand_period_minutes"],
        billing_reset_day=data["billing_reset_day"],
        billing_reset_time=data["billing_reset_time"],
        display_items=tuple(data["display_items"]),
        display_scroll_seconds=data["display_scroll_seconds"],
        passwords=tuple(PasswordRef(p["level"], p["secret"]) for p in data["passwords"]),
    )


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


def parse_scheme(data: dict[str, Any], file: str, catalog: Catalog,
                 locate: Callable[[str], int | None] | None = None) -> Scheme:
    """Check a scheme's parsed TOML against its meter model; raise ModelError listing all."""
    f = Fields(file, locate)
    f.unknown(data, "", _TOP)
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
    mname = model.name if model else "meter"

    ratios = f.get(data, "", "ratios", dict, required=False, default={})
    f.unknown(ratios, "ratios", ("ct_primary", "ct_secondary", "vt_primary", "vt_secondary"))
    ct = _ratio(f, ratios, "ct", model)
    vt = _ratio(f, ratios, "vt", None)

    # Rates and the registers they drive.
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
        _check_count(f, "rates", len(rate_items), model.max_rates, "rates", mname)
    _check_unique(f, [(f"{p}.number", i.get("number")) for p, i in rate_items], "rate number")
    _check_unique(f, [(f"{p}.registers", r) for p, i in rate_items
                      if isinstance(i.get("registers"), list)
                      for r in i["registers"] if isinstance(r, str)], "register")
    rate_numbers = {r.number for r in rates}

    # Day profiles: switch time -> rate, sorted, starting at midnight.
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
        if model:
            _check_count(f, f"{path}.switches", len(switches), model.max_switch_times,
                         "switch times", mname)
        if did:
            days.append(DayProfile(did, tuple(parsed)))
    if model:
        _check_count(f, "day_profiles", len(day_items), model.max_day_profiles,
                     "day profiles", mname)
    _check_unique(f, [(f"{p}.id", i.get("id")) for p, i in day_items], "day profile id")
    day_ids = {d.id for d in days}

    def need_day(ref: Any, path: str) -> None:
        if isinstance(ref, str) and ref not in day_ids:
            f.add(path, f"day profile {ref!r} is not defined in [[day_profiles]]")
        elif not isinstance(ref, str):
            f.add(path, "expected the id of a day profile")

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
                need_day(item[d], f"{path}.{d}")
        if wid:
            weeks.append(WeekProfile(wid, tuple(str(item.get(d, "")) for d in WEEKDAYS)))
    if model:
        _check_count(f, "week_profiles", len(week_items), model.max_week_profiles,
                     "week profiles", mname)
    _check_unique(f, [(f"{p}.id", i.get("id")) for p, i in week_items], "week profile id")
    week_ids = {w.id for w in weeks}

    seasons: list[Season] = []
    season_items = _table_list(f, data, "seasons")
    if not season_items and len(week_items) > 1:
        f.add("seasons", "several week profiles need [[seasons]] to say when each applies")
    for path, item in season_items:
        f.unknown(item, path, ("id", "start", "week"))
        sid2 = f.ident(item, path, "id")
        start = item.get("start")
        if not isinstance(start, str) or len(start) != 5:
            f.add(f"{path}.start", f"{shown(start)} is not a season start MM-DD")
            start = None
        else:
            start = f.day(start, f"{path}.start")
        week = f.get(item, path, "week", str)
        if week is not None and week not in week_ids:
            f.add(f"{path}.week", f"week profile {week!r} is not defined in [[week_profiles]]")
        if sid2 and start and week:
            seasons.append(Season(sid2, start, week))
    if model:
        _check_count(f, "seasons", len(season_items), model.max_seasons, "seasons", mname)
    _check_unique(f, [(f"{p}.start", i.get("start")) for p, i in season_items], "season start")
    _check_unique(f, [(f"{p}.id", i.get("id")) for p, i in season_items], "season id")

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
            need_day(ref, f"{path}.day_profile")
        if when and isinstance(ref, str):
            specials.append(SpecialDay(when, ref))
    if model:
        _check_count(f, "special_days", len(special_items), model.max_special_days,
                     "special days", mname)
    _check_unique(f, [(f"{p}.date", i.get("date")) for p, i in special_items], "special day")

    demand = f.get(data, "", "demand", dict, default={})
    f.unknown(demand, "demand", ("period_minutes",))
    period = f.get(demand, "demand", "period_minutes", int) if "demand" in data else None
    if period is not None and model and period not in model.demand_periods:
        f.add("demand.period_minutes", f"{period} minutes is not a demand period the {mname} "
              f"takes ({', '.join(map(str, model.demand_periods))})")

    billing = f.get(data, "", "billing", dict, default={})
    f.unknown(billing, "billing", ("reset_day", "reset_time"))
    reset_day = f.int_range(billing, "billing", "reset_day", 1, 28) if "billing" in data else None
    reset_time = billing.get("reset_time", "00:00")
    f.hhmm(reset_time, "billing.reset_time")

    display = f.get(data, "", "display", dict, required=False, default={})
    f.unknown(display, "display", ("items", "scroll_seconds"))
    items = f.get(display, "display", "items", list, required=False, default=[])
    good_items = tuple(x for i, x in enumerate(items) if f.obis(x, f"display.items[{i}]"))
    _check_unique(f, [(f"display.items[{i}]", x) for i, x in enumerate(items)
                      if isinstance(x, str)], "display item")
    if model:
        _check_count(f, "display.items", len(items), model.max_display_items,
                     "display items", mname)
    scroll = f.int_range(display, "display", "scroll_seconds", 1, 60, required=False) or 5

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
            f.add(f"{path}.level", f"the {mname} has no password level {level} "
                  f"(levels: {', '.join(map(str, model.password_levels))})")
        secret = f.ident(item, path, "secret")
        if level is not None and secret:
            passwords.append(PasswordRef(level, secret))
    _check_unique(f, [(f"{p}.level", i.get("level")) for p, i in pw_items], "password level")

    if f.problems:
        raise ModelError(f.problems)
    # No problem recorded: every required field was read, so none of these is None.
    assert sid is not None and model_name is not None
    assert period is not None and reset_day is not None
    return Scheme(
        id=sid, name=name or sid, model=model_name, version=version, description=description,
        ct_ratio=ct, vt_ratio=vt, rates=tuple(rates), day_profiles=tuple(days),
        week_profiles=tuple(weeks), seasons=tuple(sorted(seasons, key=lambda s: s.start)),
        special_days=tuple(specials), demand_period_minutes=period,
        billing_reset_day=reset_day, billing_reset_time=reset_time,
        display_items=good_items, display_scroll_seconds=scroll, passwords=tuple(passwords),
    )


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_scheme_toml(s: Scheme) -> str:
    """TOML text that :func:`parse_scheme` reads back to an equal Scheme."""
    out = ["[scheme]", f"id = {_q(s.id)}", f"name = {_q(s.name)}", f"model = {_q(s.model)}",
           f"version = {s.version}", f"description = {_q(s.description)}", ""]
    if s.ct_ratio or s.vt_ratio:
        out.append("[ratios]")
        for kind, ratio in (("ct", s.ct_ratio), ("vt", s.vt_ratio)):
            if ratio:
                out += [f"{kind}_primary = {ratio[0]!r}", f"{kind}_secondary = {ratio[1]!r}"]
        out.append("")
    for r in s.rates:
        regs = ", ".join(_q(x) for x in r.registers)
        out += ["[[rates]]", f"number = {r.number}", f"name = {_q(r.name)}",
                f"registers = [{regs}]", ""]
    for d in s.day_profiles:
        sw = ", ".join(f"{{ at = {_q(x.at)}, rate = {x.rate} }}" for x in d.switches)
        out += ["[[day_profiles]]", f"id = {_q(d.id)}", f"switches = [{sw}]", ""]
    for w in s.week_profiles:
        out += ["[[week_profiles]]", f"id = {_q(w.id)}"]
        out += [f"{day} = {_q(p)}" for day, p in zip(WEEKDAYS, w.days, strict=True)] + [""]
    for se in s.seasons:
        out += ["[[seasons]]", f"id = {_q(se.id)}", f"start = {_q(se.start)}",
                f"week = {_q(se.week)}", ""]
    for sp in s.special_days:
        out += ["[[special_days]]", f"date = {_q(sp.date)}", f"day_profile = {_q(sp.day_profile)}",
                ""]
    out += ["[demand]", f"period_minutes = {s.demand_period_minutes}", "",
            "[billing]", f"reset_day = {s.billing_reset_day}",
            f"reset_time = {_q(s.billing_reset_time)}", "",
            "[display]", f"items = [{', '.join(_q(x) for x in s.display_items)}]",
            f"scroll_seconds = {s.display_scroll_seconds}", ""]
    for p in s.passwords:
        out += ["[[passwords]]", f"level = {p.level}", f"secret = {_q(p.secret)}", ""]
    return "\n".join(out)
