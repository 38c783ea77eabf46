"""Billing determinants from interval data: energy per time-of-use rate, maximum demand
with its time, average power factor; and their comparison with the meter's own registers.

Pure. The scheme's calendar (:class:`~hhu_sync.model.tou.TouTable`) is applied in the
meter's local time, with its DST, to the *start* of each interval (an interval belongs to
the rate in force when it began, as a meter's own tariff registers count it). Values are
exact decimals, never floats, so a determinant and the register it is compared with
differ only by what the meter itself rounded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from hhu_sync.model.tou import TouTable
from hhu_sync.profile.estimate import DEFAULT_MAX_GAP, estimates
from hhu_sync.profile.series import Channel, ChannelSeries

#: OBIS value group C of the quantities billing uses.
IMPORT_ACTIVE, EXPORT_ACTIVE, IMPORT_REACTIVE, EXPORT_REACTIVE = 1, 2, 3, 4
_ENERGY = {"kWh": Decimal(1), "Wh": Decimal("0.001"), "kvarh": Decimal(1),
           "varh": Decimal("0.001")}
_POWER = {"kW": Decimal(1), "W": Decimal("0.001"), "kvar": Decimal(1), "var": Decimal("0.001")}


def quantity_of(channel: Channel) -> int | None:
    """The OBIS value group C of a channel code (``1.8.0``, ``1.8``, ``1-0:1.5.0`` -> 1),
    or None when the code is not one."""
    code = channel.code.rpartition(":")[2]
    head = code.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _scale(one: ChannelSeries) -> Decimal | None:
    """What one interval's value times gives kWh or kvarh: energy channels as they are,
    power channels (average kW over the interval) times its hours; None: neither."""
    if one.channel.unit in _ENERGY:
        return _ENERGY[one.channel.unit]
    if one.channel.unit in _POWER:
        return _POWER[one.channel.unit] * Decimal(one.interval_s) / Decimal(3600)
    return None


def energy_rows(one: ChannelSeries) -> list[tuple[int, Decimal]]:
    """(interval end, energy in kWh or kvarh) for each measured interval."""
    scale = _scale(one)
    if scale is None:
        return []
    return [(end, one.value(value) * scale) for end, value, _ in one.intervals()
            if value is not None]


def estimated_rows(one: ChannelSeries) -> list[tuple[int, Decimal]]:
    """(interval end, energy) for each short gap :func:`~hhu_sync.profile.estimate.estimates`
    fills (never a measured interval: those are :func:`energy_rows`)."""
    scale = _scale(one)
    if scale is None:
        return []
    return [(end, one.value(value) * scale) for end, value, _ in estimates(one)]


@dataclass(frozen=True, slots=True)
class Period:
    """A billing period in the meter's local time: [start, end) as UTC seconds."""

    label: str
    start: int
    end: int


def month_period(month: str, zone: ZoneInfo) -> Period:
    """``2026-11`` -> 1 November 00:00 to 1 December 00:00, local time, as UTC."""
    year, _, mon = month.partition("-")
    first = date(int(year), int(mon), 1)
    after = date(first.year + (first.month == 12), first.month % 12 + 1, 1)

    def utc(day: date) -> int:
        return int(datetime.combine(day, time(), zone).astimezone(UTC).timestamp())

    return Period(month, utc(first), utc(after))


@dataclass(frozen=True, slots=True)
class Demand:
    """Maximum demand over the demand period: the average kW of the highest block and
    the UTC end of that block."""

    kw: Decimal
    end: int


@dataclass(frozen=True, slots=True)
class Determinants:
    meter: str
    period: Period
    #: Import active energy (kWh) per TOU rate number.
    energy_by_rate: Mapping[int, Decimal]
    import_kwh: Decimal
    export_kwh: Decimal
    reactive_kvarh: Decimal
    max_demand: Demand | None
    #: P / sqrt(P^2 + Q^2) over the period, None without reactive data or energy.
    power_factor: Decimal | None
    #: Import intervals measured and expected in the period (completeness, for the bill).
    intervals: int
    expected: int
    notes: tuple[str, ...] = field(default=())
    #: Import intervals of short gaps estimated (counted in the energy, never in demand).
    estimated: int = 0


def determinants(meter: str, series: Sequence[ChannelSeries], period: Period, tou: TouTable,
                 zone: ZoneInfo, demand_minutes: int) -> Determinants:
    """Compute one meter's determinants for one period from its stored intervals. Short
    gaps are estimated for the energy (a bill needs the whole period, and the register
    counted it); maximum demand is built from measured intervals only."""
    by_quantity: dict[int, list[tuple[int, Decimal, int]]] = {}
    guessed: dict[int, list[tuple[int, Decimal, int]]] = {}
    for one in series:
        quantity = quantity_of(one.channel)
        if quantity is None:
            continue
        by_quantity.setdefault(quantity, []).extend(
            (end, value, one.interval_s) for end, value in energy_rows(one)
            if period.start < end <= period.end)
        guessed.setdefault(quantity, []).extend(
            (end, value, one.interval_s) for end, value in estimated_rows(one)
            if period.start < end <= period.end)
    imports = sorted(by_quantity.get(IMPORT_ACTIVE, []))
    estimated = sorted(guessed.get(IMPORT_ACTIVE, []))
    notes: list[str] = []
    energy: dict[int, Decimal] = {}
    for end, value, step in sorted(imports + estimated):
        started = datetime.fromtimestamp(end - step, zone)
        rate = tou.rate_at(started)
        energy[rate] = energy.get(rate, Decimal(0)) + value

    def total_of(quantity: int) -> Decimal:
        rows = by_quantity.get(quantity, []) + guessed.get(quantity, [])
        return sum((v for _, v, _ in rows), Decimal(0))

    total, exported, reactive = (total_of(IMPORT_ACTIVE), total_of(EXPORT_ACTIVE),
                                 total_of(IMPORT_REACTIVE))
    step = imports[0][2] if imports else 0
    expected = (period.end - period.start) // step if step else 0
    if estimated:
        notes.append(f"{len(estimated)} import intervals estimated (gaps of at most "
                     f"{DEFAULT_MAX_GAP} intervals, interpolated; not used for demand)")
    if imports and len(imports) + len(estimated) < expected:
        missing = expected - len(imports) - len(estimated)
        notes.append(f"{missing} of {expected} import intervals missing")
    demand = _max_demand(imports, demand_minutes * 60, notes)
    pf: Decimal | None = None
    if IMPORT_REACTIVE in by_quantity and total > 0:
        pf = (total / (total * total + reactive * reactive).sqrt()).quantize(Decimal("0.001"))
    return Determinants(meter, period, dict(sorted(energy.items())), total, exported,
                        reactive, demand, pf, len(imports), expected, tuple(notes),
                        len(estimated))


def _max_demand(imports: Sequence[tuple[int, Decimal, int]], period_s: int,
                notes: list[str]) -> Demand | None:
    """Block demand: blocks of ``period_s`` aligned to the hour, as meters integrate it.
    A block is counted only when every interval in it is present (a partial block would
    understate, and billing must not guess)."""
    if not imports:
        return None
    step = imports[0][2]
    if period_s < step or period_s % step:
        notes.append(f"demand period {period_s // 60} min cannot be built from "
                     f"{step // 60}-min intervals")
        return None
    blocks: dict[int, tuple[Decimal, int]] = {}
    for end, value, _ in imports:
        block_end = end + (-end) % period_s
        energy, count = blocks.get(block_end, (Decimal(0), 0))
        blocks[block_end] = (energy + value, count + 1)
    need = period_s // step
    full = [(energy, end) for end, (energy, count) in blocks.items() if count == need]
    if not full:
        return None
    energy, end = max(full, key=lambda item: (item[0], -item[1]))   # earliest of equal
    return Demand((energy * Decimal(3600) / Decimal(period_s)).normalize(), end)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A determinant that disagrees with the meter's own register beyond tolerance."""

    what: str
    computed: Decimal
    register: Decimal
    allowed: Decimal
    #: The register's OBIS code (``1.8.0``, ``1.8.2``, ``1.6.0``).
    code: str = ""


def compared_pairs(found: Determinants, tou: TouTable) -> list[tuple[str, Decimal, str]]:
    """(what, determinant, register code) for every register a determinant is compared
    with: the total, every rate of the calendar (a rate the intervals never fell in has
    0 kWh: a register that counted there is a mismatch, not unseen), the demand."""
    pairs: list[tuple[str, Decimal, str]] = [("import kWh", found.import_kwh, "1.8.0")]
    for rate in sorted({r.number for r in tou.rates} | set(found.energy_by_rate)):
        kwh = found.energy_by_rate.get(rate, Decimal(0))
        pairs += [(f"rate {rate} kWh", kwh, code) for code in tou.registers_for(rate)]
    if found.max_demand is not None:
        pairs.append(("max demand kW", found.max_demand.kw, "1.6.0"))
    return pairs


def compare(found: Determinants, registers: Mapping[str, Decimal], tou: TouTable, *,
            relative: Decimal = Decimal("0.005"),
            absolute: Decimal = Decimal("0.2")) -> list[Mismatch]:
    """Each determinant against the meter's registers over the same period: ``registers``
    maps an OBIS code (``1.8.0`` total, ``1.8.N`` per rate, ``1.6.0`` max demand) to the
    register's advance (energy) or value (demand) for the period."""
    out = []
    for what, computed, code in compared_pairs(found, tou):
        if code not in registers:
            continue
        register = registers[code]
        allowed = max(abs(register) * relative, absolute)
        if abs(computed - register) > allowed:
            out.append(Mismatch(what, computed, register, allowed, code))
    return out


def rates_seen(found: Iterable[Determinants]) -> list[int]:
    """Every rate number any of ``found`` has energy on, in order (a table's columns)."""
    return sorted({rate for d in found for rate in d.energy_by_rate})
