"""A fleet of simulated meters, keyed by device address and serial, loaded from TOML.

Fleet file::

    [[meters]]
    serial = "35012345"            # required; also answers /?35012345!
    model = "A1700"                # identification and defaults (default A1700)
    address = "12345"              # device address (default: the serial)
    passwords = { 1 = "AAAAAAAA", 3 = "FEDC0003" }
    read_password = "RD-07731"     # opens level 0: reads (profile, events), writes nothing
    password_kinds = ["P1", "P2"]
    start = 2026-01-05T00:00:00    # simulated clock at start
    load_kw = "12.5"               # or load = [["00:00", "2.0"], ["08:00", "12.5"]]
    scheme = "schemes/examples/a1700-ci-tou.toml"   # TOU from a scheme (optional)
    flags = ["battery_low"]
    quirks = ["garbage_after_etx"] # only for a single-meter server
    lockout_after = 3
    outages = [["2026-01-10T08:00:00", "2026-01-10T09:10:00"]]   # power failures
    profile = { interval_minutes = 15, depth_days = 35, zone = "Europe/Berlin" }
    [meters.registers]
    "1.8.1" = "001234.500"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from hhu_firmware_sim.meter.meter import LoadProfile, SimMeter
from hhu_firmware_sim.meter.profile import VDEW_PROFILES, ProfileConfig
from hhu_firmware_sim.meter.session import Quirks
from hhu_firmware_sim.meter.tou import TouTable
from hhu_sync.model.catalog import default_catalog_path, load_catalog
from hhu_sync.model.loader import load_toml
from hhu_sync.model.scheme import parse_scheme

_KEYS = ("serial", "model", "address", "passwords", "password_kinds", "start", "load_kw",
         "load", "scheme", "flags", "quirks", "lockout_after", "registers",
         "demand_period_minutes", "write_level", "wrong_password_reply", "outages",
         "profile", "read_password", "link")    # link: read by meter.links
_PROFILE_KEYS = {"interval_minutes": "interval_min", "channels": "channels",
                 "depth_days": "depth_days", "zone": "zone"}


class FleetError(ValueError):
    """A fleet file problem, naming the meter entry and key."""


@dataclass
class Fleet:
    """Meters found by device address or serial; ``/?!`` reaches a lone meter only."""

    meters: list[SimMeter] = field(default_factory=list)
    quirks: Quirks = field(default_factory=Quirks)

    def find(self, address: str) -> SimMeter | None:
        if not address:
            return self.meters[0] if len(self.meters) == 1 else None
        for meter in self.meters:
            if address in (meter.address, meter.serial):
                return meter
        return None

    def advance(self, seconds: float) -> None:
        for meter in self.meters:
            meter.advance(seconds)


def _load(entry: dict[str, Any], where: str) -> LoadProfile:
    try:
        if "load" in entry:
            steps = tuple((int(at[:2]) * 60 + int(at[3:5]), Decimal(str(kw)))
                          for at, kw in entry["load"])
            if not steps or steps[0][0] != 0:
                raise FleetError(f"{where}.load: the first step must be at 00:00")
            return LoadProfile(steps)
        return LoadProfile.constant(Decimal(str(entry.get("load_kw", "1.0"))))
    except (InvalidOperation, ValueError, TypeError) as exc:
        if isinstance(exc, FleetError):
            raise
        raise FleetError(f"{where}: bad load: {exc}") from None


@lru_cache(maxsize=4)
def _elster_profiles(catalog: str) -> dict[str, ProfileConfig]:
    """The catalog's Elster-dialect models as the simulator records them (cached: a
    fleet of a thousand A1700s reads the catalog once)."""
    out = {}
    for name, m in load_catalog(catalog).items():
        if m.profile_dialect == "elster":
            out[name] = ProfileConfig(m.profile_interval_minutes or 30,
                                      m.profile_channels or ("1.8.0", "2.8.0"),
                                      min(m.profile_depth_days or 35, 400),
                                      dialect="elster")
    return out


def default_profile(model: str) -> ProfileConfig | None:
    """What ``model`` records unless told otherwise: VDEW_PROFILES, else the catalog's
    Elster-dialect keys; None: no profile."""
    return VDEW_PROFILES.get(model) or \
        _elster_profiles(str(default_catalog_path())).get(model)


def _profile(entry: dict[str, Any], model: str, where: str) -> ProfileConfig | None:
    """The meter's profile: the model's default (VDEW_PROFILES, or the catalog's
    ``profile_*`` keys for an Elster model), changed by ``profile = {...}``
    (``profile = false``: none)."""
    table = entry.get("profile")
    if table is False:
        return None
    base = default_profile(model)
    if table is None:
        return base
    if not isinstance(table, dict):
        raise FleetError(f"{where}.profile: expected a table or false")
    unknown = sorted(set(table) - set(_PROFILE_KEYS))
    if unknown:
        raise FleetError(f"{where}.profile: unknown key(s) {', '.join(unknown)}")
    args: dict[str, Any] = {}
    if base is not None:
        args = {"interval_min": base.interval_min, "channels": base.channels,
                "depth_days": base.depth_days, "zone": base.zone, "dialect": base.dialect}
    for key, name in _PROFILE_KEYS.items():
        if key in table:
            args[name] = tuple(table[key]) if key == "channels" else table[key]
    try:
        return ProfileConfig(**args)
    except (ValueError, TypeError) as exc:
        raise FleetError(f"{where}.profile: {exc}") from None


def _outages(entry: dict[str, Any], where: str) -> list[tuple[datetime, datetime]]:
    out = []
    for i, span in enumerate(entry.get("outages", [])):
        try:
            start, end = (t if isinstance(t, datetime) else datetime.fromisoformat(t)
                          for t in span)
        except (ValueError, TypeError) as exc:
            raise FleetError(f"{where}.outages[{i}]: expected [start, end] times: "
                             f"{exc}") from None
        out.append((start, end))
    return out


def _passwords(entry: dict[str, Any], where: str) -> dict[int, str]:
    """Passwords by level. ``read_password`` is level 0 (a meter's reading password: it
    opens programming mode for reads and writes nothing); a meter given one has no
    factory ``00000000`` at level 1 unless ``passwords`` says so."""
    read = entry.get("read_password")
    default = {} if read is not None else {"1": "00000000"}
    passwords = {int(k): str(v) for k, v in entry.get("passwords", default).items()}
    if read is not None:
        if not isinstance(read, str) or not 1 <= len(read) <= 32 or not read.isprintable():
            raise FleetError(f"{where}.read_password: 1 to 32 printable characters")
        if 0 in passwords:
            raise FleetError(f"{where}.read_password: passwords has a level 0 already")
        passwords[0] = read
    return passwords


def meter_from_dict(entry: dict[str, Any], where: str = "meters[0]",
                    base: Path | None = None) -> tuple[SimMeter, Quirks]:
    """One meter (and its quirks) from a fleet entry; FleetError names the key."""
    unknown = sorted(set(entry) - set(_KEYS))
    if unknown:
        raise FleetError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if not isinstance(entry.get("serial"), str) or not entry["serial"]:
        raise FleetError(f"{where}.serial: required, a string")
    start = entry.get("start", datetime(2026, 1, 1))
    if isinstance(start, str):
        start = datetime.fromisoformat(start)
    kwargs: dict[str, Any] = {}
    tou = None
    if "scheme" in entry:
        path = Path(entry["scheme"])
        if not path.is_absolute() and base is not None:
            path = base / path
        data, locate = load_toml(path)
        scheme = parse_scheme(data, str(path), load_catalog(), locate)
        tou = TouTable.from_scheme(scheme)
        kwargs.update(demand_period_minutes=scheme.demand_period_minutes,
                      billing_reset_day=scheme.billing_reset_day,
                      billing_reset_time=scheme.billing_reset_time,
                      display_items=scheme.display_items,
                      display_scroll_seconds=scheme.display_scroll_seconds)
    for key in ("demand_period_minutes", "write_level", "wrong_password_reply",
                "lockout_after"):
        if key in entry:
            kwargs[key] = entry[key]
    profile = _profile(entry, entry.get("model", "A1700"), where)
    outages = _outages(entry, where)
    try:
        passwords = _passwords(entry, where)
    except FleetError:
        raise
    except (ValueError, TypeError, AttributeError) as exc:
        raise FleetError(f"{where}.passwords: {exc}") from None
    try:
        meter = SimMeter(
            entry["serial"], model=entry.get("model", "A1700"), address=entry.get("address"),
            passwords=passwords,
            password_kinds=tuple(entry.get("password_kinds", ("P1", "P2"))),
            start=start, load=_load(entry, where), tou=tou,
            registers={k: str(v) for k, v in entry.get("registers", {}).items()},
            flags=tuple(entry.get("flags", ())),
            profile=profile, **kwargs)
        for start_at, end_at in outages:
            meter.schedule_outage(start_at, end_at)
        quirks = Quirks.from_names(tuple(entry.get("quirks", ())))
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise FleetError(f"{where}: {exc}") from None
    return meter, quirks


#: A fleet file is read up to this and refused past it: ``--fleet /dev/zero`` must not
#: fill memory (a 10,000-meter fleet is about 2 MB).
MAX_FLEET_BYTES = 16 << 20


def read_fleet_data(path: Path) -> dict[str, Any]:
    """A fleet file's TOML, bounded, or FleetError naming the file."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FLEET_BYTES + 1)
        if len(raw) > MAX_FLEET_BYTES:
            raise FleetError(f"{path}: more than {MAX_FLEET_BYTES} bytes: not a fleet file")
        return tomllib.loads(raw.decode("utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FleetError(f"{path}: {exc}") from None


def read_fleet_entries(path: str | os.PathLike[str]) -> tuple[Path, list]:
    """The ``[[meters]]`` tables of a fleet file, or FleetError naming the file."""
    path = Path(path)
    data = read_fleet_data(path)
    entries = data.get("meters")
    if not isinstance(entries, list) or not entries:
        raise FleetError(f"{path}: needs at least one [[meters]] table")
    return path, entries


def load_fleet(path: str | os.PathLike[str]) -> Fleet:
    """Read a fleet TOML file. Quirks of the first meter apply to the whole server."""
    path, entries = read_fleet_entries(path)
    fleet = Fleet()
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        meter, quirks = meter_from_dict(entry, f"{path}: meters[{i}]", path.parent)
        for key in {meter.serial, meter.address}:
            if key in seen:
                raise FleetError(f"{path}: meters[{i}]: address/serial {key!r} used twice")
            seen.add(key)
        fleet.meters.append(meter)
        if i == 0:
            fleet.quirks = quirks
    return fleet


_FIELD_KEYS = ("access",)          # fleet-entry keys for the field, not for the meter


@dataclass
class FieldFleet:
    """A fleet plus what the field adds: meters the crew cannot get to."""

    fleet: Fleet
    no_access: set[str] = field(default_factory=set)
    path: Path | None = None


def load_field_fleet(path: str | os.PathLike[str]) -> FieldFleet:
    """A fleet TOML file (see docs/iec62056.md) whose entries may say ``access = false``."""
    path, entries = read_fleet_entries(path)
    out = FieldFleet(Fleet(), path=path)
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{path}: meters[{i}]"
        if not isinstance(entry, dict):
            raise FleetError(f"{where}: expected a table")
        access = entry.get("access", True)
        if not isinstance(access, bool):
            raise FleetError(f"{where}.access: expected true or false")
        meter, _quirks = meter_from_dict({k: v for k, v in entry.items()
                                          if k not in _FIELD_KEYS}, where, path.parent)
        for key in {meter.serial, meter.address}:
            if key in seen:
                raise FleetError(f"{where}: address/serial {key!r} used twice")
            seen.add(key)
        out.fleet.meters.append(meter)
        if not access:
            out.no_access.add(meter.serial)
    return out
