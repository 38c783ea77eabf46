"""The meter model catalog: each model's programming limits, read from TOML.

``takes_ratios`` says whether a model can be programmed with the CT and VT ratios so its
registers count primary values (the Elster A1700 can). It is optional and false unless a
catalog says so: a model wrongly marked would have its secondary values billed as
primary, so only what is known is marked.

The ``profile_*`` keys say how a model records its load profile (issue 15):
``profile_dialect`` ``"vdew"`` (P.01/P.98 over R5/R6, EMH, Landis+Gyr, Iskra, MetCom) or
``"elster"`` (register-addressed, A1140/A1700/AS230), the channel codes, the interval
in minutes and the depth in days. All optional: a model without them has no profile.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from hhu_sync.model.fields import Fields
from hhu_sync.model.loader import load_toml
from hhu_sync.model.problems import ModelError

PROFILE_DIALECTS = ("vdew", "elster")
_INT_LIMITS = ("max_rates", "max_switch_times", "max_day_profiles", "max_week_profiles",
               "max_seasons", "max_special_days", "max_display_items")


@dataclass(frozen=True)
class MeterModel:
    name: str
    description: str
    max_rates: int
    max_switch_times: int
    max_day_profiles: int
    max_week_profiles: int
    max_seasons: int
    max_special_days: int
    demand_periods: tuple[int, ...]
    max_display_items: int
    password_levels: tuple[int, ...]
    ct_secondary: tuple[int, ...]
    takes_ratios: bool = False
    profile_dialect: str = ""
    profile_channels: tuple[str, ...] = ()
    profile_interval_minutes: int = 0
    profile_depth_days: int = 0


Catalog = dict[str, MeterModel]


def default_catalog_path() -> Path:
    """``$HHU_SYNC_CATALOG``, else ``config/meter-models.toml`` of this checkout."""
    env = os.environ.get("HHU_SYNC_CATALOG")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "config" / "meter-models.toml"


def parse_catalog(data: dict[str, Any], file: str,
                  locate: Callable[[str], int | None] | None = None) -> Catalog:
    f = Fields(file, locate)
    f.unknown(data, "", ["models"])
    models = f.get(data, "", "models", dict) or {}
    catalog: Catalog = {}
    for name, table in models.items():
        path = f"models.{name}"
        if not isinstance(table, dict):
            f.add(path, "expected a table")
            continue
        f.unknown(table, path, ("description", "demand_periods", "password_levels",
                                "ct_secondary", "takes_ratios", *_INT_LIMITS, *_PROFILE_KEYS))
        # Any: splatted into MeterModel by name, once None (a faulty limit) is ruled out.
        limits: dict[str, Any] = {k: f.int_range(table, path, k, 0, 10_000) for k in _INT_LIMITS}
        lists: dict[str, Any] = {}
        for key in ("demand_periods", "password_levels", "ct_secondary"):
            value = f.get(table, path, key, list) or []
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                f.add(f"{path}.{key}", "expected a list of integers")
                value = []
            lists[key] = tuple(value)
        takes_ratios = table.get("takes_ratios", False)
        if not isinstance(takes_ratios, bool):
            f.add(f"{path}.takes_ratios", "expected true or false")
            takes_ratios = False
        profile = _profile(f, table, path)
        if None in limits.values():
            continue
        catalog[name] = MeterModel(
            name=name, description=f.get(table, path, "description", str, required=False,
                                         default=""),
            **limits, **lists, takes_ratios=takes_ratios, **profile)
    if not models and not f.problems:
        f.add("models", "the catalog defines no meter models")
    if f.problems:
        raise ModelError(f.problems)
    return catalog


_PROFILE_KEYS = ("profile_dialect", "profile_channels", "profile_interval_minutes",
                 "profile_depth_days")


def _profile(f: Fields, table: dict[str, Any], path: str) -> dict[str, Any]:
    """The optional profile keys, checked; a faulty one is reported and left out."""
    out: dict[str, Any] = {}
    if "profile_dialect" in table:
        dialect = table["profile_dialect"]
        if dialect not in PROFILE_DIALECTS:
            f.add(f"{path}.profile_dialect", f"expected one of {', '.join(PROFILE_DIALECTS)}")
        else:
            out["profile_dialect"] = dialect
    if "profile_channels" in table:
        chans = table["profile_channels"]
        if not isinstance(chans, list) or not all(isinstance(c, str) and c for c in chans):
            f.add(f"{path}.profile_channels", "expected a list of channel codes")
        else:
            out["profile_channels"] = tuple(chans)
    for key, top in (("profile_interval_minutes", 60), ("profile_depth_days", 1000)):
        if key in table:
            value = f.int_range(table, path, key, 1, top)
            if value is not None:
                out[key] = value
    return out


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    path = Path(path) if path else default_catalog_path()
    data, locate = load_toml(path)
    return parse_catalog(data, str(path), locate)


@lru_cache(maxsize=8)
def _ratio_models(path: str) -> frozenset[str]:
    try:
        return frozenset(name for name, m in load_catalog(path or None).items()
                         if m.takes_ratios)
    except (ModelError, OSError):
        return frozenset()      # no catalog to say so: no model takes the ratios


def model_takes_ratios(model: str | None, path: str | os.PathLike[str] | None = None) -> bool:
    """Whether the catalog (the default one unless ``path``) marks ``model`` as taking
    CT/VT ratios into its registers; False for an unknown model or an unreadable catalog
    (the conservative answer: values stay secondary)."""
    return bool(model) and model in _ratio_models(str(path or default_catalog_path()))
