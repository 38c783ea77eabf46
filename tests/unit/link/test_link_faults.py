"""Fault matrix through the pump: cuts + resume, bit errors, lost/duplicated acks, bad keys,
unknown HHU, replayed transcripts, silent peers."""

from __future__ import annotations

import random

import pytest
from link_pump import HHU_ID, KEY, BitErrors, HhuApp, Pair, seeded

from hhu_sync.link import (
    NEED_DATA,
    Aborted,
    Authenticated,
    BundleRefused,
    BundleStored,
    Connection,
    GetUpload,
    LinkSettings,
    PutBundle,
    ReasonCode,
    Role,
    StartHandshake,
    TimedOut,
    UploadReceived,
)

DATA = random.Random(99).randbytes(60_000)


def finished(p: Pair) -> bool:
    return p.dock_has(BundleStored) or p.dock_has(BundleRefused) or p.dock.state == "ERROR"


@pytest.mark.parametrize("cut_seed", range(10))
def test_cut_then_new_session_resumes(cut_seed: int) -> None:
    app = HhuApp()
    rng = random.Random(cut_seed)
    sessions = 0
    while True:
        sessions += 1
        assert sessions < 20
        p = Pair(app=app, seed=sessions * 10 + cut_seed, chunk=300, rng_seed=cut_seed)
        if sessions == 1:
            p.cut_at = rng.randrange(1, len(DATA))
        p.dock.send(StartHandshake())
        p.dock.send(PutBundle("b", DATA))
        p.run(lambda p=p: finished(p))
        if p.cut:
            assert p.dock_events[-1] == Aborted(
                "connection lost (end of stream)", by_peer=False,
                code=ReasonCode.CONNECTION_LOST)
            assert p.hhu.state == "ERROR"
            continue
        assert p.dock_events[-1] == BundleStored("b", already_held=False)
        break
    assert app.committed["b"] == DATA
    first = p.hhu_events[1]  # BundleOffered, then (maybe) data from the held offset
    assert first.bundle_id == "b"
    # the second session only sent what the HHU did not hold yet
    assert p.dock.stats.payload_bytes_sent <= len(DATA) + 1


def test_cut_during_upload_then_get_again() -> None:
    up = random.Random(5).randbytes(30_000)
    app = HhuApp(uploads={"u": up})
    p = Pair(app=app)
    p.dock.send(StartHandshake())
    p.run(lambda: p.dock_has(Authenticated))
    p.dock.send(GetUpload("u"))
    p.run(lambda: p.dock.stats.bytes_received > 10_000)
    p.do_cut()
    assert p.dock.state == "ERROR" and p.hhu.state == "ERROR"
    p = Pair(app=app, seed=3)
    p.dock.send(StartHandshake())
    p.dock.send(GetUpload("u"))
    p.run(lambda: p.dock_has(UploadReceived))
    assert p.dock_events[-1] == UploadReceived("u", up)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ber_1e4_both_ways_delivers_exact_bytes(seed: int) -> None:
    rng = random.Random(seed)
    flip_d, flip_h = BitErrors(1e-4, rng), BitErrors(1e-4, rng)
    up = rng.randbytes(40_000)
    app = HhuApp(uploads={"u": up})
    p = Pair(app=app, to_hhu=flip_d, to_dock=flip_h, seed=seed, chunk=64, rng_seed=seed)
    p.dock.send(StartHandshake())
    p.dock.send(PutBundle("b", DATA))
    p.dock.send(GetUpload("u"))
    p.run(lambda: p.dock_has(UploadReceived) or p.dock.state == "ERROR")
    assert p.dock.state == "READY", p.dock_events[-1]
    assert app.committed["b"] == DATA
    assert p.dock_events[-1] == UploadReceived("u", up)
    assert flip_d.flips > 10 and flip_h.flips > 3
    d, h = p.dock.stats, p.hhu.stats
    assert h.crc_errors + h.framing_errors > 0
    assert d.retries > 0 and d.fast_retransmits > 0
    assert d.frame_shrinks > 0  # the payload size adapted to the bad line


def drop_some_acks(pattern: str):
    """Lose or duplicate HHU->dock traffic (acks) by chunk, cycling through ``pattern``:
    '.' pass, 'x' drop, 'd' duplicate."""
    state = {"i": 0}

    def hook(data: bytes) -> bytes:
        c = pattern[state["i"] % len(pattern)]
        state["i"] += 1
        if c == "x":
            return b""
        if c == "d":
            return data + data
        return data

    return hook


@pytest.mark.parametrize("pattern", ["..x", ".x.xx", "d.", "dxd.x"])
def test_lost_and_duplicated_acks(pattern: str) -> None:
    up = random.Random(11).randbytes(20_000)
    app = HhuApp(uploads={"u": up})
    p = Pair(app=app, to_dock=drop_some_acks(pattern), to_hhu=drop_some_acks("...d"))
    p.dock.send(StartHandshake())
    p.dock.send(PutBundle("b", DATA))
    p.dock.send(GetUpload("u"))
    p.run(lambda: p.dock_has(UploadReceived) or p.dock.state == "ERROR")
    assert p.dock.state == "READY", p.dock_events[-1]
    assert app.committed["b"] == DATA
    assert p.dock_events[-1] == UploadReceived("u", up)
    if "x" in pattern:
        assert p.dock.stats.retries > 0


def test_wrong_key_both_sides_abort() -> None:
    p = Pair(hhu_key=b"\x01" * 32)
    p.dock.send(StartHandshake())
    p.run(lambda: p.dock.state == "ERROR")
    assert p.hhu_events == [Aborted("authentication failed", by_peer=False,
                                     code=ReasonCode.AUTH_FAILED)]
    assert p.dock_events == [Aborted("authentication failed", by_peer=True,
                                     code=ReasonCode.AUTH_FAILED)]
    assert p.app.hello().firmware.encode() not in b"".join(p.dock_tx)


def test_hello_info_not_sent_to_an_unauthenticated_dock() -> None:
    app = HhuApp(uploads={"secret-upload": b"x"})
    hhu = Connection(Role.HHU, key=KEY, hello=app.hello(), random=seeded(1))
    rogue = Connection(Role.DOCK, keys=lambda h: b"\x02" * 32, random=seeded(2))
    rogue.send(StartHandshake())
    wire = b""
    for _ in range(4):
        hhu.receive_data(rogue.data_to_send())
        out = hhu.data_to_send()
        wire += out
        rogue.receive_data(out)
    assert hhu.state == "ERROR"
    assert b"secret-upload" not in wire and b"fw-2.1.0" not in wire


def test_unknown_hhu_refused_by_dock() -> None:
    p = Pair(keys=lambda hid: None)
    p.dock.send(StartHandshake())
    p.run(lambda: p.hhu.state == "ERROR")
    reason = f"unknown HHU {HHU_ID!r}"
    assert p.dock_events == [Aborted(reason, by_peer=False, code=ReasonCode.NOT_ENROLLED)]
    assert p.hhu_events == [Aborted(reason, by_peer=True, code=ReasonCode.NOT_ENROLLED)]


def test_replayed_dock_transcript_fails_against_fresh_hhu() -> None:
    p = Pair()
    p.dock.send(StartHandshake())
    p.dock.send(PutBundle("b", DATA[:5000]))
    p.run(lambda: p.dock_has(BundleStored))
    recording = b"".join(p.dock_tx)
    app = HhuApp()
    fresh = Connection(Role.HHU, key=KEY, hello=app.hello(), random=seeded(777))
    events = []
    fresh.receive_data(recording)
    while (ev := fresh.next_event()) is not NEED_DATA:
        events.append(ev)
    assert events == [Aborted("authentication failed", by_peer=False,
                              code=ReasonCode.AUTH_FAILED)]
    assert "b" not in app.committed


def test_replayed_hhu_transcript_fails_against_fresh_dock() -> None:
    hhu_tx: list[bytes] = []
    p = Pair()
    p.to_dock = lambda d: (hhu_tx.append(d), d)[1]
    p.dock.send(StartHandshake())
    p.run(lambda: p.dock_has(Authenticated))
    dock = Connection(Role.DOCK, keys=lambda h: KEY, random=seeded(4242))
    dock.send(StartHandshake())
    dock.data_to_send()
    dock.receive_data(b"".join(hhu_tx))  # the old CHALLENGE: answered with an AUTH...
    dock.receive_data(b"".join(hhu_tx))  # ...and the old WELCOME does not prove the key
    evs = []
    while (ev := dock.next_event()) is not NEED_DATA:
        evs.append(ev)
    assert not any(isinstance(e, Authenticated) for e in evs)


def test_silent_hhu_times_out_after_bounded_retries() -> None:
    s = LinkSettings(retry_limit=3, ack_timeout=0.5)
    p = Pair(settings=s, to_hhu=lambda d: b"")
    p.dock.send(StartHandshake())
    p.run(lambda: p.dock.state == "ERROR")
    assert p.dock_events == [TimedOut("answer to HELLO")]
    assert p.dock.stats.retries == 3
    assert p.clock == pytest.approx(0.5 * 4)


def test_sender_times_out_when_acks_never_come() -> None:
    s = LinkSettings(retry_limit=2)
    state = {"block": False}
    p = Pair(settings=s, to_dock=lambda d: b"" if state["block"] else d)
    p.dock.send(StartHandshake())
    p.run(lambda: p.dock_has(Authenticated))
    state["block"] = True
    p.dock.send(PutBundle("b", DATA))
    p.run(lambda: p.dock.state == "ERROR")
    ev = p.dock_events[-1]
    assert isinstance(ev, TimedOut)
    assert p.hhu.state == "ERROR"  # the HHU heard the ABORT (or timed out itself)


def test_garbage_before_and_between_frames() -> None:
    rng = random.Random(3)

    def noisy(data: bytes) -> bytes:
        return rng.randbytes(rng.randrange(0, 40)) + data

    p = Pair(to_hhu=noisy, to_dock=noisy)
    p.dock.send(StartHandshake())
    p.dock.send(PutBundle("b", DATA[:20_000]))
    p.run(lambda: finished(p))
    assert p.dock_events[-1] == BundleStored("b", already_held=False)
    assert p.app.committed["b"] == DATA[:20_000]
