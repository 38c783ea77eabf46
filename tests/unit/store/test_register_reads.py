"""What a backend gives billing: the register reads whose codes start with the prefixes
the caller names (the rule of which registers count is billing's, above every backend),
in time order, within the window."""

from __future__ import annotations

from hhu_sync.store.billing_rules import REGISTER_PREFIXES, without_future
from hhu_sync.store.interval_rules import HeldInterval
from tests.cli.test_billing_registers import END, START, ingest, visit


def _held(store):
    """Both backends (the ``store`` fixture): M1 read at the start and the end."""
    regs = [["1.8.0", "10.0", "kWh", END], ["1.8.1", "4.0", "kWh", END],
            ["1.6.0", "3.00", "kW", END, "2026-11-03T02:30:00+00:00", ""],
            ["32.7.0", "231.0", "V", END]]
    ingest(store, "U-1", [visit("M1", START, [["1.8.0", "1.0", "kWh", START]]),
                          visit("M1", END, regs), visit("M2", END, regs[:1])])


def test_the_codes_billing_names_in_time_order_and_no_others(store):
    _held(store)
    got = store.register_reads("M1", START, END, REGISTER_PREFIXES)
    assert [(r.obis, r.time) for r in got] == [
        ("1.8.0", START), ("1.6.0", END), ("1.8.0", END), ("1.8.1", END)]
    assert [r.obis for r in store.register_reads("M1", START, END, ("1.6.",))] == ["1.6.0"]


def test_a_prefix_is_matched_as_written_not_as_a_pattern(store):
    _held(store)
    assert store.register_reads("M1", START, END, ("1_8.", "%")) == []


def test_billing_leaves_out_only_the_intervals_a_future_finding_names():
    def held(channel, end, upload="U-AHEAD"):
        return HeldInterval("M1", channel, end, 500, -3, 0, "kWh", 1800, upload, 0)

    rows = [held("1.8.0", 1800), held("1.8.0", 3600), held("2.8.0", 3600),
            held("1.8.0", 5400, upload="U-LATER"), held("3.8.0", 3600)]
    # the import channel's from 3600 on, and every channel's at 3600 of that upload
    kept, left_out = without_future(rows, [("U-AHEAD", "1.8.0", 3600, 9000)])
    assert (kept, left_out) == ([rows[0], rows[2], rows[3], rows[4]], 1)
    kept, left_out = without_future(rows, [("U-AHEAD", "", 3600, 3600)])
    assert (kept, left_out) == ([rows[0], rows[3]], 3)
    assert without_future(rows, []) == (rows, 0)
