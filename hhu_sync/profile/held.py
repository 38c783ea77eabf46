"""Stored intervals back into series: what VEE, billing and the exports read."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from hhu_sync.profile.series import Channel, ChannelSeries, runs_of


class IntervalLike(Protocol):
    """One stored interval (the store's ``HeldInterval`` has these fields)."""

    @property
    def meter(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def interval_end(self) -> int: ...
    @property
    def value(self) -> int | None: ...
    @property
    def exponent(self) -> int: ...
    @property
    def status(self) -> int: ...
    @property
    def unit(self) -> str: ...
    @property
    def interval_s(self) -> int: ...


def series_from_held(rows: Iterable[IntervalLike]) -> list[ChannelSeries]:
    """One series per (channel, unit, interval length), in channel order; values brought
    to the smallest exponent held (exact), runs split wherever the spacing breaks."""
    groups: dict[tuple[str, str, int], list[IntervalLike]] = {}
    for row in rows:
        groups.setdefault((row.channel, row.unit, row.interval_s), []).append(row)
    out = []
    for (code, unit, step), held in sorted(groups.items()):
        held.sort(key=lambda r: r.interval_end)
        low = min(r.exponent for r in held)
        exact = [(r.interval_end, None if r.value is None
                  else r.value * 10 ** (r.exponent - low), r.status) for r in held]
        out.append(ChannelSeries(Channel(code, unit), step, low, runs_of(exact, step)))
    return out
