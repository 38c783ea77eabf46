"""A pulled upload is stored only if its own HHU sealed it, as readings, under its id."""

from __future__ import annotations

import pytest

from hhu_sync.dock.readings import UploadRefused, ingest_upload_bytes
from hhu_sync.store import SqliteStore
from hhu_sync.transfer import encode_transfer

KEY = b"k" * 32
T = "2026-11-25T10:00:00+00:00"
PAYLOAD = {"visits": [{"meter": "M1", "list": "", "time": T, "outcome": "done",
                       "registers": [["1.8.1", "1.0", "kWh", T]]}]}


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "db.sqlite")
    yield s
    s.close()


def upload(kind="readings", source="HHU-001", key=KEY, bundle_id="U-1") -> bytes:
    return encode_transfer(kind, PAYLOAD, source=source, target="depot", key=key,
                           bundle_id=bundle_id)


def ingest(store, data, upload_id="U-1"):
    return ingest_upload_bytes(store, data, hhu_id="HHU-001", hhu_key=KEY,
                               upload_id=upload_id)


def test_a_genuine_upload_is_stored(store):
    report, _ = ingest(store, upload())
    assert report.readings_stored == 1


def test_an_upload_sealed_with_another_key_is_refused(store):
    with pytest.raises(UploadRefused, match="seal does not match"):
        ingest(store, upload(key=b"x" * 32))
    assert not store.upload_held("U-1")


def test_an_upload_made_by_another_hhu_is_refused(store):
    with pytest.raises(UploadRefused, match="made by HHU-002, not by HHU-001"):
        ingest(store, upload(source="HHU-002"))


def test_a_bundle_offered_as_readings_is_refused(store):
    with pytest.raises(UploadRefused, match="is a quick_send, not readings"):
        ingest(store, upload(kind="quick_send"))


def test_an_upload_offered_under_another_id_is_refused(store):
    with pytest.raises(UploadRefused, match="carries bundle id U-2"):
        ingest(store, upload(bundle_id="U-2"))
