"""Stored intervals back into series, exact, runs split where the spacing breaks."""

from __future__ import annotations

from typing import NamedTuple

from hhu_sync.profile.held import series_from_held


class Held(NamedTuple):
    channel: str
    interval_end: int
    value: int | None
    exponent: int
    status: int
    unit: str = "kWh"
    interval_s: int = 900


def test_series_from_held_rows():
    rows = [Held("2.8.0", 900, 1, 0, 0), Held("1.8.0", 1800, 25, -1, 0),
            Held("1.8.0", 900, 1500, -3, 4), Held("1.8.0", 3600, None, -3, 0)]
    imp, exp = series_from_held(rows)
    assert (imp.channel.code, imp.exponent, exp.channel.code) == ("1.8.0", -3, "2.8.0")
    assert imp.intervals() == [(900, 1500, 4), (1800, 2500, 0), (3600, None, 0)]
    assert [run.first_end for run in imp.runs] == [900, 3600]
