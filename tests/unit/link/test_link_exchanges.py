"""Every exchange through a DOCK/HHU pair joined by the pump (fake clock, no sleeps)."""

from __future__ import annotations

import hashlib
import random
import zlib

import pytest
from link_pump import HHU_ID, KEY, HhuApp, Pair

from hhu_sync.link import (
    DOCK_TRANSITIONS,
    HHU_TRANSITIONS,
    NEED_DATA,
    Abort,
    Aborted,
    AcceptBundle,
    AckUpload,
    Authenticated,
    BundleCommitted,
    BundleData,
    BundleRefused,
    BundleStored,
    Close,
    Connection,
    ConnectionClosed,
    GetUpload,
    LinkSettings,
    LocalProtocolError,
    Progress,
    PutBundle,
    ReasonCode,
    RemoteProtocolError,
    Role,
    StartHandshake,
    UploadCleared,
    UploadReceived,
    UploadRefused,
    encode_frame,
)
from hhu_sync.link import messages as m


def rand(n: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(n)


def handshake(p: Pair) -> None:
    p.dock.send(StartHandshake())
    p.run(lambda: p.dock_has(Authenticated) or p.dock.state == "ERROR")
    assert p.dock.state == "READY" and p.hhu.state == "READY"


def put(p: Pair, bundle_id: str, data: bytes) -> object:
    p.dock.send(PutBundle(bundle_id, data))
    n = len(p.dock_events)
    p.run(
        lambda: any(isinstance(e, BundleStored | BundleRefused) for e in p.dock_events[n:])
        or p.dock.state == "ERROR"
    )
    return p.dock_events[-1]


def test_handshake_delivers_hello_both_sides() -> None:
    app = HhuApp(uploads={"u-1": b"readings"}, committed={"b-0": b"old"})
    p = Pair(app=app)
    handshake(p)
    (auth,) = p.dock_of(Authenticated)
    assert auth.hhu_id == HHU_ID
    assert auth.hello == app.hello()
    assert auth.hello.uploads[0].sha256 == hashlib.sha256(b"readings").digest()
    assert [type(e) for e in p.hhu_events] == [Authenticated]
    assert p.hhu_events[0].hello == app.hello()
    assert p.dock.stats.retries == 0 and p.hhu.stats.retries == 0


def test_no_key_material_on_the_wire() -> None:
    p = Pair()
    handshake(p)
    wire = b"".join(p.dock_tx)
    assert KEY not in wire and KEY[:8] not in wire


def test_put_bundle() -> None:
    p = Pair()
    handshake(p)
    data = rand(50_000)
    assert put(p, "b-1", data) == BundleStored("b-1", already_held=False)
    assert p.app.committed["b-1"] == data
    progress = p.dock_of(Progress)
    assert progress[0] == Progress("put", "b-1", 0, 50_000)
    assert progress[-1] == Progress("put", "b-1", 50_000, 50_000)
    dones = [e.done for e in progress]
    assert dones == sorted(dones)
    # data arrived contiguous, in order, no duplicates
    offs = [(e.offset, len(e.data)) for e in p.hhu_events if isinstance(e, BundleData)]
    pos = 0
    for off, n in offs:
        assert off == pos
        pos += n
    assert pos == 50_000


def test_put_empty_bundle() -> None:
    p = Pair()
    handshake(p)
    assert put(p, "empty", b"") == BundleStored("empty", already_held=False)
    assert p.app.committed["empty"] == b""


def test_put_resume_from_offset() -> None:
    data = rand(20_000)
    app = HhuApp(partials={"b-2": bytearray(data[:12_345])})
    p = Pair(app=app)
    handshake(p)
    assert put(p, "b-2", data) == BundleStored("b-2", already_held=False)
    assert app.committed["b-2"] == data
    first = next(e for e in p.hhu_events if isinstance(e, BundleData))
    assert first.offset == 12_345
    assert p.dock_of(Progress)[0].done == 12_345
    assert p.dock.stats.payload_bytes_sent <= 20_000 - 12_345 + 1


def test_put_resume_fully_held_partial() -> None:
    data = rand(3000)
    app = HhuApp(partials={"b-3": bytearray(data)})
    p = Pair(app=app)
    handshake(p)
    assert put(p, "b-3", data) == BundleStored("b-3", already_held=False)


def test_put_already_held() -> None:
    data = rand(1000)
    app = HhuApp(committed={"b-4": data})
    p = Pair(app=app)
    handshake(p)
    assert put(p, "b-4", data) == BundleStored("b-4", already_held=True)
    assert p.dock.stats.payload_bytes_sent == 0


def test_put_refused() -> None:
    app = HhuApp(refuse={"b-5": (ReasonCode.FLASH_FULL, "flash full")})
    p = Pair(app=app)
    handshake(p)
    assert put(p, "b-5", rand(1000)) == BundleRefused("b-5", "flash full", ReasonCode.FLASH_FULL)
    assert p.dock.state == "READY"


def test_put_digest_mismatch_refused_after_transfer() -> None:
    app = HhuApp(corrupt_commit=True)
    p = Pair(app=app)
    handshake(p)
    assert put(p, "b-6", rand(5000)) == BundleRefused("b-6", "digest mismatch",
                                                      ReasonCode.DIGEST_MISMATCH)
    assert "b-6" not in app.committed


def test_put_too_large_refused_by_link() -> None:
    p = Pair(hhu_settings=LinkSettings(max_object_size=1000), settings=LinkSettings())
    handshake(p)
    assert put(p, "big", rand(2000)) == BundleRefused("big", "bundle too large",
                                                      ReasonCode.TOO_LARGE)


def test_put_slow_commit_answers_busy() -> None:
    app = HhuApp(hold_verdict=True)
    p = Pair(app=app)
    handshake(p)
    p.dock.send(PutBundle("b-7", rand(4000)))
    p.run(lambda: bool(app.held_verdicts))
    for _ in range(6):  # the dock asks DONE, the HHU says BUSY, time passes
        p.step()
        p.tick()
    assert p.dock.phase == "DONE_SENT"
    assert p.dock.state == "READY"
    app.verdict(p.hhu, "b-7")
    p.run(lambda: p.dock_has(BundleStored))
    assert p.dock_events[-1] == BundleStored("b-7", already_held=False)


def test_put_slow_commit_bounded_by_idle_timeout() -> None:
    app = HhuApp(hold_verdict=True)
    p = Pair(app=app)
    handshake(p)
    p.dock.send(PutBundle("b-8", rand(4000)))
    p.run(lambda: p.dock.state == "ERROR")
    assert p.dock_events[-1].what == "answer to DONE"
    assert p.clock <= 11 + 10 * 0.5


def test_compression_negotiated_and_used_when_it_helps() -> None:
    p = Pair()
    handshake(p)
    data = b"meter 12345678 1.8.1 001846.0 kWh\n" * 2000
    assert put(p, "text", data) == BundleStored("text", already_held=False)
    assert p.dock.stats.objects_compressed == 1
    assert p.dock.stats.payload_bytes_sent < len(data) // 10
    assert p.app.committed["text"] == data


def test_compression_never_expands_random_data() -> None:
    p = Pair()
    handshake(p)
    data = rand(30_000)
    put(p, "rnd", data)
    assert p.dock.stats.objects_raw == 1 and p.dock.stats.objects_compressed == 0
    assert p.dock.stats.payload_bytes_sent == len(data) + 1


def test_compression_off_when_not_agreed() -> None:
    p = Pair(hhu_settings=LinkSettings(compression=()), settings=LinkSettings())
    handshake(p)
    data = b"A" * 10_000
    put(p, "a", data)
    assert p.dock.stats.objects_raw == 1
    assert p.app.committed["a"] == data


def get(p: Pair, upload_id: str) -> object:
    p.dock.send(GetUpload(upload_id))
    n = len(p.dock_events)
    p.run(
        lambda: any(isinstance(e, UploadReceived | UploadRefused) for e in p.dock_events[n:])
        or p.dock.state == "ERROR"
    )
    return p.dock_events[-1]


def test_get_upload_ack_cleared() -> None:
    up = rand(40_000, 3)
    app = HhuApp(uploads={"u-1": up})
    p = Pair(app=app)
    handshake(p)
    assert get(p, "u-1") == UploadReceived("u-1", up)
    assert p.dock_of(Progress)[-1] == Progress("get", "u-1", 40_000, 40_000)
    p.dock.send(AckUpload("u-1"))
    p.run(lambda: p.dock_has(UploadCleared))
    assert p.dock_events[-1] == UploadCleared("u-1")
    assert "u-1" not in app.uploads


def test_get_compressible_upload() -> None:
    up = b'{"meter": "12345678", "obis": "1.8.1"}' * 500
    app = HhuApp(uploads={"u-2": up})
    p = Pair(app=app)
    handshake(p)
    assert get(p, "u-2") == UploadReceived("u-2", up)
    assert p.hhu.stats.objects_compressed == 1


def test_get_unknown_upload_refused() -> None:
    p = Pair()
    handshake(p)
    assert get(p, "nope") == UploadRefused("nope", "no such upload", ReasonCode.UNKNOWN_OBJECT)
    assert p.dock.state == "READY"


def test_get_same_upload_again_in_new_session() -> None:
    up = rand(5000, 4)
    app = HhuApp(uploads={"u-3": up})
    for _ in range(2):  # the ack got lost: the HHU still holds it next time
        p = Pair(app=app)
        handshake(p)
        assert get(p, "u-3") == UploadReceived("u-3", up)
    p.dock.send(AckUpload("u-3"))
    p.run(lambda: p.dock_has(UploadCleared))
    assert app.uploads == {}


def test_get_upload_twice_in_one_session() -> None:
    up = rand(3000, 5)
    p = Pair(app=HhuApp(uploads={"u": up}))
    handshake(p)
    assert get(p, "u") == UploadReceived("u", up)
    assert get(p, "u") == UploadReceived("u", up)


def test_upload_digest_checked_against_hello() -> None:
    up = rand(3000, 6)
    app = HhuApp(uploads={"u": up})
    p = Pair(app=app)
    handshake(p)
    app.uploads["u"] = up[:-1] + b"!"  # flash changed after HELLO announced the digest
    assert get(p, "u") == UploadRefused("u", "digest mismatch", ReasonCode.DIGEST_MISMATCH)


def test_queued_commands_and_close() -> None:
    up = rand(2000, 8)
    app = HhuApp(uploads={"u": up})
    p = Pair(app=app)
    p.dock.send(StartHandshake())
    data = rand(7000)
    p.dock.send(PutBundle("b", data))  # queued until authenticated
    p.dock.send(GetUpload("u"))
    p.dock.send(AckUpload("u"))
    p.dock.send(Close())
    p.run(lambda: p.dock_has(ConnectionClosed))
    kinds = [type(e) for e in p.dock_events if not isinstance(e, Progress)]
    assert kinds == [Authenticated, BundleStored, UploadReceived, UploadCleared, ConnectionClosed]
    assert p.hhu_has(ConnectionClosed)
    assert p.dock.state == "CLOSED" and p.hhu.state == "CLOSED"
    assert p.dock.next_deadline() is None and p.hhu.next_deadline() is None
    with pytest.raises(LocalProtocolError):
        p.dock.send(GetUpload("u"))
    with pytest.raises(LocalProtocolError):
        p.dock.send(Close())


def test_keepalive_ping_keeps_hhu_alive() -> None:
    p = Pair()
    handshake(p)
    for _ in range(10):
        assert p.tick()
        p.run(lambda: p.dock.phase == "READY" and not p.dock._out)
    assert p.clock >= 20
    assert p.hhu.state == "READY" and p.dock.state == "READY"


def test_hhu_idle_timeout_without_dock() -> None:
    p = Pair()
    handshake(p)
    p.dock = Connection(Role.DOCK, keys=lambda h: KEY)  # the dock went away silently
    p.run(lambda: p.hhu.state == "ERROR")
    assert p.hhu_events[-1].what == "idle"


def test_abort_command_carries_reason() -> None:
    p = Pair()
    handshake(p)
    p.dock.send(Abort("operator pressed stop"))
    p.run(lambda: p.hhu.state == "ERROR")
    assert p.dock_events[-1] == Aborted("operator pressed stop", by_peer=False,
                                     code=ReasonCode.CANCELLED)
    assert p.hhu_events[-1] == Aborted("operator pressed stop", by_peer=True,
                                     code=ReasonCode.CANCELLED)
    with pytest.raises(LocalProtocolError):
        p.dock.send(PutBundle("x", b"x"))
    with pytest.raises(LocalProtocolError):
        p.hhu.send(BundleCommitted("x"))
    assert p.dock.next_event() is NEED_DATA


class Manual(HhuApp):
    """An HHU application that answers nothing by itself (the test does)."""

    def handle(self, conn, ev):
        self.log.append(ev)


def test_offset_beyond_size_is_a_remote_protocol_error() -> None:
    p = Pair(app=Manual())
    handshake(p)
    p.dock.send(PutBundle("b", rand(100)))
    p.step()
    req = p.hhu._app_req
    # a lying HHU answers the offer with an offset beyond the size
    p.dock.receive_data(encode_frame(m.Accept(req, 101).encode()))
    with pytest.raises(RemoteProtocolError, match="beyond"):
        p.dock.next_event()
    assert p.dock.state == "ERROR"
    with pytest.raises(RemoteProtocolError):
        p.dock.next_event()
    with pytest.raises(LocalProtocolError):
        p.dock.send(GetUpload("u"))
    p.hhu.receive_data(p.dock.data_to_send())  # the ABORT frame
    assert p.hhu.next_event() == Aborted(
        "protocol error: ACCEPT: offset 101 beyond the size 100", by_peer=True,
        code=ReasonCode.PROTOCOL_ERROR,
    )


def test_local_misuse() -> None:
    dock = Connection(Role.DOCK, keys=lambda h: KEY)
    hhu = Connection(Role.HHU, key=KEY, hello=HhuApp().hello())
    with pytest.raises(LocalProtocolError):
        dock.send(PutBundle("b", b"x"))  # before StartHandshake
    with pytest.raises(LocalProtocolError):
        dock.send(BundleCommitted("b"))  # an HHU command
    with pytest.raises(LocalProtocolError):
        hhu.send(StartHandshake())  # a dock command
    with pytest.raises(LocalProtocolError):
        hhu.send(AcceptBundle("b", 0))  # nothing offered
    dock.send(StartHandshake())
    with pytest.raises(LocalProtocolError):
        dock.send(StartHandshake())
    with pytest.raises(LocalProtocolError):
        Connection(Role.HHU, key=None, hello=HhuApp().hello())
    with pytest.raises(LocalProtocolError):
        Connection(Role.DOCK)
    with pytest.raises(LocalProtocolError):
        Connection(Role.DOCK, keys=lambda h: KEY, settings=LinkSettings(window=0))


def test_hhu_rejects_wrong_offset_and_id() -> None:
    p = Pair(app=Manual())
    handshake(p)
    p.dock.send(PutBundle("b", rand(100)))
    p.step()
    with pytest.raises(LocalProtocolError):
        p.hhu.send(AcceptBundle("other", 0))
    with pytest.raises(LocalProtocolError):
        p.hhu.send(AcceptBundle("b", 101))
    p.hhu.send(AcceptBundle("b", 100))
    p.run(lambda: p.hhu.phase == "RECEIVED")
    p.hhu.send(BundleCommitted("b"))
    p.run(lambda: p.dock_has(BundleStored))


def test_transition_tables_are_consistent() -> None:
    for table in (DOCK_TRANSITIONS, HHU_TRANSITIONS):
        states = {s for s, _ in table} | set(table.values())
        assert "READY" in states and "IDLE" in states
        for (_, trigger), _nxt in table.items():
            assert trigger.split(":")[0] in ("cmd", "rx", "ev")
            if trigger.startswith("rx:"):
                assert trigger[3:] in {c.NAME for c in m.BY_TYPE.values()}


def test_data_payload_adapts_and_line_rate_overhead_is_small() -> None:
    p = Pair()
    handshake(p)
    data = rand(200_000)
    put(p, "big", data)
    s = p.dock.stats
    assert s.frame_payload == 1024  # the pump tells no time: 1 KiB at most (clockless bound)
    assert s.frame_grows >= 1 and s.frame_shrinks == 0
    overhead = s.bytes_sent / len(data) - 1
    assert overhead < 0.015
    assert zlib.crc32(p.app.committed["big"]) == zlib.crc32(data)
