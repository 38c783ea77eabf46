"""The simulated meter's programming map: what R1 reads and W1 writes, by address.

Tariff tables are written into a *stage* and become the running TOU table only on a
commit (``W1 128.9.0(1)``), after the whole table checks out, as real meters do. R1 of
a table address returns exactly what was written (the stage). Encodings are compact
text, documented in ``docs/iec62056.md``:

=============  ====================================  ===================================
address        content                               value
=============  ====================================  ===================================
128.1.n        rate n                                ``1.8.1[,1.8.5];Day``
128.2.k        day profile k                         ``ID;0000=3,0700=1,1600=2``
128.3.k        week profile k                        ``ID;mon,tue,wed,thu,fri,sat,sun``
128.4.k        season k                              ``ID;MM-DD;WEEKID``
128.5.k        special day k                         ``MM-DD;DAYID`` or ``YYYY-MM-DD;DAYID``
128.x.0        entry count of table x (R1 only)      ``3``
128.6.0        demand period, minutes                ``30``
128.7.0        billing reset day and time            ``01;00:00``
128.8.0        display list                          ``6;0.9.1,1.8.0,1.8.1``
128.9.0        commit staged tables (W1 ``1``)       R1: ``1`` staged == active else ``0``
128.9.1        billing reset now (W1 ``1``)
128.10.L       password of level L (write only)      8 characters
128.11.0       CT ratio, models that take ratios     ``200/5`` (primary/secondary)
128.11.1       VT ratio, models that take ratios     ``11000/110`` (``1/1``: none)
0.9.1 / 0.9.2  clock time ``hh:mm:ss`` / date ``YY-MM-DD``
any register   R1 as in the readout                  ``001846.000*kWh``
=============  ====================================  ===================================

Elster models (``SimMeter.elster``) also answer ``W1 551001(FFFF)`` (select the whole
profile, or ``NNNN`` hex days), ``R1 550BBBB`` / ``560BBBB`` (block BBBB of the profile
or the event log, 128 hex digits) and R1 of 777, 878, 778 and 861 (see meter/elster.py).

Writing an empty value (``W1 128.2.3()``) deletes that entry. A model that takes no
ratios answers ``ER01`` at ``128.11.x``; one that does applies a ratio at once (its
energy and demand registers then read primary values).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

from hhu_firmware_sim.meter.elster import SELECT_ADDRESS
from hhu_firmware_sim.meter.meter import SimMeter
from hhu_firmware_sim.meter.tou import TouTable
from hhu_sync.model.scheme import DayProfile, Rate, Season, SpecialDay, Switch, WeekProfile

ER_UNKNOWN = "ER01"
ER_MALFORMED = "ER02"
ER_ACCESS = "ER03"
ER_INCONSISTENT = "ER04"
ER_LOCKED = "ER05"
ER_RANGE = "ER06"

#: table number -> (name, highest entry index)
TABLES: dict[int, tuple[str, int]] = {
    1: ("rates", 8), 2: ("day_profiles", 16), 3: ("week_profiles", 8), 4: ("seasons", 12),
    5: ("special_days", 64),
}
DEMAND_PERIODS = (5, 10, 15, 20, 30, 60)
MAX_SWITCHES = 12
_ID = r"[A-Za-z0-9_.-]{1,24}"
_OBIS = r"[0-9A-Z]{1,3}\.[0-9A-Z]{1,3}(?:\.[0-9A-Z]{1,3})?"
_PATTERNS = {
    1: re.compile(rf"{_OBIS}(?:,{_OBIS})*;[^;()]{{0,24}}"),
    2: re.compile(rf"{_ID};\d{{4}}=\d{{1,2}}(?:,\d{{4}}=\d{{1,2}}){{0,{MAX_SWITCHES - 1}}}"),
    3: re.compile(rf"{_ID};{_ID}(?:,{_ID}){{6}}"),
    4: re.compile(rf"{_ID};\d\d-\d\d;{_ID}"),
    5: re.compile(rf"(?:\d{{4}}-)?\d\d-\d\d;{_ID}"),
}
_ADDRESS = re.compile(r"128\.(\d{1,2})\.(\d{1,2})")
_RATIO = re.compile(r"(\d{1,7}(?:\.\d{1,6})?)/(\d{1,7}(?:\.\d{1,6})?)")
RATIO_INDEX = {0: "ct_ratio", 1: "vt_ratio"}
_BLOCK_ADDRESS = re.compile(r"(550|560)([0-9A-F]{4})")


class ProgrammingError(Exception):
    """A refused R1/W1; ``code`` is the ``ERxx`` the meter answers with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


# -- encoding the running table into the stage ---------------------------------------------------

def encode_table(tou: TouTable) -> dict[str, str]:
    """The stage contents that describe ``tou`` (what a fresh meter reads back)."""
    out: dict[str, str] = {}
    for r in tou.rates:
        out[f"128.1.{r.number}"] = f"{','.join(r.registers)};{r.name}"
    for k, d in enumerate(tou.day_profiles, 1):
        out[f"128.2.{k}"] = f"{d.id};" + ",".join(
            f"{s.at.replace(':', '')}={s.rate}" for s in d.switches)
    for k, w in enumerate(tou.week_profiles, 1):
        out[f"128.3.{k}"] = f"{w.id};{','.join(w.days)}"
    for k, s in enumerate(tou.seasons, 1):
        out[f"128.4.{k}"] = f"{s.id};{s.start};{s.week}"
    for k, sd in enumerate(tou.special_days, 1):
        out[f"128.5.{k}"] = f"{sd.date};{sd.day_profile}"
    return out


def decode_table(stage: dict[str, str]) -> TouTable:
    """Build a TouTable from stage entries (in entry order); ValueError on bad text."""
    def entries(table: int) -> list[str]:
        keys = [k for k in stage if k.startswith(f"128.{table}.")]
        return [stage[k] for k in sorted(keys, key=lambda k: int(k.rsplit(".", 1)[1]))]

    rates = []
    for key in sorted((k for k in stage if k.startswith("128.1.")),
                      key=lambda k: int(k.rsplit(".", 1)[1])):
        regs, _, name = stage[key].partition(";")
        number = int(key.rsplit(".", 1)[1])
        rates.append(Rate(number, name or f"Rate {number}", tuple(regs.split(","))))
    days = []
    for text in entries(2):
        did, _, switches = text.partition(";")
        days.append(DayProfile(did, tuple(
            Switch(f"{sw[:2]}:{sw[2:4]}", int(sw[5:])) for sw in switches.split(","))))
    weeks = [WeekProfile(t.split(";")[0], tuple(t.split(";")[1].split(","))) for t in entries(3)]
    seasons = [Season(*t.split(";")) for t in entries(4)]
    specials = [SpecialDay(*t.split(";")) for t in entries(5)]
    return TouTable(tuple(rates), tuple(days), tuple(weeks),
                    tuple(sorted(seasons, key=lambda s: s.start)), tuple(specials))


def _stage(meter: SimMeter) -> dict[str, str]:
    if not meter.staged:
        meter.staged.update(encode_table(meter.tou))
    return meter.staged


# -- R1 / W1 --------------------------------------------------------------------------------

def read(meter: SimMeter, address: str) -> str:
    """The data set an R1 of ``address`` answers with (``address(value)``)."""
    if meter.elster is not None:
        answer = _elster_read(meter, address)
        if answer is not None:
            return answer
    m = _ADDRESS.fullmatch(address)
    if m:
        table, index = int(m[1]), int(m[2])
        stage = _stage(meter)
        if table in TABLES and index == 0:
            count = sum(1 for k in stage if k.startswith(f"128.{table}."))
            return f"{address}({count})"
        if table in TABLES:
            if index > TABLES[table][1]:
                raise ProgrammingError(ER_RANGE, f"{TABLES[table][0]} has no entry {index}")
            return f"{address}({stage.get(address, '')})"
        if (table, index) == (6, 0):
            return f"{address}({meter.demand_period_minutes})"
        if (table, index) == (7, 0):
            return f"{address}({meter.billing_reset_day:02d};{meter.billing_reset_time})"
        if (table, index) == (8, 0):
            items = ",".join(meter.display_items)
            return f"{address}({meter.display_scroll_seconds};{items})"
        if (table, index) == (9, 0):
            same = encode_table(meter.tou) == stage
            return f"{address}({1 if same else 0})"
        if table == 10:
            raise ProgrammingError(ER_ACCESS, "passwords cannot be read")
        if table == 11 and index in RATIO_INDEX and meter.takes_ratios:
            return f"{address}({ratio_text(getattr(meter, RATIO_INDEX[index]))})"
        raise ProgrammingError(ER_UNKNOWN, f"no register {address}")
    values = meter.register_value(address)
    if values is None:
        raise ProgrammingError(ER_UNKNOWN, f"no register {address}")
    groups = "".join(f"({v.text}{'*' + v.unit if v.unit else ''})" for v in values)
    return f"{address}{groups}"


def selects_a_read(meter: SimMeter, address: str) -> bool:
    """Whether a W1 only chooses what to read (the Elster profile and event select,
    register 551): a reading password opens it, as it opens the reads themselves."""
    return meter.elster is not None and address == SELECT_ADDRESS


def write(meter: SimMeter, address: str, value: str) -> None:
    """Apply a W1; raises ProgrammingError with the ERxx code when refused."""
    if meter.elster is not None and address == SELECT_ADDRESS:
        try:
            meter.elster.select(value)
        except ValueError as exc:
            raise ProgrammingError(ER_MALFORMED, f"551 selection: {exc}") from None
        return
    if address == "0.9.1":
        _set_clock(meter, value, "%H:%M:%S", time_part=True)
        return
    if address == "0.9.2":
        _set_clock(meter, value, "%y-%m-%d", time_part=False)
        return
    m = _ADDRESS.fullmatch(address)
    if m is None:
        raise ProgrammingError(ER_UNKNOWN, f"{address} is not writable")
    table, index = int(m[1]), int(m[2])
    if table in TABLES:
        if index == 0 or index > TABLES[table][1]:
            raise ProgrammingError(ER_RANGE, f"{TABLES[table][0]} has no entry {index}")
        stage = _stage(meter)
        if value == "":
            stage.pop(address, None)
            return
        if not _PATTERNS[table].fullmatch(value):
            raise ProgrammingError(ER_MALFORMED, f"{value!r} is not a {TABLES[table][0]} entry")
        stage[address] = value
        return
    if (table, index) == (6, 0):
        if not value.isdigit() or int(value) not in DEMAND_PERIODS:
            raise ProgrammingError(ER_RANGE, f"demand period {value!r} not one of "
                                   f"{DEMAND_PERIODS}")
        meter.demand_period_minutes = int(value)
    elif (table, index) == (7, 0):
        mm = re.fullmatch(r"(\d\d);([01]\d|2[0-3]):([0-5]\d)", value)
        if mm is None or not 1 <= int(mm[1]) <= 28:
            raise ProgrammingError(ER_MALFORMED, f"billing reset {value!r} is not DD;HH:MM "
                                   "with DD 01..28")
        meter.billing_reset_day, meter.billing_reset_time = int(mm[1]), f"{mm[2]}:{mm[3]}"
    elif (table, index) == (8, 0):
        seconds, _, items = value.partition(";")
        if not seconds.isdigit() or not 1 <= int(seconds) <= 60:
            raise ProgrammingError(ER_MALFORMED, f"display list {value!r} is not SS;items")
        meter.display_scroll_seconds = int(seconds)
        meter.display_items = tuple(i for i in items.split(",") if i)
    elif (table, index) == (9, 0):
        if value != "1":
            raise ProgrammingError(ER_MALFORMED, "commit takes the value 1")
        _commit(meter)
    elif (table, index) == (9, 1):
        if value != "1":
            raise ProgrammingError(ER_MALFORMED, "billing reset takes the value 1")
        meter.billing_reset()
    elif table == 10:
        if len(value) != 8 or not value.isprintable():
            raise ProgrammingError(ER_MALFORMED, "a password is 8 printable characters")
        meter.passwords[index] = value
    elif table == 11 and index in RATIO_INDEX and meter.takes_ratios:
        setattr(meter, RATIO_INDEX[index], _parse_ratio(value))
    else:
        raise ProgrammingError(ER_UNKNOWN, f"{address} is not writable")


def _elster_read(meter: SimMeter, address: str) -> str | None:
    """An Elster model's block registers (550 profile, 560 event log: ``RRRBBBB``, the
    block number four hex digits) and configuration registers (777, 878, 778, 861)."""
    memory = meter.elster
    assert memory is not None
    m = _BLOCK_ADDRESS.fullmatch(address)
    if m:
        raw = memory.block(int(m[1]), int(m[2], 16), meter.utc_now)
        return f"{address}({raw.hex().upper()})"
    if address.isdigit():
        value = memory.register(int(address), meter.utc_now)
        if value is not None:
            return f"{address}({value})"
    return None


def ratio_text(ratio: tuple[Decimal, Decimal]) -> str:
    return "/".join(format(p.normalize(), "f") for p in ratio)


def _parse_ratio(value: str) -> tuple[Decimal, Decimal]:
    m = _RATIO.fullmatch(value)
    if m is None:
        raise ProgrammingError(ER_MALFORMED, f"ratio {value!r} is not PRIMARY/SECONDARY")
    try:
        primary, secondary = Decimal(m[1]), Decimal(m[2])
    except InvalidOperation:   # pragma: no cover - the pattern admits only digits
        raise ProgrammingError(ER_MALFORMED, f"ratio {value!r} is not a number") from None
    if primary <= 0 or secondary <= 0:
        raise ProgrammingError(ER_RANGE, f"ratio {value!r}: both sides must be above 0")
    return primary, secondary


def _commit(meter: SimMeter) -> None:
    try:
        table = decode_table(_stage(meter))
    except (ValueError, TypeError, IndexError) as exc:
        raise ProgrammingError(ER_INCONSISTENT, f"staged table does not decode: {exc}") from None
    problems = table.problems()
    if problems:
        raise ProgrammingError(ER_INCONSISTENT, "; ".join(problems))
    meter.tou = table


def _set_clock(meter: SimMeter, value: str, fmt: str, *, time_part: bool) -> None:
    try:
        parsed = datetime.strptime(value, fmt)
    except ValueError:
        raise ProgrammingError(ER_MALFORMED, f"{value!r} does not match {fmt}") from None
    if time_part:
        meter.set_clock(meter.now.replace(hour=parsed.hour, minute=parsed.minute,
                                          second=parsed.second, microsecond=0))
    else:
        meter.set_clock(meter.now.replace(year=parsed.year, month=parsed.month, day=parsed.day))
