"""A simulated electricity meter's registers, driven by simulated time only.

Energy accrues at the configured load on the rate the TOU engine says is active;
maximum demand is kept per integration period; a billing reset (on the programmed day,
or commanded) copies the registers into the historical values ``*1``..``*n`` and counts
up ``0.1.0``. Time moves only through :meth:`SimMeter.advance` / :meth:`SimMeter.at`.
The load is what the meter's inputs see (the CT/VT secondaries); a model that takes
CT/VT ratios (``takes_ratios``, the A1700) shows its energy and demand registers,
current and historical, multiplied by the programmed ratios: primary values.
All quantities are :class:`~decimal.Decimal`: no float touches a billing figure.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import cached_property

from hhu_firmware_sim.meter.elster import ElsterMemory
from hhu_firmware_sim.meter.profile import ProfileConfig, Recorder
from hhu_firmware_sim.meter.tou import TouTable
from hhu_sync.iec62056 import DataSet, Identification, Value
from hhu_sync.iec62056.cipher import p2_cipher

#: F.F error flag bits (8 hex digits in the readout).
FLAG_BITS: dict[str, int] = {
    "battery_low": 0x00000001,
    "reverse_run": 0x00000002,
    "cover_opened": 0x00000004,
}

#: Identification per model: (manufacturer code, baud char, identification text).
MODEL_IDENTS: dict[str, tuple[str, str, str]] = {
    "A1700": ("GEC", "5", "A1700"),
    "A1140": ("GEC", "5", "A1140"),
    "AS230": ("ELS", "5", "AS230"),
    "MT174": ("ISk", "5", "MT174-0001"),
    "ZMD120": ("LGZ", "5", "2ZMD120APt.G03"),
    "LZQJ": ("EMH", "5", "LZQJXC"),
}
#: Models that can be programmed with CT/VT ratios (as config/meter-models.toml says).
RATIO_MODELS = frozenset({"A1700"})
_ONE_US = timedelta(microseconds=1)
Ratio = tuple[Decimal, Decimal]
UNITY: Ratio = (Decimal(1), Decimal(1))


@dataclass(frozen=True)
class LoadProfile:
    """Daily load shape: ``steps`` of (minute of day, kW), the first at minute 0."""

    steps: tuple[tuple[int, Decimal], ...]

    @classmethod
    def constant(cls, kw: Decimal | str | int) -> LoadProfile:
        return cls(((0, Decimal(kw)),))

    def kw_at(self, when: datetime) -> Decimal:
        minute = when.hour * 60 + when.minute
        kw = self.steps[0][1]
        for at, value in self.steps:
            if at <= minute:
                kw = value
        return kw

    @cached_property
    def kw_by_minute(self) -> tuple[Decimal, ...]:
        """``kw_at`` of each minute of the day (0 .. 1439): the profile recorder's
        look-up (a day's shape depends on the minute of the day alone)."""
        day = datetime(2000, 1, 1)
        return tuple(self.kw_at(day + timedelta(minutes=m)) for m in range(1440))

    def next_change(self, when: datetime) -> datetime:
        minute = when.hour * 60 + when.minute
        for at, _ in self.steps:
            if at > minute:
                return datetime.combine(when.date(), time(at // 60, at % 60))
        return datetime.combine(when.date() + timedelta(days=1), time())


@dataclass(frozen=True)
class Snapshot:
    """Register values at one billing reset (history entry ``*k``)."""

    at: datetime
    energy: dict[str, Decimal]
    max_demand: Decimal
    max_demand_at: datetime | None


def _stamp(when: datetime | None) -> str:
    return when.strftime("%y%m%d%H%M") if when else "0000000000"


class SimMeter:
    """One simulated meter. Everything a readout or an R1 shows is computed from here."""

    def __init__(self, serial: str, *, model: str = "A1700", address: str | None = None,
                 passwords: dict[int, str] | None = None,
                 password_kinds: tuple[str, ...] = ("P1", "P2"),
                 start: datetime = datetime(2026, 1, 1), load: LoadProfile | None = None,
                 tou: TouTable | None = None, demand_period_minutes: int = 30,
                 billing_reset_day: int = 1, billing_reset_time: str = "00:00",
                 history_depth: int = 12, registers: dict[str, str] | None = None,
                 flags: tuple[str, ...] = (), identification: Identification | None = None,
                 display_items: tuple[str, ...] = (), display_scroll_seconds: int = 5,
                 lockout_after: int | None = None, lockout_minutes: int = 30,
                 wrong_password_reply: str = "nak", write_level: int = 1,
                 decimals: int = 3, takes_ratios: bool | None = None,
                 profile: ProfileConfig | None = None) -> None:
        self.serial = serial
        self.model = model
        self.address = address if address is not None else serial
        self.passwords = dict(passwords or {1: "00000000"})
        self.password_kinds = password_kinds
        self.now = start
        self.load = load or LoadProfile.constant("1.0")
        self.tou = tou or TouTable.flat()
        self.demand_period_minutes = demand_period_minutes
        self.billing_reset_day = billing_reset_day
        self.billing_reset_time = billing_reset_time
        self.history_depth = history_depth
        self.display_items = display_items
        self.display_scroll_seconds = display_scroll_seconds
        self.lockout_after = lockout_after
        self.lockout_minutes = lockout_minutes
        self.wrong_password_reply = wrong_password_reply
        self.write_level = write_level
        self.decimals = decimals
        self.takes_ratios = model in RATIO_MODELS if takes_ratios is None else takes_ratios
        self.ct_ratio: Ratio = UNITY
        self.vt_ratio: Ratio = UNITY
        maker, baud, ident = MODEL_IDENTS.get(model, ("SIM", "5", model[:16] or "SIM"))
        self.identification = identification or Identification(maker, baud, ident)
        self.flags = 0
        for name in flags:
            self.set_flag(name, True)
        self.energy: dict[str, Decimal] = {}
        self.total = Decimal(0)
        self.max_demand = Decimal(0)
        self.max_demand_at: datetime | None = None
        self.reset_count = 0
        self.history: list[Snapshot] = []
        self.failed_logins = 0
        self.locked_until: datetime | None = None
        self._period_energy = Decimal(0)
        self._seeds = random.Random(f"seed:{serial}")
        self.staged: dict[str, str] = {}  # programming stage, see programming.py
        #: Power outages (meter-local wall time): no energy flows, the profile flags them.
        self.outages: list[tuple[datetime, datetime]] = []
        #: The load profile and logbook, computed on demand; None: the model has none here.
        self.recorder: Recorder | None = None
        #: The Elster dialect's registers 550/551/560 over the recorder (Elster models).
        self.elster: ElsterMemory | None = None
        if profile is not None:
            self.recorder = Recorder.starting(profile, serial, start, self.load.kw_at)
            if profile.dialect == "elster":
                self.elster = ElsterMemory(self.recorder)
        for key, value in (registers or {}).items():
            self._load_register(key, value)

    def _load_register(self, key: str, value: str) -> None:
        number = Decimal(value)
        if key == "1.8.0":
            self.total = number
        elif key == "0.1.0":
            self.reset_count = int(number)
        elif key == "1.6.0":
            self.max_demand = number
        else:
            self.energy[key] = number
        self.total = max(self.total, sum(self.energy.values(), Decimal(0)))

    # -- flags and passwords ----------------------------------------------------------------

    def set_flag(self, name: str, on: bool = True) -> None:
        """Set or clear ``battery_low``, ``reverse_run`` or ``cover_opened``."""
        if name not in FLAG_BITS:
            raise ValueError(f"unknown flag {name!r} (known: {', '.join(FLAG_BITS)})")
        self.flags = self.flags | FLAG_BITS[name] if on else self.flags & ~FLAG_BITS[name]

    def new_seed(self) -> str:
        """A P0 seed: 16 hex digits, deterministic per meter (simulation, not security)."""
        return bytes(self._seeds.randrange(256) for _ in range(8)).hex().upper()

    @property
    def locked(self) -> bool:
        return self.locked_until is not None and self.now < self.locked_until

    def check_password(self, kind: str, data: str, seed: str) -> int | None:
        """Access level the password opens, or None; counts failures toward lock-out."""
        level = None
        if kind in self.password_kinds:
            for lvl, pw in sorted(self.passwords.items(), reverse=True):
                if kind == "P1" and data == pw:
                    level = lvl
                    break
                if kind == "P2" and len(pw) == 8 and _p2(pw, seed) == data.upper():
                    level = lvl
                    break
        if level is None:
            self.failed_logins += 1
            if self.lockout_after is not None and self.failed_logins >= self.lockout_after:
                self.locked_until = self.now + timedelta(minutes=self.lockout_minutes)
        else:
            self.failed_logins = 0
        return level

    # -- simulated time ---------------------------------------------------------------------

    def advance(self, seconds: float | int | Decimal) -> None:
        """Run the meter for ``seconds`` of simulated time."""
        self.at(self.now + timedelta(seconds=float(seconds)))

    def at(self, when: datetime) -> None:
        """Run the meter up to ``when`` (never backwards; use :meth:`set_clock` for that)."""
        if when < self.now:
            raise ValueError(f"{when} is before the meter's clock {self.now}")
        while self.now < when:
            step_end = min(when, self.tou.next_change(self.now), self.load.next_change(self.now),
                           self._next_period_end(), self._next_billing_reset(),
                           self._next_outage_edge())
            seconds = Decimal((step_end - self.now) // _ONE_US) / Decimal(1_000_000)
            kw = Decimal(0) if self.powered_down(self.now) else self.load.kw_at(self.now)
            kwh = kw * seconds / Decimal(3600)
            for register in self.tou.registers_for(self.tou.rate_at(self.now)):
                self.energy[register] = self.energy.get(register, Decimal(0)) + kwh
            self.total += kwh
            self._period_energy += kwh
            self.now = step_end
            if self.now == self._period_start(self.now):
                self._close_period()
            if self._is_billing_moment(self.now):
                self.billing_reset()

    def set_clock(self, when: datetime) -> None:
        """Set the clock (W1 of 0.9.1/0.9.2): no energy accrues over the jump; the
        profile flags the interval and the logbook keeps the old time."""
        if self.recorder is not None:
            self.recorder.clock_sets.append((self.recorder.utc(when), self.now, when))
        self.now = when
        self._period_energy = Decimal(0)

    def schedule_outage(self, start: datetime, end: datetime) -> None:
        """A power failure from ``start`` to ``end`` (meter-local time, past or future)."""
        if end <= start:
            raise ValueError(f"outage {start} .. {end} does not end after it starts")
        self.outages.append((start, end))
        self.outages.sort()
        if self.recorder is not None:
            self.recorder.outages.append((self.recorder.utc(start), self.recorder.utc(end)))
            self.recorder.outages.sort()

    def powered_down(self, when: datetime) -> bool:
        return any(a <= when < b for a, b in self.outages)

    def _next_outage_edge(self) -> datetime:
        edges = [t for span in self.outages for t in span if t > self.now]
        return min(edges, default=datetime.max)

    @property
    def utc_now(self) -> int:
        """The meter's clock as UTC seconds (its profile's axis)."""
        assert self.recorder is not None
        return self.recorder.utc(self.now)

    def _period_start(self, when: datetime) -> datetime:
        midnight = datetime.combine(when.date(), time())
        minutes = (when - midnight) // timedelta(minutes=1)
        return midnight + timedelta(minutes=minutes - minutes % self.demand_period_minutes)

    def _next_period_end(self) -> datetime:
        return self._period_start(self.now) + timedelta(minutes=self.demand_period_minutes)

    def _close_period(self) -> None:
        demand = self._period_energy * Decimal(60) / Decimal(self.demand_period_minutes)
        if demand > self.max_demand:
            self.max_demand, self.max_demand_at = demand, self.now
        self._period_energy = Decimal(0)

    def _reset_moment(self, year: int, month: int) -> datetime:
        hours, _, minutes = self.billing_reset_time.partition(":")
        return datetime(year, month, self.billing_reset_day, int(hours), int(minutes))

    def _next_billing_reset(self) -> datetime:
        moment = self._reset_moment(self.now.year, self.now.month)
        if moment <= self.now:
            year, month = divmod(self.now.year * 12 + self.now.month, 12)
            moment = self._reset_moment(year, month + 1)
        return moment

    def _is_billing_moment(self, when: datetime) -> bool:
        return when == self._reset_moment(when.year, when.month)

    def billing_reset(self) -> None:
        """End the billing period: values move to ``*1`` (older ones shift), MD restarts."""
        energy = {"1.8.0": self.total, **self.energy}
        self.history.insert(0, Snapshot(self.now, energy, self.max_demand, self.max_demand_at))
        del self.history[self.history_depth:]
        self.reset_count += 1
        self.max_demand, self.max_demand_at = Decimal(0), None

    # -- presentation -----------------------------------------------------------------------

    @property
    def ratio_factor(self) -> Decimal:
        """CT × VT as programmed (1 unless the model takes ratios and was given some)."""
        if not self.takes_ratios:
            return Decimal(1)
        (cp, cs), (vp, vs) = self.ct_ratio, self.vt_ratio
        return cp / cs * vp / vs

    def _num(self, value: Decimal, width: int = 10) -> str:
        return f"{value:0{width}.{self.decimals}f}"

    def _scaled(self, value: Decimal, width: int = 10) -> str:
        """An energy or demand figure as the registers show it (primary with ratios)."""
        return self._num(value * self.ratio_factor, width)

    def register_value(self, key: str) -> tuple[Value, ...] | None:
        """Values of register ``key`` (short OBIS, ``*k`` historical), None if unknown."""
        core, star, back = key.partition("*")
        if star:
            if not back.isdigit() or not 1 <= int(back) <= len(self.history):
                return None
            snap = self.history[int(back) - 1]
            if core == "0.1.2":                   # when billing period *k was closed
                return (Value(_stamp(snap.at)),)
            if core == "1.6.0":
                return (Value(self._scaled(snap.max_demand, 8), "kW"),
                        Value(_stamp(snap.max_demand_at)))
            if core in snap.energy:
                return (Value(self._scaled(snap.energy[core]), "kWh"),)
            return None
        fixed = {
            "0.0.0": (Value(self.serial),), "C.1.0": (Value(self.serial),),
            "F.F": (Value(f"{self.flags:08X}"),),
            "0.9.1": (Value(self.now.strftime("%H:%M:%S")),),
            "0.9.2": (Value(self.now.strftime("%y-%m-%d")),),
            "0.1.0": (Value(str(self.reset_count)),),
            "1.8.0": (Value(self._scaled(self.total), "kWh"),),
            "1.6.0": (Value(self._scaled(self.max_demand, 8), "kW"),
                      Value(_stamp(self.max_demand_at))),
        }
        if key in fixed:
            return fixed[key]
        if key in self.energy or key in self._rate_registers():
            return (Value(self._scaled(self.energy.get(key, Decimal(0))), "kWh"),)
        return None

    def _rate_registers(self) -> list[str]:
        regs: list[str] = []
        for rate in self.tou.rates:
            regs += [r for r in rate.registers if r not in regs]
        return regs

    def readout(self) -> list[DataSet]:
        """The full readout, in the usual order: ids, flags, clock, energy, MD, history
        (each billing period led by ``0.1.2*k``, the time of its reset, as VDEW meters do)."""
        keys = ["0.0.0", "C.1.0", "F.F", "0.9.1", "0.9.2", "1.8.0"]
        keys += sorted(set(self._rate_registers()) | set(self.energy))
        keys += ["1.6.0", "0.1.0"]
        for k in range(1, len(self.history) + 1):
            keys += [f"0.1.2*{k}", f"1.8.0*{k}"]
            keys += [f"{r}*{k}" for r in sorted(self.history[k - 1].energy) if r != "1.8.0"]
            keys += [f"1.6.0*{k}"]
        out = []
        for key in keys:
            values = self.register_value(key)
            if values is not None:
                out.append(DataSet(key, values))
        return out


def _p2(password: str, seed: str) -> str | None:
    try:
        return p2_cipher(password, seed)
    except ValueError:
        return None
