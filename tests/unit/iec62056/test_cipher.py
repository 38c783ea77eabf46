"""The A1700-style P2 cipher, exactly as domain.md gives it."""

from __future__ import annotations

import pytest

from hhu_sync.iec62056 import p2_cipher


def test_hand_computed_vector():
    # pw "AAAAAAAA" (0x41) XOR seed 0 -> c = 41*8; last = 0x41:
    # 82, 82+41=C3, C3+41=04, 45, 86, C7, 08, 49
    assert p2_cipher("AAAAAAAA", "0000000000000000") == "82C3044586C70849"


def test_vector_with_seed():
    assert p2_cipher("FEDC0003", "0123456789ABCDEF") == "23898AAE6702FFDB"


def test_seed_changes_answer():
    assert p2_cipher("FEDC0003", "0123456789ABCDEE") != p2_cipher("FEDC0003",
                                                                  "0123456789ABCDEF")


@pytest.mark.parametrize("password,seed", [("SHORT", "0" * 16), ("AAAAAAAA", "00"),
                                           ("AAAAAAAA", "zz" * 8)])
def test_bad_lengths_refused(password, seed):
    with pytest.raises(ValueError):
        p2_cipher(password, seed)
