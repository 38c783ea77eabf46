"""Whether a scheme fits a meter: its model, and that model's limits in the catalog.

One check for every way a scheme reaches a meter (a meter list's entries when the list
is validated, ``hhu-sync meter program`` against the meter it talks to), so a scheme
refused for a meter on a list is refused for the same meter on the bench too.
"""

from __future__ import annotations

from hhu_sync.model.catalog import Catalog, MeterModel
from hhu_sync.model.scheme import Scheme


def model_of_identification(identification: str, catalog: Catalog) -> str | None:
    """The catalog model a meter's identification names (``GEC A1700`` → ``A1700``).

    The longest name found wins, so a model whose name contains another's is told apart.
    """
    text = identification.lower()
    found = [name for name in catalog if name.lower() in text]
    return max(found, key=len) if found else None


def scheme_fit_problems(scheme: Scheme, model: str, catalog: Catalog) -> list[str]:
    """Why ``scheme`` cannot go to a meter of ``model``; empty when it fits."""
    if model not in catalog:
        return [f"unknown meter model {model!r}"]
    if scheme.model != model:
        return [f"scheme {scheme.id!r} is for the {scheme.model}; this meter is an {model}"]
    return _limit_problems(scheme, catalog[model])


def _limit_problems(s: Scheme, m: MeterModel) -> list[str]:
    """The catalog's limits, checked again on the built scheme: a scheme taken into the
    library under an older catalog may no longer fit."""
    out: list[str] = []

    def count(what: str, n: int, limit: int) -> None:
        if n > limit:
            out.append(f"scheme {s.id!r} has {n} {what}; the {m.name} takes {limit}")

    count("rates", len(s.rates), m.max_rates)
    count("day profiles", len(s.day_profiles), m.max_day_profiles)
    count("week profiles", len(s.week_profiles), m.max_week_profiles)
    count("seasons", len(s.seasons), m.max_seasons)
    count("special days", len(s.special_days), m.max_special_days)
    count("display items", len(s.display_items), m.max_display_items)
    for d in s.day_profiles:
        count(f"switch times in day profile {d.id}", len(d.switches), m.max_switch_times)
    if s.demand_period_minutes is not None and s.demand_period_minutes not in m.demand_periods:
        out.append(f"scheme {s.id!r}: demand period {s.demand_period_minutes} min is not one "
                   f"the {m.name} takes ({', '.join(map(str, m.demand_periods))})")
    for p in s.passwords:
        if p.level not in m.password_levels:
            out.append(f"scheme {s.id!r}: password level {p.level} is not a level of the "
                       f"{m.name} ({', '.join(map(str, m.password_levels))})")
    if s.ct_ratio is not None and s.ct_ratio[1] not in m.ct_secondary:
        out.append(f"scheme {s.id!r}: CT secondary {s.ct_ratio[1]:g} A is not one the "
                   f"{m.name} takes")
    return out
