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

from hhu_sync.model import scheme_sections as sections
from hhu_sync.model.catalog import Catalog
from hhu_sync.model.fields import Fields
from hhu_sync.model.problems import ModelError
from hhu_sync.model.scheme_sections import (
    WEEKDAYS,
    DayProfile,
    PasswordRef,
    Rate,
    Season,
    SpecialDay,
    Switch,
    WeekProfile,
)

__all__ = [
    "WEEKDAYS", "DayProfile", "PasswordRef", "Rate", "Scheme", "SchemeRecord", "Season",
    "SpecialDay", "Switch", "WeekProfile", "parse_scheme", "render_scheme_toml",
    "scheme_from_dict",
]
_TOP = ("scheme", "ratios", "rates", "day_profiles", "week_profiles", "seasons",
        "special_days", "demand", "billing", "display", "passwords")


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


def parse_scheme(data: dict[str, Any], file: str, catalog: Catalog,
                 locate: Callable[[str], int | None] | None = None) -> Scheme:
    """Check a scheme's parsed TOML against its meter model; raise ModelError listing all.

    One parser per section (:mod:`hhu_sync.model.scheme_sections`), called in file order
    so the problems come out in the order a person reads them.
    """
    f = Fields(file, locate)
    f.unknown(data, "", _TOP)
    head = sections.parse_head(f, data, catalog)
    model = head.model
    ct, vt = sections.parse_ratios(f, data, model)
    rates = sections.parse_rates(f, data, model)
    days = sections.parse_day_profiles(f, data, model, {r.number for r in rates})
    day_ids = {d.id for d in days}
    weeks, week_tables = sections.parse_week_profiles(f, data, model, day_ids)
    seasons = sections.parse_seasons(f, data, model, {w.id for w in weeks}, week_tables)
    specials = sections.parse_special_days(f, data, model, day_ids)
    period = sections.parse_demand(f, data, model)
    reset_day, reset_time = sections.parse_billing(f, data)
    display_items, scroll = sections.parse_display(f, data, model)
    passwords = sections.parse_passwords(f, data, model)

    if f.problems:
        raise ModelError(f.problems)
    # No problem recorded: every required field was read, so none of these is None.
    sid, model_name = head.id, head.model_name
    assert sid is not None and model_name is not None
    assert period is not None and reset_day is not None
    return Scheme(
        id=sid, name=head.name or sid, model=model_name, version=head.version,
        description=head.description, ct_ratio=ct, vt_ratio=vt, rates=tuple(rates),
        day_profiles=tuple(days), week_profiles=tuple(weeks),
        seasons=tuple(sorted(seasons, key=lambda s: s.start)), special_days=tuple(specials),
        demand_period_minutes=period, billing_reset_day=reset_day,
        billing_reset_time=reset_time, display_items=display_items,
        display_scroll_seconds=scroll, passwords=tuple(passwords),
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
