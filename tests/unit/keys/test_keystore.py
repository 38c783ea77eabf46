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


# --- issue 12: the key store is private and never written through a symlink -------------


@pytest.fixture
def no_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def test_the_key_store_root_and_its_folders_are_0700_and_files_0600(tmp_path, no_umask):
    store = KeyStore(tmp_path / "var" / "keystore")
    key = store.enroll("HHU-001")
    secret = store.set_secret("meter-l3", "pw")
    store.revoke("HHU-001")
    modes = {p.relative_to(tmp_path): stat.S_IMODE(p.stat().st_mode)
             for p in [store.root, *store.root.rglob("*")]}
    assert modes.pop(secret.relative_to(tmp_path)) == 0o600
    assert key.parent.relative_to(tmp_path) in modes
    revoked = [p for p in modes if p.parent.name == "revoked"]
    assert [modes.pop(p) for p in revoked] == [0o600]
    assert set(modes.values()) == {0o700}, modes


def test_an_existing_loose_key_store_is_tightened_to_0700(tmp_path):
    root = tmp_path / "keystore"
    root.mkdir()
    os.chmod(root, 0o755)
    KeyStore(root).enroll("HHU-001")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_a_symlink_in_place_of_a_key_store_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "keystore"
    root.mkdir()
    (root / "hhus").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OSError, match="symlink"):
        KeyStore(root).enroll("HHU-001")
    assert list(elsewhere.iterdir()) == []


def test_a_symlink_at_a_temp_or_key_name_is_never_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    hhus = tmp_path / "keystore" / "hhus"
    hhus.mkdir(parents=True)
    (hhus / f".HHU-001.key.{os.getpid()}.tmp").symlink_to(victim)
    (hhus / "HHU-002.key").symlink_to(victim)
    store = KeyStore(tmp_path / "keystore")
    store.enroll("HHU-001")
    with pytest.raises(KeyStoreError, match="already exists"):
        store.enroll("HHU-002")
    assert victim.read_bytes() == b"precious"
    assert stat.S_IMODE(os.lstat(hhus / "HHU-001.key").st_mode) == 0o600


# --- issue 12, round 2: nor *read* through a symlink ------------------------------------

def test_a_key_store_folder_swapped_for_a_symlink_is_not_read_through(tmp_path):
    """``hhus/`` replaced by a link to someone's folder holding their own HHU-001.key (0600,
    so the permission check passes) would make the depot seal with their key: refused."""
    store = KeyStore(tmp_path / "keystore")
    store.enroll("HHU-001")
    hhus = tmp_path / "keystore" / "hhus"
    theirs = tmp_path / "theirs"
    hhus.rename(tmp_path / "hhus.real")
    theirs.mkdir()
    (theirs / "HHU-001.key").write_text("ab" * 32 + "\n")
    os.chmod(theirs / "HHU-001.key", 0o600)
    hhus.symlink_to(theirs, target_is_directory=True)
    with pytest.raises(KeyStoreError, match="symbolic link"):
        KeyStore(tmp_path / "keystore").hhu_key("HHU-001")


def test_a_key_or_secret_file_that_is_a_symlink_is_not_read(tmp_path):
    store = KeyStore(tmp_path / "keystore")
    store.enroll("HHU-001")
    store.set_secret("pw", "the real one")
    theirs = tmp_path / "theirs"
    theirs.write_text("cd" * 32 + "\n")
    os.chmod(theirs, 0o600)
    for path in (store.key_path("HHU-002"), store.secret_path("other")):
        path.symlink_to(theirs)
    fresh = KeyStore(tmp_path / "keystore")
    with pytest.raises(KeyStoreError, match="symbolic link"):
        fresh.hhu_key("HHU-002")
    with pytest.raises(KeyStoreError, match="symbolic link"):
        fresh.secret("other")
    assert fresh.secret("pw") == "the real one" and fresh.hhu_key("HHU-001") is not None
