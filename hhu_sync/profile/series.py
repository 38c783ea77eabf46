"""One channel's interval values from one read, as upload version 2 and the store hold them.

Values are integer mantissas with the channel's decimal exponent (``18841`` with exponent
-3 is 18.841 kWh): exact like the meter's text, compact on the wire, and cheap to store and
compare by the million. Time is UTC seconds of each interval's *end*, the convention of
VDEW, MV-90 and CMEP. A read is a series of runs: a clock set or an outage breaks the even
spacing, and a run restarts after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate

from hhu_sync.profile.flags import IntervalStatus

#: Bounds a decoder enforces (a real meter holds far less).
MAX_CHANNELS = 32
MAX_INTERVALS_PER_READ = 1 << 20
#: Interval lengths in seconds that meters offer (1 to 60 minutes).
INTERVAL_SECONDS = frozenset({60, 120, 180, 240, 300, 360, 600, 900, 1200, 1800, 3600})


@dataclass(frozen=True, slots=True)
class Channel:
    """A profile channel: the meter's OBIS code (canonical short form, ``1.8.0`` or
    ``1-0:1.5.0`` as the meter gave it) and unit (``kWh``, ``kvarh``, ``kW``...)."""

    code: str
    unit: str


@dataclass(frozen=True, slots=True)
class Run:
    """Evenly spaced intervals: the first ends at ``first_end``, each next one
    ``interval_s`` later. ``values[i]`` is None where the meter recorded no value."""

    first_end: int
    values: tuple[int | None, ...]
    status: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.values) != len(self.status):
            raise ValueError(f"run at {self.first_end}: {len(self.values)} values but "
                             f"{len(self.status)} statuses")


@dataclass(frozen=True, slots=True)
class ChannelSeries:
    """One channel of one meter's profile from one read."""

    channel: Channel
    interval_s: int
    exponent: int
    runs: tuple[Run, ...]

    def intervals(self) -> list[tuple[int, int | None, int]]:
        """(interval end, mantissa, status) for every interval, in order."""
        out: list[tuple[int, int | None, int]] = []
        step = self.interval_s
        for run in self.runs:
            ends = accumulate([run.first_end] + [step] * (len(run.values) - 1))
            out.extend(zip(ends, run.values, run.status, strict=True))
        return out

    def count(self) -> int:
        return sum(len(run.values) for run in self.runs)

    def value(self, mantissa: int) -> Decimal:
        """The mantissa as the decimal quantity it stands for."""
        return Decimal(mantissa).scaleb(self.exponent)


def runs_of(rows: Sequence[tuple[int, int | None, int]], step: int) -> tuple[Run, ...]:
    """(interval end, mantissa, status) rows in time order as runs: a new run wherever
    the next end is not one ``step`` after the last (an outage, a clock set, a clip)."""
    runs: list[Run] = []
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][0] - rows[i - 1][0] != step:
            part = rows[start:i]
            runs.append(Run(part[0][0], tuple(v for _, v, _ in part),
                            tuple(st for _, _, st in part)))
            start = i
    return tuple(runs)


def has_status(status: int, flag: IntervalStatus) -> bool:
    return bool(status & flag)
