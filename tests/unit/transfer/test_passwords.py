"""Meter passwords are encrypted to one HHU, one bundle and one secret name."""

from __future__ import annotations

import pytest

from hhu_sync.errors import TransferError
from hhu_sync.transfer import decrypt_password, encrypt_password

KEY = b"k" * 32
WHERE = {"bundle_id": "B-1", "target": "HHU-001", "name": "a1700-level3"}


def test_password_decrypts_with_the_hhu_key():
    enc = encrypt_password(KEY, password="ABCD1234", **WHERE)
    assert decrypt_password(KEY, enc, **WHERE) == "ABCD1234"


def test_the_password_is_not_in_the_ciphertext():
    enc = encrypt_password(KEY, password="ABCD1234", **WHERE)
    assert b"ABCD1234" not in enc["ct"] + enc["nonce"]


def test_another_hhu_key_cannot_decrypt():
    enc = encrypt_password(KEY, password="ABCD1234", **WHERE)
    with pytest.raises(TransferError, match="does not decrypt"):
        decrypt_password(b"x" * 32, enc, **WHERE)


@pytest.mark.parametrize("field", ["bundle_id", "target", "name"])
def test_a_password_moved_to_another_bundle_target_or_name_is_refused(field):
    enc = encrypt_password(KEY, password="ABCD1234", **WHERE)
    with pytest.raises(TransferError):
        decrypt_password(KEY, enc, **{**WHERE, field: "other"})


def test_a_malformed_record_is_refused():
    with pytest.raises(TransferError, match="not an encrypted password record"):
        decrypt_password(KEY, {"alg": "none", "pw": "1234"}, **WHERE)
