"""The key store: private files, no silent overwrite, no path tricks."""

from __future__ import annotations

import os
import stat

import pytest

from hhu_sync.errors import KeyStoreError
from hhu_sync.keys import KeyStore, load_key_file


def test_enroll_writes_a_private_32_byte_key(tmp_path):
    path = KeyStore(tmp_path).enroll("HHU-001")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(load_key_file(path)) == 32


def test_enroll_refuses_to_overwrite_without_force(tmp_path):
    store = KeyStore(tmp_path)
    first = load_key_file(store.enroll("HHU-001"))
    with pytest.raises(KeyStoreError, match="already exists"):
        store.enroll("HHU-001")
    store.enroll("HHU-001", force=True)
    assert store.hhu_key("HHU-001") != first


def test_keys_are_distinct_per_hhu(tmp_path):
    store = KeyStore(tmp_path)
    store.enroll("A")
    store.enroll("B")
    assert store.hhu_key("A") != store.hhu_key("B")
    assert store.enrolled() == ["A", "B"]


@pytest.mark.parametrize("bad", ["../evil", "/etc/passwd", ".hidden", "a/b", ""])
def test_ids_that_would_leave_the_folder_are_refused(tmp_path, bad):
    with pytest.raises(ValueError):
        KeyStore(tmp_path).enroll(bad)


def test_a_key_file_readable_by_others_is_refused(tmp_path):
    path = KeyStore(tmp_path).enroll("HHU-001")
    os.chmod(path, 0o644)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        load_key_file(path)


def test_a_key_file_with_junk_is_refused(tmp_path):
    path = tmp_path / "k.key"
    path.write_text("not hex at all")
    os.chmod(path, 0o600)
    with pytest.raises(KeyStoreError, match="64 hex digits"):
        load_key_file(path)


def test_unknown_hhu_has_no_key(tmp_path):
    assert KeyStore(tmp_path).hhu_key("HHU-404") is None


def test_secrets_round_trip_and_missing_ones_name_the_secret(tmp_path):
    store = KeyStore(tmp_path)
    store.set_secret("a1700-level3", "ABCD1234")
    assert store.secret("a1700-level3") == "ABCD1234"
    with pytest.raises(KeyStoreError, match="'nope' is not in the key store"):
        store.secret("nope")


def test_a_revoked_key_is_gone_at_once_even_after_it_was_read(tmp_path):
    store = KeyStore(tmp_path)
    store.enroll("HHU-001")
    assert store.hhu_key("HHU-001") is not None
    store.revoke("HHU-001")
    assert store.hhu_key("HHU-001") is None


def test_a_key_made_readable_by_others_after_it_was_read_is_refused(tmp_path):
    store = KeyStore(tmp_path)
    path = store.enroll("HHU-001")
    store.hhu_key("HHU-001")
    os.chmod(path, 0o644)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        store.hhu_key("HHU-001")


def test_a_secret_changed_after_it_was_read_is_read_again(tmp_path):
    store = KeyStore(tmp_path)
    store.set_secret("a1700-level3", "OLD")
    assert store.secret("a1700-level3") == "OLD"
    store.set_secret("a1700-level3", "NEW", force=True)
    assert store.secret("a1700-level3") == "NEW"
    store.secret_path("a1700-level3").unlink()
    with pytest.raises(KeyStoreError, match="not in the key store"):
        store.secret("a1700-level3")


def test_a_snapshot_looks_at_each_key_and_secret_once(tmp_path, monkeypatch):
    ks = KeyStore(tmp_path)
    ks.enroll("HHU-001")
    ks.set_secret("level1", "pw")
    looks = []
    real = KeyStore._cached
    monkeypatch.setattr(KeyStore, "_cached", lambda self, path, load: (
        looks.append(path.name), real(self, path, load))[1])
    snap = ks.snapshot()
    for _ in range(3):
        assert snap.hhu_key("HHU-001") == ks.hhu_key("HHU-001")
        assert snap.secret("level1") == "pw"
    assert looks.count("HHU-001.key") == 1 + 3 and looks.count("level1.secret") == 1


def test_a_snapshot_keeps_a_missing_key_or_secret_missing(tmp_path):
    ks = KeyStore(tmp_path)
    snap = ks.snapshot()
    assert snap.hhu_key("HHU-404") is None
    with pytest.raises(KeyStoreError, match="secret 'nope' is not in the key store"):
        snap.secret("nope")
    ks.set_secret("nope", "now-there")
    with pytest.raises(KeyStoreError):
        snap.secret("nope")                  # a batch sees one state of the store
    assert ks.snapshot().secret("nope") == "now-there"
