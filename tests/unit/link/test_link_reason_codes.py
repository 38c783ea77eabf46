"""REFUSE and ABORT carry a reason code; the receiver decides by it, the text is for people.

Version 2 of the wire puts one code byte (< 0x20) before the text; a version-1 peer sends
text only, decoded as UNSPECIFIED; a code this side does not know is UNSPECIFIED too.
"""

from __future__ import annotations

import logging

import pytest
from link_pump import HHU_ID, KEY, HhuApp, Pair, seeded

from hhu_sync.link import (
    NEED_DATA,
    Aborted,
    Authenticated,
    BundleRefused,
    Connection,
    FrameDecoder,
    LinkSettings,
    Phase,
    PutBundle,
    ReasonCode,
    Role,
    StartHandshake,
    State,
    TimedOut,
    encode_frame,
)
from hhu_sync.link import messages as m

TEXTS = ["flash full", "", "kein Platz mehr: 120 Bytes frei", "満杯", "\x01 starts like a code"]


def every_reason_frame() -> list[m.Message]:
    out: list[m.Message] = []
    for code in ReasonCode:
        for text in TEXTS:
            out += [m.Refuse(7, code, text), m.AbortMsg(code, text)]
    return out


def test_every_code_round_trips_through_the_codec() -> None:
    for msg in every_reason_frame():
        assert m.parse_body(msg.encode()) == msg


def test_every_code_round_trips_whole_byte_by_byte_and_with_junk_around() -> None:
    msgs = every_reason_frame()
    wire = b"".join(encode_frame(msg.encode()) for msg in msgs)
    whole = [m.parse_body(b) for b in FrameDecoder().feed(wire)]
    assert whole == msgs
    d = FrameDecoder()
    one_by_one = []
    for i in range(len(wire)):
        one_by_one += d.feed(wire[i : i + 1])
    assert [m.parse_body(b) for b in one_by_one] == msgs
    junk = b"\x13\x37garbage\xff\xfe"
    d = FrameDecoder()
    got = d.feed(junk + b"\x00" + wire[: len(wire) // 3])
    got += d.feed(wire[len(wire) // 3 :] + junk + b"\x00")
    assert [m.parse_body(b) for b in got] == msgs
    assert d.crc_errors + d.framing_errors == 2   # the junk before and after


def test_the_code_is_one_byte_after_the_request_id_and_before_the_text() -> None:
    assert m.Refuse(3, ReasonCode.FLASH_FULL, "ab").encode() == b"\x13\x03\x01ab"
    assert m.AbortMsg(ReasonCode.AUTH_FAILED, "x").encode() == b"\x7f\x0ex"


@pytest.mark.parametrize("text", ["flash full", "retry limit exceeded", ""])
def test_a_version_1_frame_without_a_code_decodes_as_unspecified(text: str) -> None:
    raw = text.encode()
    assert m.parse_body(b"\x13\x03" + raw) == m.Refuse(3, ReasonCode.UNSPECIFIED, text)
    assert m.parse_body(b"\x7f" + raw) == m.AbortMsg(ReasonCode.UNSPECIFIED, text)


def test_an_unknown_code_is_unspecified_logged_and_keeps_its_text(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="hhu_sync.link.reasons"):
        msg = m.parse_body(b"\x13\x03\x1fnew reason")
    assert msg == m.Refuse(3, ReasonCode.UNSPECIFIED, "new reason")
    assert "unknown reason code 31" in caplog.text


def test_an_unknown_code_from_the_hhu_reaches_the_dock_as_unspecified() -> None:
    p = Pair()
    p.dock.send(StartHandshake())
    p.run(lambda: any(isinstance(e, Authenticated) for e in p.dock_events))
    p.dock.receive_data(encode_frame(b"\x7f\x1dsomething new"))
    assert p.dock.next_event() == Aborted("something new", by_peer=True,
                                          code=ReasonCode.UNSPECIFIED)
    assert p.dock.state == State.ERROR


def test_version_1_layout_leaves_the_code_out_and_codes_must_fit_below_0x20() -> None:
    assert m.Refuse(3, ReasonCode.FLASH_FULL, "ab").encode(version=1) == b"\x13\x03ab"
    assert m.AbortMsg(ReasonCode.AUTH_FAILED, "x").encode(version=1) == b"\x7fx"
    with pytest.raises(ValueError, match="reason code 32"):
        m.AbortMsg(32, "x").encode()  # type: ignore[arg-type]


@pytest.mark.parametrize("text", TEXTS)
def test_a_refusal_reaches_the_dock_with_its_code_whatever_its_text(text: str) -> None:
    p = Pair(app=HhuApp(refuse={"b": (ReasonCode.FLASH_FULL, text)}))
    p.dock.send(StartHandshake())
    p.dock.send(PutBundle("b", b"x" * 100))
    p.run(lambda: any(isinstance(e, BundleRefused) for e in p.dock_events))
    assert p.dock_events[-1] == BundleRefused("b", text, ReasonCode.FLASH_FULL)


def _hhu() -> Connection:
    return Connection(Role.HHU, key=KEY, hello=HhuApp().hello(), random=seeded(5))


def _bodies(conn: Connection) -> list[m.Message]:
    return [m.parse_body(b) for b in FrameDecoder().feed(conn.data_to_send())]


def test_the_hhu_answers_a_version_1_dock_in_version_1_and_sends_it_no_codes() -> None:
    hhu = _hhu()
    hhu.receive_data(encode_frame(m.Hello(1, 1, bytes(16), 32, 8192, ("zlib",)).encode()))
    (challenge,) = _bodies(hhu)
    assert isinstance(challenge, m.Challenge) and challenge.version == 1 and hhu.version == 1
    hhu.receive_data(encode_frame(m.Ping(2).encode()))          # before AUTH: refused
    assert FrameDecoder().feed(hhu.data_to_send()) == [b"\x7fnot authenticated"]
    assert hhu.next_event() == Aborted("not authenticated", by_peer=False,
                                       code=ReasonCode.NOT_AUTHENTICATED)


def test_the_hhu_answers_a_newer_dock_with_its_own_version() -> None:
    hhu = _hhu()
    hhu.receive_data(encode_frame(m.Hello(1, 9, bytes(16), 32, 8192, ()).encode()))
    (challenge,) = _bodies(hhu)
    assert challenge.version == m.PROTOCOL_VERSION == 2


def test_a_hello_of_version_0_is_aborted_as_unsupported() -> None:
    hhu = _hhu()
    hhu.receive_data(encode_frame(m.Hello(1, 0, bytes(16), 32, 8192, ()).encode()))
    assert hhu.next_event().code is ReasonCode.VERSION_UNSUPPORTED


def _dock_after_hello() -> Connection:
    dock = Connection(Role.DOCK, keys=lambda h: KEY, random=seeded(6))
    dock.send(StartHandshake())
    (hello,) = _bodies(dock)
    assert hello.version == 2
    return dock


def test_the_dock_speaks_version_1_to_a_version_1_hhu() -> None:
    dock = _dock_after_hello()
    dock.receive_data(encode_frame(m.Challenge(1, 1, bytes(16), HHU_ID).encode()))
    (auth,) = _bodies(dock)
    assert isinstance(auth, m.Auth) and dock.version == 1


def test_the_dock_aborts_a_challenge_of_a_version_it_did_not_offer() -> None:
    dock = _dock_after_hello()
    dock.receive_data(encode_frame(m.Challenge(1, 3, bytes(16), HHU_ID).encode()))
    (abort,) = _bodies(dock)
    assert abort == m.AbortMsg(ReasonCode.VERSION_UNSUPPORTED, "unsupported protocol version 3")
    assert dock.next_event().code is ReasonCode.VERSION_UNSUPPORTED


def test_an_idle_hhu_aborts_with_idle_timeout_and_the_dock_sees_that_code() -> None:
    p = Pair(settings=LinkSettings(idle_timeout=2.0))
    p.dock.send(StartHandshake())
    p.run(lambda: any(isinstance(e, Authenticated) for e in p.dock_events))
    for _ in range(100):                 # the dock falls silent: only the HHU's timers run
        if p.hhu.state == "ERROR":
            break
        p.hhu.handle_timeout()
    assert p.hhu.next_event() == TimedOut("idle", ReasonCode.IDLE_TIMEOUT)
    while p.dock.next_event() is not NEED_DATA:
        pass
    p.dock.receive_data(p.hhu.data_to_send())
    assert p.dock.next_event().code is ReasonCode.IDLE_TIMEOUT


def test_phases_and_states_are_enums_equal_to_their_old_strings() -> None:
    dock = Connection(Role.DOCK, keys=lambda h: KEY)
    assert dock.phase is Phase.IDLE and dock.phase == "IDLE"
    assert dock.state is State.IDLE and f"{dock.state}" == "IDLE"


def test_unacknowledged_data_ends_with_retry_limit_on_both_sides() -> None:
    """SACKs never arrive: the dock's sender gives up with RETRY_LIMIT, and says so."""
    decoder = FrameDecoder()

    def drop_sacks(data: bytes) -> bytes:
        kept = [b for b in decoder.feed(data) if b[0] != m.T_SACK]
        return b"".join(encode_frame(b) for b in kept)

    p = Pair(settings=LinkSettings(retry_limit=2), to_dock=drop_sacks)
    p.dock.send(StartHandshake())
    p.dock.send(PutBundle("b", bytes(range(256)) * 40))
    p.run(lambda: p.dock.state == "ERROR")
    assert p.dock_events[-1].code is ReasonCode.RETRY_LIMIT
    assert isinstance(p.dock_events[-1], TimedOut | Aborted)
    p.run(lambda: p.hhu.state == "ERROR")
    assert p.hhu_events[-1] == Aborted(p.hhu_events[-1].reason, by_peer=True,
                                       code=ReasonCode.RETRY_LIMIT)


def test_a_version_downgraded_on_the_line_fails_authentication() -> None:
    """A CHALLENGE rewritten to version 1 (to strip the codes) is in the dock's proof."""
    decoder = FrameDecoder()

    def downgrade(data: bytes) -> bytes:
        out = b""
        for body in decoder.feed(data):
            if body[0] == m.T_CHALLENGE:
                body = body[:2] + b"\x01" + body[3:]
            out += encode_frame(body)
        return out

    p = Pair(to_dock=downgrade)
    p.dock.send(StartHandshake())
    p.run(lambda: p.hhu.state == "ERROR" and p.dock.state == "ERROR")
    assert p.dock.version == 1
    assert p.hhu_events == [Aborted("authentication failed", by_peer=False,
                                    code=ReasonCode.AUTH_FAILED)]
    assert not any(isinstance(e, Authenticated) for e in p.dock_events)


def test_an_hhu_that_stays_busy_is_given_up_with_busy_limit() -> None:
    p = Pair(app=HhuApp(hold_verdict=True))
    p.dock.send(StartHandshake())
    p.dock.send(PutBundle("b", b"x" * 4000))
    p.run(lambda: p.dock.state == "ERROR")
    assert p.dock_events[-1] == TimedOut("answer to DONE", ReasonCode.BUSY_LIMIT)
    p.run(lambda: p.hhu.state == "ERROR")
    assert p.hhu_events[-1].code is ReasonCode.BUSY_LIMIT


def test_every_phase_of_the_transition_tables_is_a_phase() -> None:
    from hhu_sync.link import DOCK_TRANSITIONS, HHU_TRANSITIONS

    for table in (DOCK_TRANSITIONS, HHU_TRANSITIONS):
        for (phase, _trigger), nxt in table.items():
            assert Phase(phase) and Phase(nxt)
