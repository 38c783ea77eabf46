"""The simulated meter's load profile and logbook (VDEW dialect: P.01 and P.98).

Why computed, not stored: a meter holds 35 days of 15-minute intervals on four
channels; simulating a fleet must not build them at start for a read that may never
come. Each interval is a pure function of the meter's load model, its outages and clock
sets, so a read computes exactly the intervals it asks for, and the same meter (same
serial) always records the same values.

The axis is UTC seconds; interval ends fall on whole multiples of the interval. The
meter's clock (``SimMeter.now``) is its local wall time in ``zone`` (None: it keeps UTC
and writes season digit 2). Energy is the load model integrated minute by minute, in Wh
(the profile's values have exponent -3, kWh); no energy flows during an outage. The
reactive channels follow the import at a per-meter power factor drawn from the serial.

Simplification, documented in docs/iec62056.md: a clock set does not rewrite what was
recorded; the interval in which it happened is flagged, and intervals are always on
the meter's present time axis.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hhu_sync.iec62056.elster_profile import ELSTER_CHANNELS
from hhu_sync.iec62056.loadprofile import (
    LocalStamp,
    LogEntry,
    MeterClock,
    ProfileHeader,
    ProfileSection,
    format_value,
)
from hhu_sync.profile.series import Channel

#: VDEW status bits the simulator sets.
ST_POWER_FAIL = 0x0080
ST_POWER_RECOVERY = 0x0040
ST_CLOCK_SET = 0x0020
ST_SEASON = 0x0008

#: Channel code -> unit, what the simulator can record.
CHANNEL_UNITS = {"1.8": "kWh", "2.8": "kWh", "3.8": "kvarh", "4.8": "kvarh"}
#: The Elster dialect's channel codes (its mask bits, ``ELSTER_CHANNELS``) the simulator
#: records; the others read 0.
ELSTER_CODES = frozenset(c.code for c in ELSTER_CHANNELS if c is not None)
DIALECTS = ("vdew", "elster")
MAX_LOGBOOK = 500


@dataclass(frozen=True)
class ProfileConfig:
    """What a model records: interval (minutes), channels, how many days it holds."""

    interval_min: int = 15
    channels: tuple[str, ...] = ("1.8", "2.8", "3.8", "4.8")
    depth_days: int = 35
    zone: str | None = None
    #: "vdew": P.01/P.98 (R5/R6); "elster": registers 550/551/560 (hhu_firmware_sim.meter.elster).
    dialect: str = "vdew"

    def __post_init__(self) -> None:
        if self.dialect not in DIALECTS:
            raise ValueError(f"profile dialect {self.dialect!r} is not one of "
                             f"{', '.join(DIALECTS)}")
        if self.interval_min not in (5, 10, 15, 30, 60):
            raise ValueError(f"profile interval {self.interval_min} min is not 5, 10, 15, "
                             "30 or 60")
        known = CHANNEL_UNITS if self.dialect == "vdew" else sorted(ELSTER_CODES)
        unknown = [c for c in self.channels if c not in known]
        if unknown or not self.channels:
            raise ValueError(f"profile channels {unknown or '(none)'}: known are "
                             f"{', '.join(known)}")
        if not 1 <= self.depth_days <= 400:
            raise ValueError(f"profile depth {self.depth_days} days is not 1..400")


#: What the VDEW-dialect models record unless a fleet entry says otherwise. (The Elster
#: models record what the catalog's ``profile_*`` keys say: see fleet.py.)
VDEW_PROFILES: dict[str, ProfileConfig] = {
    "LZQJ": ProfileConfig(15, ("1.8", "2.8", "3.8", "4.8"), 35),
    "ZMD120": ProfileConfig(15, ("1.8", "2.8", "3.8", "4.8"), 35),
    "MT174": ProfileConfig(15, ("1.8", "2.8"), 35),
}


@dataclass
class Recorder:
    """One meter's profile memory and logbook, computed on demand.

    ``kw_at(local)`` is the meter's load model; outages and clock sets are kept as
    (UTC seconds) spans and instants, so a read anywhere in the depth sees them.
    """

    config: ProfileConfig
    serial: str
    #: UTC second the memory holds records from (older days are overwritten anyway)
    since: int
    kw_at: Callable[[datetime], Decimal]
    outages: list[tuple[int, int]] = field(default_factory=list)
    clock_sets: list[tuple[int, datetime, datetime]] = field(default_factory=list)

    @classmethod
    def starting(cls, config: ProfileConfig, serial: str, start: datetime,
                 kw_at: Callable[[datetime], Decimal]) -> Recorder:
        """A recorder whose memory is full at ``start`` (the meter's local time): it has
        recorded for its whole depth before, as a meter in service has, so a read just
        after start finds ``depth_days`` of intervals, not an empty memory."""
        rec = cls(config, serial, 0, kw_at)
        rec.since = rec.utc(start - timedelta(days=config.depth_days))
        return rec

    def __post_init__(self) -> None:
        self.clock = MeterClock.of(self.config.zone)
        self._zone = ZoneInfo(self.config.zone) if self.config.zone else None
        rng = random.Random(f"profile:{self.serial}")
        self._q_import = Decimal(rng.randrange(20, 50)) / 100     # tan phi, inductive
        self._q_export = Decimal(rng.randrange(0, 5)) / 100
        self.step = self.config.interval_min * 60

    @property
    def _kw_by_minute(self) -> tuple[Decimal, ...] | None:
        """The load's kW at each minute of the day, when ``kw_at`` is a daily shape's.
        Read from ``kw_at`` each time, not kept: a load given to the recorder later (a
        noisy load wrapping the shape, say) must never be skipped for the old shape's
        table."""
        return getattr(getattr(self.kw_at, "__self__", None), "kw_by_minute", None)

    # -- time ----------------------------------------------------------------------------

    def utc(self, local: datetime) -> int:
        if self._zone is None:
            return int(local.replace(tzinfo=UTC).timestamp())
        return int(local.replace(tzinfo=self._zone).timestamp())

    def local(self, utc: int) -> datetime:
        at = datetime.fromtimestamp(utc, UTC)
        if self._zone is None:
            return at.replace(tzinfo=None)
        return at.astimezone(self._zone).replace(tzinfo=None)

    def oldest_end(self, now: int) -> int:
        """The first interval end the memory still holds: older days are overwritten,
        and nothing before the meter started recording."""
        today = self.local(now).replace(hour=0, minute=0, second=0, microsecond=0)
        start = max(self.since, self.utc(today - timedelta(days=self.config.depth_days - 1)))
        return (start // self.step + 1) * self.step

    def ends(self, now: int, start: int | None = None, stop: int | None = None) -> range:
        """Interval ends held at ``now`` within [start, stop] (UTC seconds)."""
        first = self.oldest_end(now)
        last = now - now % self.step
        if start is not None:
            first = max(first, -(-start // self.step) * self.step)
        if stop is not None:
            last = min(last, stop - stop % self.step)
        return range(first, last + 1, self.step)

    # -- one interval ----------------------------------------------------------------------

    def status(self, end: int) -> int:
        begin = end - self.step
        st = 0
        for a, b in self.outages:
            if a < end and b > begin:
                st |= ST_POWER_FAIL
                if begin < b <= end:
                    st |= ST_POWER_RECOVERY
        for at, _, _ in self.clock_sets:
            if begin < at <= end:
                st |= ST_CLOCK_SET
        if self._zone is not None:
            before = datetime.fromtimestamp(begin, UTC).astimezone(self._zone).dst()
            after = datetime.fromtimestamp(end, UTC).astimezone(self._zone).dst()
            if before != after:
                st |= ST_SEASON
        return st

    def import_wh(self, end: int) -> int:
        """Energy imported in the interval ending at ``end``, in Wh (minute by minute:
        load steps fall on whole minutes; a season change falls on an interval edge).

        A load whose ``kw_at`` is a daily shape (``kw_at.__self__.kw_by_minute``: the
        kW of each minute of the day) is looked up by minute of the day, the same values
        summed in the same order, without a datetime a minute."""
        begin = end - self.step
        local = self.local(begin)
        down = [(a, b) for a, b in self.outages if a < end and b > begin]
        total = Decimal(0)
        table = self._kw_by_minute
        if table is not None:
            first = local.hour * 60 + local.minute
            for i in range(self.step // 60):
                if down and any(a <= begin + 60 * i < b for a, b in down):
                    continue
                total += table[(first + i) % 1440]
            return int((total * 1000 / 60).to_integral_value())
        for i in range(self.step // 60):
            t = begin + 60 * i
            if down and any(a <= t < b for a, b in down):
                continue
            total += self.kw_at(local + timedelta(minutes=i))
        return int((total * 1000 / 60).to_integral_value())

    def values(self, end: int) -> tuple[int, ...]:
        """Mantissas (exponent -3: Wh, varh) of each configured channel."""
        imp = self.import_wh(end)
        q_in = int((imp * self._q_import).to_integral_value())
        q_out = int((imp * self._q_export).to_integral_value())
        by_code = {"1.8": imp, "2.8": 0, "3.8": q_in, "4.8": q_out,
                   # Elster codes: Q1 inductive import, Q4 capacitive import, VA import
                   "1.8.0": imp, "3.8.0": q_in, "4.8.0": q_out, "5.8.0": q_in,
                   "8.8.0": q_out,
                   "9.8.0": int((Decimal(imp * imp + q_in * q_in).sqrt())
                                .to_integral_value())}
        return tuple(by_code.get(c, 0) for c in self.config.channels)

    # -- what a read answers ---------------------------------------------------------------

    def sections(self, now: int, start: int | None = None,
                 stop: int | None = None) -> Iterator[ProfileSection]:
        """The P.01 answer as sections: a new header where the status changes."""
        channels = tuple(Channel(c, CHANNEL_UNITS[c]) for c in self.config.channels)
        header: ProfileHeader | None = None
        rows: list[tuple[str, ...]] = []
        for end in self.ends(now, start, stop):
            st = self.status(end)
            if header is None or st != header.status:
                if header is not None:
                    yield ProfileSection(header, tuple(rows))
                header = ProfileHeader(self.stamp(end), st, self.config.interval_min,
                                       channels, 4)
                rows = []
            rows.append(tuple(format_value(v, -3, 5) for v in self.values(end)))
        if header is not None:
            yield ProfileSection(header, tuple(rows))

    def stamp(self, utc: int, *, seconds: bool = True) -> LocalStamp:
        return self.clock.local(utc, season=True, seconds=seconds)

    def logbook(self, now: int, start: int | None = None,
                stop: int | None = None) -> list[LogEntry]:
        """P.98 entries up to ``now``, oldest first, at most :data:`MAX_LOGBOOK`."""
        raw: list[tuple[int, int, tuple[tuple[str, str], ...]]] = []
        for a, b in self.outages:
            raw.append((a, ST_POWER_FAIL, ()))
            raw.append((b, ST_POWER_RECOVERY, ()))
        for at, old, _new in self.clock_sets:
            season = self.stamp(at).season
            raw.append((at, 0x8000 | ST_CLOCK_SET,
                        (("0.9.1", f"{season}{old:%H%M%S}"),
                         ("0.9.2", f"{season}{old:%y%m%d}"))))
        lo = self.since if start is None else max(start, self.since)
        hi = now if stop is None else min(stop, now)
        kept = sorted(e for e in raw if lo <= e[0] <= hi)[-MAX_LOGBOOK:]
        return [LogEntry(self.stamp(at), code, data) for at, code, data in kept]
