"""Revoking an HHU, the steps ``hhu-sync revoke`` and the web app share: the key leaves
the store first, then the HHU's work stops with its audit row in one transaction."""

from __future__ import annotations

import json

import pytest

from hhu_sync.errors import KeyStoreError
from hhu_sync.keys import KeyStore
from hhu_sync.keys.revoke import revoke_handheld
from hhu_sync.store import SqliteStore
from tests.unit.store.helpers import meter_list

NOW = "2026-11-25T12:00:00+00:00"


@pytest.fixture
def depot(tmp_path):
    keys = KeyStore(tmp_path / "keys")
    keys.enroll("HHU-001")
    store = SqliteStore(tmp_path / "db.sqlite")
    store.touch_hhu("HHU-001", dock="cradle-2", firmware="2", battery=1, free_flash=1,
                    now=NOW)
    store.add_meter_list(meter_list("L1", hhu="HHU-001"), NOW)
    yield keys, store
    store.close()


def test_the_key_moves_the_work_stops_and_the_audit_says_who(depot):
    keys, store = depot
    done = revoke_handheld(keys, store, "HHU-001", NOW, user="cli:ops")
    assert keys.hhu_key("HHU-001") is None and done.key_moved_to.exists()
    assert done.counts == {"cancelled": 1, "returned_to_crew": 0, "lists_on_hhu": 0}
    (entry,) = [e for e in store.audit_log() if e.action == "hhu.revoke"]
    assert (entry.user, entry.target, entry.at) == ("cli:ops", "HHU-001", NOW)
    assert json.loads(entry.before) == {"dock": "cradle-2"}
    assert json.loads(entry.after) == {"dock": "revoked", "key_moved_to":
                                       done.key_moved_to.name, **done.counts}


def test_an_hhu_not_enrolled_changes_nothing(depot):
    keys, store = depot
    with pytest.raises(KeyStoreError):
        revoke_handheld(keys, store, "HHU-404", NOW, user="cli:ops")
    with pytest.raises(ValueError):
        revoke_handheld(keys, store, "../HHU-001", NOW, user="cli:ops")
    assert store.audit_log() == [] and keys.hhu_key("HHU-001") is not None


def test_without_a_database_only_the_key_moves(depot):
    keys, _ = depot
    assert revoke_handheld(keys, None, "HHU-001", NOW, user="cli:ops").counts is None
