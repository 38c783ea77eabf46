"""The dock tells an HHU that cannot take a version-2 HELLO (a version-1-only firmware)
from every other handshake abort, by the frame's layout, its code and the phase alone;
the settings bound the versions each side offers and accepts (docs/link-protocol.md 4)."""

from __future__ import annotations

import pytest
from link_pump import HHU_ID, KEY, HhuApp, seeded

from hhu_sync.link import (
    Connection,
    LinkSettings,
    LocalProtocolError,
    ReasonCode,
    Role,
    StartHandshake,
)
from hhu_sync.link import messages as m
from hhu_sync.link.framing import FrameDecoder, encode_frame


def _dock(**settings: int) -> Connection:
    dock = Connection(Role.DOCK, keys=lambda h: KEY, random=seeded(6),
                      settings=LinkSettings(**settings))
    dock.send(StartHandshake())
    return dock


def _bodies(conn: Connection) -> list[m.Message]:
    return [m.parse_body(b) for b in FrameDecoder().feed(conn.data_to_send())]


@pytest.mark.parametrize("abort", [
    b"\x7funsupported protocol version 2",        # version-1 layout: text, no code
    b"\x7f",                                       # version-1 layout, empty text
    m.AbortMsg(ReasonCode.VERSION_UNSUPPORTED, "").encode(2),
])
def test_an_abort_of_the_hello_without_a_code_or_as_unsupported_is_a_rejected_version(
        abort: bytes) -> None:
    dock = _dock()
    dock.receive_data(encode_frame(abort))
    assert dock.next_event().by_peer and dock.hello_rejected


@pytest.mark.parametrize("code", [c for c in ReasonCode
                                  if c not in (ReasonCode.VERSION_UNSUPPORTED,)])
def test_an_abort_of_the_hello_with_any_other_code_is_not(code: ReasonCode) -> None:
    dock = _dock()
    dock.receive_data(encode_frame(m.AbortMsg(code, "unsupported protocol version 2")
                                   .encode(2)))
    dock.next_event()
    assert not dock.hello_rejected


def test_a_code_less_abort_after_the_challenge_is_not_a_rejected_version() -> None:
    dock = _dock()
    dock.receive_data(encode_frame(m.Challenge(1, 1, bytes(16), HHU_ID).encode()))
    dock.data_to_send()
    dock.receive_data(encode_frame(b"\x7fauthentication failed"))
    dock.next_event()
    assert not dock.hello_rejected


def test_a_dock_that_offered_version_1_has_nothing_to_fall_back_to() -> None:
    dock = _dock(max_version=1)
    (hello,) = _bodies(dock)
    assert hello.version == 1 and dock.version == 1
    dock.receive_data(encode_frame(b"\x7funsupported protocol version 1"))
    dock.next_event()
    assert not dock.hello_rejected


def test_a_dock_with_min_version_2_aborts_a_version_1_challenge_naming_the_version() -> None:
    dock = _dock(min_version=2)
    dock.data_to_send()
    dock.receive_data(encode_frame(m.Challenge(1, 1, bytes(16), HHU_ID).encode()))
    (abort,) = _bodies(dock)
    assert abort == m.AbortMsg(ReasonCode.VERSION_UNSUPPORTED, "unsupported protocol version 1")
    assert dock.next_event().code is ReasonCode.VERSION_UNSUPPORTED
    assert not dock.hello_rejected


def test_an_hhu_answers_with_at_most_its_own_max_version_in_that_layout() -> None:
    hhu = Connection(Role.HHU, key=KEY, hello=HhuApp().hello(), random=seeded(5),
                     settings=LinkSettings(max_version=1))
    hhu.receive_data(encode_frame(m.Hello(1, 2, bytes(16), 32, 8192, ()).encode()))
    (challenge,) = _bodies(hhu)
    assert challenge.version == 1 and hhu.version == 1


@pytest.mark.parametrize(("low", "high"), [(0, 1), (1, 3), (2, 1), (3, 3)])
def test_versions_outside_what_the_link_speaks_are_refused(low: int, high: int) -> None:
    with pytest.raises(LocalProtocolError, match="min_version"):
        Connection(Role.DOCK, keys=lambda h: KEY,
                   settings=LinkSettings(min_version=low, max_version=high))
