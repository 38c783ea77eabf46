"""Flash store: capacity, atomic writes, survival across restarts, resumable partials."""

from __future__ import annotations

import hashlib
import json

import pytest

from hhu_firmware_sim.cli import main as sim_main
from hhu_firmware_sim.flash import FlashError, FlashFullError, FlashStore


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_capacity_is_recorded_and_reused(tmp_path):
    FlashStore(tmp_path, capacity=1000)
    assert FlashStore(tmp_path).capacity == 1000


def test_store_beyond_capacity_raises_flash_full_and_writes_nothing(tmp_path):
    store = FlashStore(tmp_path, capacity=100)
    store.store_upload("u1", b"x" * 60)
    with pytest.raises(FlashFullError, match="need 50 bytes, 40 free"):
        store.store_upload("u2", b"y" * 50)
    assert [u.upload_id for u in store.uploads()] == ["u1"]


def test_open_partial_refuses_when_missing_bytes_do_not_fit(tmp_path):
    store = FlashStore(tmp_path, capacity=100)
    with pytest.raises(FlashFullError):
        store.open_partial("b1", 101, _sha(b""))
    assert store.partials() == []


def test_used_counts_bundles_partials_and_uploads(tmp_path):
    store = FlashStore(tmp_path, capacity=10_000)
    store.store_bundle("b1", b"a" * 100)
    store.store_upload("u1", b"b" * 10)
    data = b"c" * 50
    writer = store.open_partial("b2", len(data), _sha(data))
    writer.write(0, data[:20])
    writer.close()
    assert store.used() == 130
    assert store.free() == 10_000 - 130


def test_partial_survives_restart_and_resumes_at_held(tmp_path):
    data = bytes(range(256)) * 4
    writer = FlashStore(tmp_path).open_partial("b1", len(data), _sha(data))
    writer.write(0, data[:300])
    writer.close()
    store = FlashStore(tmp_path)
    assert store.partial("b1").held == 300
    writer = store.open_partial("b1", len(data), _sha(data))
    assert writer.written == 300
    writer.write(300, data[300:])
    writer.commit()
    assert store.read_bundle("b1") == data
    assert store.partials() == []


def test_unchecked_tail_is_cut_back_after_power_loss(tmp_path):
    data = b"z" * 1000
    writer = FlashStore(tmp_path).open_partial("b1", len(data), _sha(data))
    writer.write(0, data[:400])
    writer.checkpoint()
    writer.write(400, data[400:700])
    writer.close(checkpoint=False)   # power cut: the last 300 bytes were never recorded
    store = FlashStore(tmp_path)
    assert store.partial("b1").held == 400
    assert (tmp_path / "partial" / "b1.part").stat().st_size == 400


def test_offer_with_other_digest_restarts_partial(tmp_path):
    store = FlashStore(tmp_path)
    writer = store.open_partial("b1", 10, _sha(b"0123456789"))
    writer.write(0, b"01234")
    writer.close()
    writer = store.open_partial("b1", 10, _sha(b"abcdefghij"))
    assert writer.written == 0


def test_commit_with_wrong_digest_is_refused(tmp_path):
    store = FlashStore(tmp_path)
    writer = store.open_partial("b1", 4, _sha(b"good"))
    writer.write(0, b"evil")
    with pytest.raises(FlashError, match="digest mismatch"):
        writer.commit()
    assert store.bundle("b1") is None


def test_write_must_be_contiguous(tmp_path):
    writer = FlashStore(tmp_path).open_partial("b1", 10, _sha(b"x" * 10))
    with pytest.raises(FlashError, match="write at 5"):
        writer.write(5, b"x")


def test_committed_bundle_lists_size_and_digest_after_restart(tmp_path):
    FlashStore(tmp_path).store_bundle("b1", b"hello")
    (entry,) = FlashStore(tmp_path).bundles()
    assert (entry.bundle_id, entry.size, entry.sha256) == ("b1", 5, _sha(b"hello"))


def test_stale_temp_files_are_removed_on_open(tmp_path):
    FlashStore(tmp_path)
    (tmp_path / "uploads" / ".tmp-u1.hhux").write_bytes(b"half")
    store = FlashStore(tmp_path)
    assert store.uploads() == []
    assert not (tmp_path / "uploads" / ".tmp-u1.hhux").exists()


def test_crash_between_commit_rename_and_side_file_is_repaired(tmp_path):
    store = FlashStore(tmp_path)
    store.store_bundle("b1", b"data")
    (tmp_path / "bundles" / "b1.json").unlink()
    (entry,) = FlashStore(tmp_path).bundles()
    assert entry.sha256 == _sha(b"data")


def test_upload_delete_removes_it(tmp_path):
    store = FlashStore(tmp_path)
    store.store_upload("u1", b"readings")
    store.delete_upload("u1")
    assert not store.has_upload("u1")


def test_ids_that_are_not_plain_names_are_refused(tmp_path):
    store = FlashStore(tmp_path)
    with pytest.raises(FlashError, match="invalid object id"):
        store.store_upload("../escape", b"x")


def test_cli_lists_flash_as_json(tmp_path, capsys):
    FlashStore(tmp_path, capacity=500).store_upload("u1", b"abc")
    assert sim_main(["flash", "--flash", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["capacity"] == 500
    assert info["uploads"][0]["id"] == "u1"


def test_cli_lists_flash_as_text(tmp_path, capsys):
    FlashStore(tmp_path).store_bundle("b1", b"abc")
    assert sim_main(["flash", "--flash", str(tmp_path)]) == 0
    assert "b1  3 bytes  committed" in capsys.readouterr().out
