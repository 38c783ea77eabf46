"""A docking decides what to do with a refusal by its code, never its wording: a full
flash waits for the uploads' acknowledgements and is offered once more; a refusal no
acknowledgement can cure (a digest mismatch, say) is not offered again in this docking."""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import Future
from types import SimpleNamespace

import pytest

from hhu_sync.config import parse_config
from hhu_sync.dock.session import Outcome, Session, SessionResult, _Pulled
from hhu_sync.ingest import IngestReport
from hhu_sync.io.dock import Refused
from hhu_sync.link import ReasonCode
from hhu_sync.store import SqliteStore
from tests.unit.dock.fakes import DockedHHU
from tests.unit.store.helpers import meter_list


def _push_once_refused(tmp_path, code: ReasonCode, text: str) -> tuple[list, Session, str]:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.add_meter_list(meter_list("L1"), "2026-11-25T12:00:00+00:00")
    said: list = []

    class Link:
        async def put(self, bundle_id, data, _budget):
            said.append(("put", bundle_id))
            if len(said) == 1:
                raise Refused(bundle_id, text, code)
            return False

        async def ack(self, upload_id, _budget):
            said.append(("ack", upload_id))

    committed: Future = Future()
    committed.set_result((None, IngestReport("U-1", "HHU-001", already_held=True)))
    pending = deque([_Pulled("U-1", b"", b"k" * 32, committed)])
    packer = SimpleNamespace(ensure=lambda d, hhu: SimpleNamespace(data=b"x" * 10,
                                                                  bundle_id="B-1"))
    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}]},
                          tmp_path / "hhu-sync.toml")
    session = Session(config.docks[0], "loop://", config, store,
                      SimpleNamespace(hhu_key=lambda hhu: b"k" * 32), packer)
    try:
        session._deadline = float("inf")
        asyncio.run(session._push(Link(), "HHU-001", pending))
        state = store.list_state("L1")
    finally:
        session.decoder.close()
        store.close()
    return said, session, state


@pytest.mark.parametrize("text", ["", "kein Platz: 120 Bytes frei", "digest mismatch", "満杯"])
def test_a_full_flash_is_offered_again_after_the_acks_whatever_its_text(tmp_path, text):
    said, session, _ = _push_once_refused(tmp_path, ReasonCode.FLASH_FULL, text)
    assert said == [("put", "B-1"), ("ack", "U-1"), ("put", "B-1")]
    assert session.result.pushed == ["B-1"]


def test_a_refusal_without_a_code_from_a_version_1_hhu_is_offered_again_after_the_acks(
        tmp_path):
    """A version-1 HHU's REFUSE carries only text: the dock must not tell "no room" by
    wording. Uploads waiting for their acknowledgement are given up (each after its
    commit) and the bundle is offered once more, whatever the reason said."""
    said, session, state = _push_once_refused(tmp_path, ReasonCode.UNSPECIFIED,
                                              "kein Platz: 120 Bytes frei")
    assert said == [("put", "B-1"), ("ack", "U-1"), ("put", "B-1")]
    assert session.result.pushed == ["B-1"] and state == "on_hhu"


@pytest.mark.parametrize("code", [ReasonCode.DIGEST_MISMATCH, ReasonCode.CONFLICT,
                                  ReasonCode.TOO_LARGE, ReasonCode.INVALID_ID])
def test_a_refusal_acks_cannot_cure_is_not_offered_again_even_if_worded_flash_full(
        tmp_path, code):
    said, session, _ = _push_once_refused(tmp_path, code, "flash full")
    assert said == [("put", "B-1")]
    assert session.result.pushed == []
    assert session.result.errors == [f"HHU-001 refused it ({code.name}): flash full"]


def test_session_outcomes_are_an_enum_stored_as_the_old_strings() -> None:
    assert [o.value for o in Outcome] == ["empty", "unplugged", "idle", "done", "auth_failed",
                                          "cut", "timeout", "error"]
    assert SessionResult("dock-1").outcome == "empty"


@pytest.mark.parametrize(("over", "code"), [(True, ReasonCode.SESSION_LIMIT),
                                            (False, ReasonCode.TIMED_OUT)])
def test_a_docking_that_runs_out_of_time_tells_the_hhu_by_code(tmp_path, monkeypatch, over,
                                                                 code):
    import hhu_sync.dock.session as session_module
    from hhu_sync.io.driver import LinkTimedOut

    store = SqliteStore(tmp_path / "db.sqlite")
    told: list = []
    holder: list = []

    class Link(DockedHHU):
        UPLOADS = ("U",)


        async def get(self, upload_id, _budget):
            if over:                       # the session's own limit has passed
                holder[0]._deadline = float("-inf")
            raise LinkTimedOut("no answer")

        def give_up(self, reason, why):
            told.append(why)

    monkeypatch.setattr(session_module, "open_port", lambda *a, **k: SimpleNamespace(
        close=lambda: None))
    monkeypatch.setattr(session_module, "DockSession", Link)
    config = parse_config({"docks": [{"name": "dock-1", "port": "loop://"}]},
                          tmp_path / "hhu-sync.toml")
    session = Session(config.docks[0], "loop://", config, store,
                      SimpleNamespace(hhu_key=lambda hhu: b"k" * 32), None)
    holder.append(session)
    try:
        assert asyncio.run(session.run()).outcome is Outcome.TIMEOUT
        assert told == [code]
    finally:
        session.decoder.close()
        store.close()
