"""A key file's name says whose key it is, as the key store names them (``hhus/ID.key``,
``revoked/ID.key.TIME``): one rule for every command given a ``--key-file``."""

from __future__ import annotations

from pathlib import Path

import pytest

from hhu_sync.io.dock import key_lookup_for
from hhu_sync.keys.names import hhu_id_of_key_file
from hhu_sync.keys.store import KeyStore


@pytest.mark.parametrize(("name", "hhu_id"), [
    ("HHU-009.key", "HHU-009"),
    ("HHU-009.key.20261201T120000Z", "HHU-009"),
    ("/var/keystore/revoked/HHU-009.key.20261201T120000Z", "HHU-009"),
    ("HHU-009", "HHU-009"),
    ("HHU-009.hex", "HHU-009"),
])
def test_the_hhu_id_is_the_name_before_dot_key(name, hhu_id):
    assert hhu_id_of_key_file(name) == hhu_id


def test_a_key_the_store_revoked_names_its_hhu(tmp_path):
    store = KeyStore(tmp_path)
    store.enroll("HHU-009")
    assert hhu_id_of_key_file(store.revoke("HHU-009")) == "HHU-009"
    assert hhu_id_of_key_file(Path(store.key_path("HHU-009"))) == "HHU-009"


def test_the_docks_one_key_lookup_knows_the_revoked_files_hhu():
    keys = key_lookup_for("revoked/HHU-009.key.20261201T120000Z", b"k" * 32)
    assert keys("HHU-009") == b"k" * 32 and keys("HHU-009.key") is None
