"""Issue 15 point 5: a depot refuses a readings upload version it does not read, with the
reason as a code, and never acknowledges it, so the HHU keeps it for a depot that does."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from hhu_firmware_sim.flash import FlashStore
from hhu_sync.config import parse_config
from hhu_sync.dock.readings import UploadDecoder, ingest_upload_bytes
from hhu_sync.dock.session import Session
from hhu_sync.ingest.upload import UPLOAD_VERSION, RefusalReason, UploadRefused
from hhu_sync.link import UploadInfo
from hhu_sync.profile.series import Channel, ChannelSeries, Run
from hhu_sync.profile.wire import encode_profile
from hhu_sync.store import SqliteStore
from hhu_sync.transfer import encode_transfer

KEY = b"k" * 32
T = "2026-11-25T10:00:00+00:00"
SERIES = ChannelSeries(Channel("1.8.0", "kWh"), 1800, -3,
                       (Run(1_764_064_800, (100, 110), (0, 0)),))


def readings(version: int, upload_id: str = "U-1") -> bytes:
    visit = {"meter": "M1", "list": "", "time": T, "outcome": "done",
             "registers": [["1.8.1", "1.0", "kWh", T]]}
    if version >= 2:
        visit["profiles"] = [encode_profile(SERIES, min(version, 3))]
    return encode_transfer("readings", {"version": version, "visits": [visit]},
                           source="HHU-001", target="depot", key=KEY, bundle_id=upload_id)


class HHU:
    """The HHU's side as the session meets it: uploads served from its flash, deleted
    only when the depot acknowledges one."""

    def __init__(self, flash: FlashStore) -> None:
        self.flash = flash

    async def get(self, upload_id, _budget):
        return self.flash.read_upload(upload_id)

    async def ack(self, upload_id, _budget):
        self.flash.delete_upload(upload_id)


def dock(tmp_path, flash: FlashStore, max_upload_version: int):
    """One docking's pull and acknowledgements, by a depot reading up to that version."""
    store = SqliteStore(tmp_path / "db.sqlite")
    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}]},
                          tmp_path / "hhu-sync.toml")
    decoder = UploadDecoder(inline=True, max_upload_version=max_upload_version)
    session = Session(config.docks[0], "loop://", config, store,
                      SimpleNamespace(hhu_key=lambda hhu: KEY), SimpleNamespace(),
                      decoder=decoder)
    hhu = HHU(flash)
    hello = SimpleNamespace(uploads=[UploadInfo(u.upload_id, u.size, bytes(32))
                                     for u in flash.uploads()])

    async def run():
        session._deadline = float("inf")
        for pulled in await session._pull(hhu, "HHU-001", hello):
            await session._acknowledge(hhu, "HHU-001", pulled)

    try:
        asyncio.run(run())
        return session.result
    finally:
        decoder.close()
        store.close()


@pytest.fixture
def flash(tmp_path):
    f = FlashStore(tmp_path / "flash")
    f.store_upload("U-1", readings(2))
    return f


def test_a_depot_that_reads_only_version_1_refuses_a_version_2_upload_and_the_hhu_keeps_it(
        tmp_path, flash):
    result = dock(tmp_path / "old", flash, max_upload_version=1)
    assert result.refused == {"U-1": RefusalReason.VERSION_UNSUPPORTED.value}
    assert result.pulled == [] and flash.has_upload("U-1")
    assert "upload version 2 is not one this depot reads (1 to 1)" in result.errors[0]


def test_the_kept_upload_is_taken_by_a_depot_that_reads_version_2(tmp_path, flash):
    dock(tmp_path / "old", flash, max_upload_version=1)
    result = dock(tmp_path / "new", flash, max_upload_version=2)
    assert result.pulled == ["U-1"] and not flash.has_upload("U-1")
    assert result.reports[0]["intervals_stored"] == 2


def test_a_depot_that_reads_only_version_2_refuses_a_version_3_upload_and_the_hhu_keeps_it(
        tmp_path):
    flash = FlashStore(tmp_path / "flash")
    flash.store_upload("U-3", readings(3, "U-3"))
    result = dock(tmp_path / "old", flash, max_upload_version=2)
    assert result.refused == {"U-3": "version_unsupported"} and flash.has_upload("U-3")
    assert result.pulled == []
    assert "upload version 3 is not one this depot reads (1 to 2)" in result.errors[0]
    result = dock(tmp_path / "new", flash, max_upload_version=3)
    assert result.pulled == ["U-3"] and not flash.has_upload("U-3")
    assert result.reports[0]["intervals_stored"] == 2


def test_an_unknown_version_4_is_refused_and_kept(tmp_path):
    flash = FlashStore(tmp_path / "flash")
    flash.store_upload("U-4", readings(4, "U-4"))
    result = dock(tmp_path, flash, max_upload_version=UPLOAD_VERSION)
    assert UPLOAD_VERSION == 3
    assert result.refused == {"U-4": "version_unsupported"} and flash.has_upload("U-4")


@pytest.mark.parametrize("version", [0, "2", None, 2.0])
def test_a_version_that_is_no_version_number_is_refused_by_code(tmp_path, version):
    data = encode_transfer("readings", {"version": version, "visits": []}, source="HHU-001",
                           target="depot", key=KEY, bundle_id="U-1")
    store = SqliteStore(tmp_path / "db.sqlite")
    try:
        with pytest.raises(UploadRefused) as caught:
            ingest_upload_bytes(store, data, hhu_id="HHU-001", hhu_key=KEY, upload_id="U-1")
        assert caught.value.reason is RefusalReason.VERSION_UNSUPPORTED
        assert not store.upload_held("U-1")
    finally:
        store.close()


def test_a_refusal_crosses_from_a_check_worker_with_its_code():
    import pickle
    refused = UploadRefused("no", reason=RefusalReason.VERSION_UNSUPPORTED)
    back = pickle.loads(pickle.dumps(refused))
    assert (str(back), back.reason) == ("no", RefusalReason.VERSION_UNSUPPORTED)


def test_a_checked_version_2_upload_crosses_from_a_check_worker_whole():
    import pickle

    from hhu_sync.dock.readings import check_upload
    upload = check_upload(readings(2), hhu_id="HHU-001", hhu_key=KEY, upload_id="U-1")
    back = pickle.loads(pickle.dumps(upload))
    assert (back.version, back.profiles, back.events) == (2, [(0, SERIES)], [])
