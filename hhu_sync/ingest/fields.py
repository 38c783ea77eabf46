"""Checks of one upload field each: pure functions, no clock (times come in as arguments).

Each check returns the field's canonical form (the form keys are made of: a UTC time, a
short OBIS code) or a :class:`Problem` naming why not. Nothing here raises for content:
a bad field is a finding for the caller to keep, never a crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from hhu_sync.iec62056.datasets import Obis
from hhu_sync.ingest.status import FindingCode
from hhu_sync.safetext import escape_controls, has_unsafe

#: Units a register may carry, case-exact (IEC 62056 / DLMS spelling).
ENERGY_UNITS = frozenset({"Wh", "kWh", "MWh", "varh", "kvarh", "Mvarh", "VAh", "kVAh", "MVAh"})
OTHER_UNITS = frozenset({"W", "kW", "MW", "var", "kvar", "Mvar", "VA", "kVA", "MVA", "V", "kV",
                         "A", "Hz", "%", "s", "min", "h"})
UNITS = ENERGY_UNITS | OTHER_UNITS | {""}    # "" : a register without unit (flags, counters)

MAX_OBIS = 32
MAX_VALUE = 40
MAX_TIME = 40
#: Characters that start a spreadsheet formula (and tab/CR, caught as control characters).
FORMULA_START = ("=", "+", "-", "@")
_DECIMAL = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?", re.ASCII)
_HEX = re.compile(r"[0-9A-Fa-f]{1,16}", re.ASCII)
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}", re.ASCII)
_CLOCK = re.compile(r"[0-9]{2}:[0-9]{2}(?::[0-9]{2})?", re.ASCII)
_DATE = re.compile(r"[0-9]{2}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{6}", re.ASCII)
_SERIAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}", re.ASCII)   # as meter lists allow
#: The furthest a time's zone may be from UTC (UTC+14, Kiribati).
MAX_ZONE_OFFSET = timedelta(hours=14)


@dataclass(frozen=True)
class Limits:
    """What ingest accepts. No meter model in config/meter-models.toml states its register
    digits, so the bounds are the widest register a depot meets (12 + 4 digits)."""

    integer_digits: int = 12
    decimals: int = 4
    future_tolerance: timedelta = timedelta(minutes=5)    # HHU clock ahead of the depot's
    # A register is read during its visit (the simulator stamps it with the visit's time):
    # one stamped further than this from its visit was not read on that visit.
    visit_span: timedelta = timedelta(hours=1)
    floor: datetime = datetime(2000, 1, 1, tzinfo=UTC)    # no reading is older than this


DEFAULT_LIMITS = Limits()


class Problem(NamedTuple):
    code: FindingCode
    message: str


def escape(text: object, limit: int = 64) -> str:
    """Text safe for one log line or report cell: controls escaped, at most ``limit``."""
    if type(text) is str and len(text) <= limit and text.isascii() and text.isprintable():
        return text       # nothing to escape (every unsafe character is a control or not ASCII)
    s = text if isinstance(text, str) else repr(text)
    cut = len(s) > limit
    s = escape_controls(s[:limit])
    return s + "…" if cut else s


def text_problem(text: str) -> Problem | None:
    """A finding for free text that is kept (notes, operator): controls, formula start."""
    if has_unsafe(text):
        return Problem(FindingCode.CONTROL_CHARS, f"{escape(text)!r} holds control characters")
    if text.startswith(FORMULA_START):
        return Problem(FindingCode.FORMULA_TEXT, f"{escape(text)!r} starts like a formula")
    return None


#: :func:`check_meter`'s test alone (a match, else None): a route's serials are all
#: distinct, so the check of an upload tests each once and builds a Problem only on failure.
serial_match = _SERIAL.fullmatch


def check_meter(text: str) -> Problem | None:
    if _SERIAL.fullmatch(text):
        return None
    return Problem(FindingCode.BAD_METER,
                   f"{escape(text)!r} is not a meter serial (1-32 letters, digits, '-')")


def canonical_obis(text: str) -> str | Problem:
    """The key form of an OBIS code: ``1-0:1.8.0*255`` and ``1.8.0`` are one register."""
    if len(text) > MAX_OBIS:
        return Problem(FindingCode.BAD_OBIS, f"longer than {MAX_OBIS} characters: "
                                             f"{escape(text)!r}")
    try:
        obis = Obis.parse(text)
    except ValueError:
        return Problem(FindingCode.BAD_OBIS, f"{escape(text)!r} is not an OBIS code "
                                             "([A-B:]C.D[.E][*F])")
    # Each group by its value: ``01.08.00`` is ``1.8.0`` and ``c.1.0`` is ``C.1.0`` (letter
    # groups are upper case in IEC 62056-21), so one register never takes two keys.
    hist = obis.historical
    core = ".".join(_group(g) for g in (obis.c, obis.d, obis.e) if g is not None)
    short = core + (f"*{hist}" if hist else "")
    if obis.a is None or (int(obis.a), int(obis.b or 0)) == (1, 0):
        return short
    return f"{int(obis.a)}-{int(obis.b or 0)}:{short}"


def _group(text: str) -> str:
    return str(int(text)) if text.isdecimal() else text.upper()


def check_unit(text: str) -> Problem | None:
    if text in UNITS:
        return None
    return Problem(FindingCode.BAD_UNIT, f"{escape(text)!r} is not a known unit "
                                         f"({', '.join(sorted(UNITS - {''}))} or none)")


_FIXED_FORMS = {"F.F": _HEX, "0.0.0": _IDENT, "0.9.1": _CLOCK, "0.9.2": _DATE}


def _core(obis: str) -> str:
    return obis.split("*", 1)[0].rsplit(":", 1)[-1]


def fixed_form(obis: str) -> re.Pattern[str] | None:
    """The form a value without unit takes for this (canonical) OBIS code: the meter's
    flags, an id, its clock or date; None for a register whose value is a decimal."""
    core = _core(obis)
    pattern = _FIXED_FORMS.get(core)
    if pattern is None and core.startswith("C.1."):
        pattern = _IDENT
    return pattern


def check_value(value: str, unit: str, obis: str, limits: Limits = DEFAULT_LIMITS
                ) -> Problem | None:
    """A register value as the meter shows it: decimal text of bounded digits (no NaN,
    no exponent, no sign on energy), or the fixed forms of flags, ids and the clock."""
    if len(value) > MAX_VALUE:
        return Problem(FindingCode.BAD_VALUE, f"longer than {MAX_VALUE} characters: "
                                              f"{escape(value)!r}")
    if not unit:
        pattern = fixed_form(obis)
        if pattern is not None:
            if pattern.fullmatch(value):
                return None
            return Problem(FindingCode.BAD_VALUE, f"{escape(value)!r} is not a valid "
                                                  f"{_core(obis)} value")
    m = _DECIMAL.fullmatch(value)
    if m is None:
        return Problem(FindingCode.BAD_VALUE, f"{escape(value)!r} is not a finite decimal")
    sign, whole, frac = m.groups()
    if len(whole) > limits.integer_digits or len(frac or "") > limits.decimals:
        return Problem(FindingCode.TOO_MANY_DIGITS,
                       f"{escape(value)!r} has more digits than a register holds "
                       f"({limits.integer_digits}.{limits.decimals})")
    if sign and unit in ENERGY_UNITS:
        return Problem(FindingCode.NEGATIVE_ENERGY, f"{value!r} {unit}: an energy register "
                                                    "never runs below zero")
    return None


def utc_time(text: str, *, floor: datetime, ceiling: datetime) -> str | Problem:
    """ISO 8601 with a zone, within ``[floor, ceiling]``, as UTC text (the key form).

    ``10:15Z`` and ``11:15+01:00`` are one instant and give one key."""
    if len(text) > MAX_TIME or not text[:1].isdigit() or not text.isascii():
        return Problem(FindingCode.BAD_TIME, f"{escape(text)!r} is not an ISO 8601 time")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return Problem(FindingCode.BAD_TIME, f"{escape(text)!r} is not an ISO 8601 time")
    offset = when.utcoffset()
    if offset is None:
        return Problem(FindingCode.NO_ZONE, f"{escape(text)!r} has no time zone")
    if abs(offset) > MAX_ZONE_OFFSET:
        return Problem(FindingCode.BAD_TIME, f"{escape(text)!r}: no zone is that far from UTC")
    try:
        when = when.astimezone(UTC)
    except (OverflowError, ValueError):
        return Problem(FindingCode.BAD_TIME, f"{escape(text)!r} is out of range")
    if when < floor:
        return Problem(FindingCode.TIME_TOO_EARLY,
                       f"{text!r} is before {floor.isoformat(timespec='seconds')}")
    if when > ceiling:
        return Problem(FindingCode.TIME_IN_FUTURE,
                       f"{text!r} is after the upload was received (beyond the clock "
                       f"tolerance, {ceiling.isoformat(timespec='seconds')})")
    return when.isoformat()


_RATIO = re.compile(r"([0-9]{1,7}(?:\.[0-9]{1,6})?)/([0-9]{1,7}(?:\.[0-9]{1,6})?)", re.ASCII)


def canonical_ratio(text: str) -> str | Problem:
    """``400/5`` for ``400.0/5``: a CT or VT ratio as the meter reads it back (both sides
    positive decimals, as the meter's 128.11.x takes them), plain digits; else a problem."""
    m = _RATIO.fullmatch(text)
    if m is None or not (Decimal(m[1]) > 0 and Decimal(m[2]) > 0):
        return Problem(FindingCode.BAD_RATIO,
                       f"{escape(text)!r} is not PRIMARY/SECONDARY (positive decimals)")
    return "/".join(format(Decimal(x).normalize(), "f") for x in (m[1], m[2]))
