"""Scheme versions only move forward: in the library, by the outbox and by the CLI."""

from __future__ import annotations

import time

import pytest

from hhu_sync.config import parse_config
from hhu_sync.keys import KeyStore
from hhu_sync.model.loader import load_toml
from hhu_sync.model.scheme import parse_scheme
from hhu_sync.model.versions import HeldScheme, Verdict, judge, version_key
from hhu_sync.outbox import OutboxProcessor
from hhu_sync.store import SqliteStore, StoreError
from hhu_sync.store.base import SchemeVersionRefused
from tests.conftest import EXAMPLES

NOW = "2026-11-20T09:00:00+00:00"
LATER = "2026-11-25T12:00:00+00:00"


def _example(catalog, version: int, name: str = "C&I three-rate TOU 2026"):
    data, locate = load_toml(EXAMPLES / "a1700-ci-tou.toml")
    data["scheme"]["version"] = version
    data["scheme"]["name"] = name
    return parse_scheme(data, "a1700-ci-tou.toml", catalog, locate)


def _toml(version: int) -> bytes:
    text = (EXAMPLES / "a1700-ci-tou.toml").read_text()
    return text.replace("version = 3", f"version = {version}", 1).encode()


def _put(store, scheme, name="a.toml", sha=None, now=NOW, force=False):
    return store.accept_input(sha256=sha or f"{name}-{scheme.version}-{hash(scheme.json)}",
                              name=name, kind="scheme", moved_to="", now=now, scheme=scheme,
                              force=force)


def test_versions_compare_as_numbers_not_text():
    assert version_key(10) > version_key(9)
    assert version_key("1.10") > version_key("1.9")
    assert version_key("2") == version_key("2.0")
    held = HeldScheme(5, '{"a": 1}', NOW, "")
    assert judge(6, '{"a": 2}', held) is Verdict.NEWER
    assert judge(4, '{"a": 1}', held) is Verdict.OLDER
    assert judge(5, '{"a":1}', held) is Verdict.SAME
    assert judge(5, '{"a": 2}', held) is Verdict.CHANGED


def test_an_older_version_is_refused_naming_both(store, catalog):
    _put(store, _example(catalog, 5), name="tou-v5.toml")
    with pytest.raises(SchemeVersionRefused) as err:
        _put(store, _example(catalog, 3), name="tou-v3.toml", now=LATER)
    assert err.value.code == "older"
    assert (err.value.version, err.value.held_version) == (3, 5)
    message = str(err.value)
    assert "version 3 is older than version 5 held since 2026-11-20 (from tou-v5.toml)" \
        in message and "--force" in message
    assert store.scheme("a1700-ci-tou-2026").version == 5


def test_a_version_below_ten_is_older_than_ten(store, catalog):
    _put(store, _example(catalog, 10))
    with pytest.raises(SchemeVersionRefused):
        _put(store, _example(catalog, 9))


def test_the_same_version_with_other_content_is_refused(store, catalog):
    _put(store, _example(catalog, 5))
    with pytest.raises(SchemeVersionRefused) as err:
        _put(store, _example(catalog, 5, name="Renamed"))
    assert err.value.code == "changed"
    assert store.scheme("a1700-ci-tou-2026").name == "C&I three-rate TOU 2026"


def test_the_same_version_and_content_again_and_a_newer_one_are_taken(store, catalog):
    _put(store, _example(catalog, 5))
    _put(store, _example(catalog, 5), name="copy.toml", sha="other-bytes")
    _put(store, _example(catalog, 6, name="Six"))
    assert store.scheme("a1700-ci-tou-2026").version == 6


def test_force_replaces_a_newer_version(store, catalog):
    _put(store, _example(catalog, 5))
    _put(store, _example(catalog, 3), force=True)
    assert store.scheme("a1700-ci-tou-2026").version == 3


def test_within_one_batch_the_older_is_refused_too(store, catalog):
    items = [dict(sha256=f"s{v}", name=f"v{v}.toml", kind="scheme", moved_to="", now=NOW,
                  scheme=_example(catalog, v)) for v in (5, 3)]
    with pytest.raises(StoreError):
        store.accept_inputs(items)
    assert store.scheme("a1700-ci-tou-2026") is None      # one transaction: nothing taken
    store.accept_input(**items[0])
    with pytest.raises(SchemeVersionRefused):
        store.accept_input(**items[1])


def test_a_scheme_record_from_a_worker_is_held_to_the_rule(store, catalog):
    _put(store, _example(catalog, 5))
    record = _example(catalog, 4).record()
    with pytest.raises(SchemeVersionRefused):
        _put(store, record)


# -- the outbox path -------------------------------------------------------------------

@pytest.fixture
def depot(tmp_path, catalog):
    cfg = tmp_path / "hhu-sync.toml"
    config = parse_config({"hhus": [{"id": "HHU-001", "crew": "crew-north"}]}, cfg)
    keystore = KeyStore(config.paths.keystore)
    keystore.enroll("HHU-001")
    store = SqliteStore(config.paths.database)
    proc = OutboxProcessor(config, store, catalog, keystore, wall=lambda: time.time() + 60)
    config.paths.outbox.mkdir(parents=True)
    yield proc
    store.close()


def test_the_outbox_rejects_an_older_version_with_both_named(depot):
    new = depot.outbox / "tou-v5.toml"
    new.write_bytes(_toml(5))
    assert depot.process(new).status == "accepted"
    old = depot.outbox / "tou-v3.toml"
    old.write_bytes(_toml(3))
    outcome = depot.process(old)
    assert outcome.status == "rejected"
    assert outcome.moved_to.parent == depot.config.paths.rejected
    reason = (depot.config.paths.rejected / "tou-v3.toml.reason.txt").read_text()
    assert "version 3 is older than version 5" in reason and "tou-v5.toml" in reason
    assert depot.store.scheme("a1700-ci-tou-2026").version == 5


def test_the_outbox_rejects_the_older_of_two_in_one_batch(depot):
    paths = []
    for v in (5, 3):
        path = depot.outbox / f"tou-v{v}.toml"
        path.write_bytes(_toml(v))
        paths.append(path)
    outcomes = depot.process_batch(paths)
    depot.mover.flush()
    assert [o.status for o in outcomes] == ["accepted", "rejected"]
    assert "older than version 5" in outcomes[1].detail
