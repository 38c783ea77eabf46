"""A scheme as R1/W1 traffic: the plan of writes, programming, and the read-back check.

The address map (``128.x.y``) is the one in ``docs/iec62056.md``: tariff tables go to the
meter's stage and take effect with ``W1 128.9.0(1)``, which the meter refuses unless the
whole table is consistent. Verification reads every written entry back with R1 and
checks the stage is what runs (``128.9.0`` = 1): an ACK alone proves nothing.

For a model that takes CT/VT ratios into its registers (the catalog's ``takes_ratios``)
the plan also writes ``128.11.0`` (CT) and ``128.11.1`` (VT) as ``primary/secondary``;
``1/1`` for a scheme without transformers, so ratios an earlier scheme left are cleared.
They are read back like every other setting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from hhu_sync.errors import HhuSyncError
from hhu_sync.meterio.client import ProgrammingSession
from hhu_sync.model.scheme import Scheme

#: table number -> (name, highest entry index) of the programming map.
TABLES: dict[int, tuple[str, int]] = {
    1: ("rates", 8), 2: ("day profiles", 16), 3: ("week profiles", 8), 4: ("seasons", 12),
    5: ("special days", 64),
}
DEMAND_PERIODS = (5, 10, 15, 20, 30, 60)
MAX_SWITCHES = 12
COMMIT = "128.9.0"
CT_RATIO, VT_RATIO = "128.11.0", "128.11.1"
_ID = re.compile(r"[A-Za-z0-9_.-]{1,24}")
_OBIS = re.compile(r"[0-9A-Z]{1,3}\.[0-9A-Z]{1,3}(?:\.[0-9A-Z]{1,3})?")
_NAME_DROP = re.compile(r"[;()*!\r\n]")


class SchemeEncodingError(HhuSyncError):
    """The scheme does not fit the meter's programming map (named part)."""


@dataclass(frozen=True)
class ProgramPlan:
    """What a scheme becomes on the wire: table entries and the plain settings."""

    scheme_id: str
    tables: dict[int, dict[int, str]]
    settings: tuple[tuple[str, str], ...]

    def writes(self) -> list[tuple[str, str]]:
        out = [(f"128.{t}.{k}", v) for t, entries in sorted(self.tables.items())
               for k, v in sorted(entries.items())]
        return out + list(self.settings)


@dataclass
class ProgramReport:
    scheme_id: str
    writes: int = 0
    deleted: list[str] = field(default_factory=list)
    checked: int = 0
    mismatches: list[tuple[str, str, str]] = field(default_factory=list)  # addr, want, got

    @property
    def verified(self) -> bool:
        return not self.mismatches


def _ident(value: str, what: str) -> str:
    if not _ID.fullmatch(value):
        raise SchemeEncodingError(f"{what} {value!r}: the meter takes ids of 1-24 letters, "
                                  "digits, '.', '_', '-'")
    return value


def ratio_text(ratio: tuple[float, float] | None, what: str) -> str:
    """``200/5`` for (200.0, 5.0): plain decimals, as the meter reads them back."""
    if not ratio:
        return "1/1"
    try:
        parts = [Decimal(str(x)) for x in ratio]
    except (InvalidOperation, ValueError, TypeError):
        raise SchemeEncodingError(f"{what} ratio {ratio!r} is not two numbers") from None
    if len(parts) != 2 or not all(p.is_finite() and p > 0 for p in parts):
        raise SchemeEncodingError(f"{what} ratio {ratio!r}: primary and secondary must be "
                                  "positive numbers")
    return "/".join(format(p.normalize(), "f") for p in parts)


def plan_scheme(scheme: Scheme, *, takes_ratios: bool = False) -> ProgramPlan:
    """The writes for ``scheme``; SchemeEncodingError if it cannot be expressed.

    ``takes_ratios``: the meter's model takes the CT/VT ratios (catalog), so they are
    programmed and its registers then count primary values."""
    tables: dict[int, dict[int, str]] = {t: {} for t in TABLES}
    for r in scheme.rates:
        if not 1 <= r.number <= TABLES[1][1]:
            raise SchemeEncodingError(f"rate {r.number}: the meter has rates 1..{TABLES[1][1]}")
        for reg in r.registers:
            if not _OBIS.fullmatch(reg):
                raise SchemeEncodingError(f"rate {r.number}: register {reg!r} is not a short "
                                          "OBIS code the meter takes (e.g. 1.8.1)")
        name = _NAME_DROP.sub(" ", r.name)[:24]
        tables[1][r.number] = f"{','.join(r.registers)};{name}"
    for k, d in enumerate(scheme.day_profiles, 1):
        if len(d.switches) > MAX_SWITCHES:
            raise SchemeEncodingError(f"day profile {d.id}: more than {MAX_SWITCHES} switches")
        switches = ",".join(f"{s.at.replace(':', '')}={s.rate}" for s in d.switches)
        tables[2][k] = f"{_ident(d.id, 'day profile')};{switches}"
    for k, w in enumerate(scheme.week_profiles, 1):
        days = ",".join(_ident(x, f"week profile {w.id} day") for x in w.days)
        tables[3][k] = f"{_ident(w.id, 'week profile')};{days}"
    for k, s in enumerate(sorted(scheme.seasons, key=lambda s: s.start), 1):
        tables[4][k] = f"{_ident(s.id, 'season')};{s.start};{_ident(s.week, 'season week')}"
    for k, sd in enumerate(scheme.special_days, 1):
        tables[5][k] = f"{sd.date};{_ident(sd.day_profile, 'special day profile')}"
    for t, (name, limit) in TABLES.items():
        if tables[t] and max(tables[t]) > limit:
            raise SchemeEncodingError(f"{len(tables[t])} {name}: the meter takes {limit}")
    settings: list[tuple[str, str]] = []
    if scheme.demand_period_minutes is not None:
        if scheme.demand_period_minutes not in DEMAND_PERIODS:
            raise SchemeEncodingError(f"demand period {scheme.demand_period_minutes} min is "
                                      f"not one of {DEMAND_PERIODS}")
        settings.append(("128.6.0", str(scheme.demand_period_minutes)))
    if scheme.billing_reset_day is not None:
        settings.append(("128.7.0", f"{scheme.billing_reset_day:02d};"
                                    f"{scheme.billing_reset_time}"))
    if scheme.display_items:
        settings.append(("128.8.0", f"{scheme.display_scroll_seconds};"
                                    f"{','.join(scheme.display_items)}"))
    if takes_ratios:
        settings.append((CT_RATIO, ratio_text(scheme.ct_ratio, "CT")))
        settings.append((VT_RATIO, ratio_text(scheme.vt_ratio, "VT")))
    return ProgramPlan(scheme.id, tables, tuple(settings))


def _prune(session: ProgrammingSession, table: int, keep: dict[int, str],
           report: ProgramReport) -> None:
    """Delete entries a previous programming left beyond the new table (bounded scan)."""
    count = int(session.read_value(f"128.{table}.0") or 0)
    extra = count - len(keep)
    for k in range(1, TABLES[table][1] + 1):
        if extra <= 0:
            return
        if k in keep:
            continue
        address = f"128.{table}.{k}"
        if session.read_value(address):
            session.write(address, "")
            report.deleted.append(address)
            extra -= 1


def verify_plan(session: ProgrammingSession, plan: ProgramPlan,
                report: ProgramReport | None = None) -> ProgramReport:
    """Read back every entry and setting, the entry counts and the commit flag."""
    report = report or ProgramReport(plan.scheme_id)
    expected = [*plan.writes(), *((f"128.{t}.0", str(len(e))) for t, e in plan.tables.items()),
                (COMMIT, "1")]
    for address, want in expected:
        got = session.read_value(address)
        report.checked += 1
        if got != want:
            report.mismatches.append((address, want, got))
    return report


def program_scheme(session: ProgrammingSession, plan: ProgramPlan) -> ProgramReport:
    """Write the plan, drop leftovers, commit, then verify by R1.

    MeterRefused propagates (a refused write or commit is not a verify failure: the
    meter said no). The caller closes the session.
    """
    report = ProgramReport(plan.scheme_id)
    for t in sorted(plan.tables):
        for k, value in sorted(plan.tables[t].items()):
            session.write(f"128.{t}.{k}", value)
            report.writes += 1
        _prune(session, t, plan.tables[t], report)
    for address, value in plan.settings:
        session.write(address, value)
        report.writes += 1
    session.write(COMMIT, "1")
    return verify_plan(session, plan, report)
