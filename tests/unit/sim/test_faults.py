"""Bit flips and cut budgets: deterministic for a seed, exact in their counts."""

from __future__ import annotations

from hhu_firmware_sim.faults import BitFlipper, ByteBudget


def test_ber_zero_leaves_data_intact():
    flip = BitFlipper(0.0, seed=1)
    assert flip(b"\x00" * 10_000) == b"\x00" * 10_000


def test_flips_are_reproducible_for_a_seed():
    data = bytes(100_000)
    assert BitFlipper(1e-3, seed=7)(data) == BitFlipper(1e-3, seed=7)(data)


def test_flip_count_matches_changed_bits():
    flip = BitFlipper(1e-3, seed=3)
    out = flip(bytes(100_000))
    assert sum(bin(b).count("1") for b in out) == flip.flips > 0


def test_budget_lets_exactly_limit_bytes_pass():
    budget = ByteBudget(10)
    assert [budget.take(4), budget.take(4), budget.take(4)] == [4, 4, 2]
    assert budget.cut


def test_budget_without_limit_never_cuts():
    budget = ByteBudget(None)
    budget.take(10**9)
    assert not budget.cut
