"""Simulated meters' state on disk (``--fleet-state``), and the lock trips take turns by.

A field trip advances its meters (energy, demand, billing resets) and programs them; the
state file keeps all of that so the next trip, by this HHU or another sharing the fleet,
finds them as the last one left them. Decimals stay text, times ISO 8601; the file is
version 1 (``tests/data/fleet-state-v1.json`` pins its format) and written atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hhu_firmware_sim.flash import write_atomic
from hhu_firmware_sim.meter.fleet import Fleet, FleetError
from hhu_firmware_sim.meter.meter import SimMeter, Snapshot
from hhu_firmware_sim.meter.tou import TouTable
from hhu_sync.model.scheme import DayProfile, Rate, Season, SpecialDay, Switch, WeekProfile

STATE_FILE = "fleet-state.json"
STATE_VERSION = 1


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _undt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def tou_to_dict(tou: TouTable) -> dict[str, Any]:
    return {
        "rates": [[r.number, r.name, list(r.registers)] for r in tou.rates],
        "day_profiles": [[d.id, [[s.at, s.rate] for s in d.switches]]
                         for d in tou.day_profiles],
        "week_profiles": [[w.id, list(w.days)] for w in tou.week_profiles],
        "seasons": [[s.id, s.start, s.week] for s in tou.seasons],
        "special_days": [[s.date, s.day_profile] for s in tou.special_days],
    }


def tou_from_dict(data: dict[str, Any]) -> TouTable:
    return TouTable(
        tuple(Rate(n, name, tuple(regs)) for n, name, regs in data["rates"]),
        tuple(DayProfile(i, tuple(Switch(at, rate) for at, rate in sw))
              for i, sw in data["day_profiles"]),
        tuple(WeekProfile(i, tuple(days)) for i, days in data["week_profiles"]),
        tuple(Season(i, start, week) for i, start, week in data["seasons"]),
        tuple(SpecialDay(d, p) for d, p in data["special_days"]))


def meter_state(m: SimMeter) -> dict[str, Any]:
    """Everything about a meter that changes in service; decimals stay text."""
    return {
        "now": m.now.isoformat(), "energy": {k: str(v) for k, v in m.energy.items()},
        "total": str(m.total), "max_demand": str(m.max_demand),
        "max_demand_at": _dt(m.max_demand_at), "reset_count": m.reset_count,
        "history": [{"at": s.at.isoformat(), "energy": {k: str(v) for k, v in s.energy.items()},
                     "max_demand": str(s.max_demand), "max_demand_at": _dt(s.max_demand_at)}
                    for s in m.history],
        "period_energy": str(m._period_energy), "failed_logins": m.failed_logins,
        "locked_until": _dt(m.locked_until), "flags": m.flags,
        "passwords": {str(k): v for k, v in m.passwords.items()},
        "tou": tou_to_dict(m.tou), "staged": dict(m.staged),
        "demand_period_minutes": m.demand_period_minutes,
        "billing_reset_day": m.billing_reset_day, "billing_reset_time": m.billing_reset_time,
        "display_items": list(m.display_items),
        "display_scroll_seconds": m.display_scroll_seconds,
        "ct_ratio": [str(x) for x in m.ct_ratio], "vt_ratio": [str(x) for x in m.vt_ratio],
    }


def restore_meter(m: SimMeter, s: dict[str, Any]) -> None:
    """Put a saved state back onto a meter built from the fleet file."""
    m.now = datetime.fromisoformat(s["now"])
    m.energy = {k: Decimal(v) for k, v in s["energy"].items()}
    m.total = Decimal(s["total"])
    m.max_demand = Decimal(s["max_demand"])
    m.max_demand_at = _undt(s["max_demand_at"])
    m.reset_count = int(s["reset_count"])
    m.history = [Snapshot(datetime.fromisoformat(h["at"]),
                          {k: Decimal(v) for k, v in h["energy"].items()},
                          Decimal(h["max_demand"]), _undt(h["max_demand_at"]))
                 for h in s["history"]]
    m._period_energy = Decimal(s["period_energy"])
    m.failed_logins = int(s["failed_logins"])
    m.locked_until = _undt(s["locked_until"])
    m.flags = int(s["flags"])
    m.passwords = {int(k): v for k, v in s["passwords"].items()}
    m.tou = tou_from_dict(s["tou"])
    m.staged = dict(s["staged"])
    m.demand_period_minutes = int(s["demand_period_minutes"])
    m.billing_reset_day = int(s["billing_reset_day"])
    m.billing_reset_time = s["billing_reset_time"]
    m.display_items = tuple(s["display_items"])
    m.display_scroll_seconds = int(s["display_scroll_seconds"])
    for name in ("ct_ratio", "vt_ratio"):       # absent in states saved before ratios
        if name in s:
            primary, secondary = (Decimal(x) for x in s[name])
            setattr(m, name, (primary, secondary))


def load_state(fleet: Fleet, path: Path) -> int:
    """Restore the meters a state file knows; returns how many. A missing file is a
    fresh fleet; a damaged one is an error (silently starting afresh would lose energy)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 0
    except (OSError, ValueError) as exc:
        raise FleetError(f"{path}: fleet state unreadable: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise FleetError(f"{path}: not a version {STATE_VERSION} fleet state file")
    saved = data.get("meters", {})
    restored = 0
    for meter in fleet.meters:
        if meter.serial in saved:
            try:
                restore_meter(meter, saved[meter.serial])
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                raise FleetError(f"{path}: meter {meter.serial}: bad state: {exc}") from None
            restored += 1
    return restored


def save_state(fleet: Fleet, path: Path) -> None:
    """Write the state file atomically (temp, fsync, rename, fsync folder)."""
    data = {"version": STATE_VERSION,
            "meters": {m.serial: meter_state(m) for m in fleet.meters}}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))


LOCK_WAIT_S = 120.0      # another HHU's trip over the same fleet state, at most this long


@contextmanager
def state_lock(state: Path, wait_s: float = LOCK_WAIT_S,
               clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """Hold ``STATE.lock`` for one trip: HHUs sharing one fleet's state take turns (two
    crews do not program one meter at once), each reading the state the last one left.
    Waits at most ``wait_s``, then FleetError."""
    state.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(state.with_name(state.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = clock() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    raise FleetError(f"{state}: another field trip held the fleet state "
                                     f"for more than {wait_s:g} s") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)           # releases the lock
