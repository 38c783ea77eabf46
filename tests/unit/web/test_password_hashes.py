"""Stored passwords are argon2id hashes with RFC 9106's parameters, whatever the tests use.

The suite hashes with cheap parameters (tests/conftest.py) to keep its time; these tests
take the shipped hasher back, so a weakened default could not pass unseen."""

from __future__ import annotations

from argon2 import Type, extract_parameters
from argon2.profiles import RFC_9106_LOW_MEMORY

from hhu_sync.web import passwords


def test_the_shipped_hasher_is_argon2id_at_64_mib_and_three_passes(monkeypatch):
    monkeypatch.setattr(passwords, "_HASHER",
                        passwords.PasswordHasher.from_parameters(passwords.SHIPPED))
    made = extract_parameters(passwords.hash_password("correct horse battery"))
    assert passwords.SHIPPED == RFC_9106_LOW_MEMORY
    assert made.type is Type.ID
    assert (made.memory_cost, made.time_cost, made.parallelism) == (65536, 3, 4)
    assert made.salt_len >= 16 and made.hash_len >= 32


def test_the_module_as_imported_hashes_with_the_shipped_parameters():
    import importlib
    import sys
    saved = sys.modules.pop("hhu_sync.web.passwords")
    try:
        fresh = importlib.import_module("hhu_sync.web.passwords")
        dummy = extract_parameters(fresh._DUMMY)
        assert (dummy.memory_cost, dummy.time_cost, dummy.parallelism) == (65536, 3, 4)
        assert extract_parameters(fresh.hash_password("correct horse battery")) == dummy
    finally:
        sys.modules["hhu_sync.web.passwords"] = saved


def test_a_hash_made_with_other_parameters_still_verifies():
    cheap = passwords.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    assert passwords.verify(cheap.hash("correct horse battery"), "correct horse battery")
    assert not passwords.verify(cheap.hash("correct horse battery"), "wrong horse battery")
