"""Both protocol cores share one NEED_DATA and one error pair (issue 13, point 1)."""

from __future__ import annotations

import pytest

from hhu_sync import iec62056, link, sansio
from hhu_sync.iec62056 import ClientConnection, SignOnRequest
from hhu_sync.link import Connection, Role


def test_both_cores_return_the_one_need_data() -> None:
    assert link.NEED_DATA is sansio.NEED_DATA
    assert iec62056.NEED_DATA is sansio.NEED_DATA
    assert ClientConnection().next_event() is sansio.NEED_DATA
    dock = Connection(Role.DOCK, keys=lambda _hhu: None)
    assert dock.next_event() is sansio.NEED_DATA


def test_the_error_pair_is_shared_and_old_names_still_catch() -> None:
    for core in (link, iec62056):
        assert issubclass(core.LocalProtocolError, sansio.LocalProtocolError)
        assert issubclass(core.RemoteProtocolError, sansio.RemoteProtocolError)
    assert issubclass(link.RemoteProtocolError, link.LinkError)
    assert issubclass(iec62056.RemoteProtocolError, iec62056.Iec62056Error)


def test_a_driver_catches_either_core_s_misuse_by_the_shared_class() -> None:
    with pytest.raises(sansio.LocalProtocolError):
        Connection("dock", keys=lambda _hhu: None)  # type: ignore[arg-type]
    with pytest.raises(sansio.LocalProtocolError):
        ClientConnection().send(object())


def test_iec_errors_keep_their_byte_offset() -> None:
    exc = iec62056.RemoteProtocolError("bad byte", offset=7)
    assert isinstance(exc, sansio.RemoteProtocolError)
    assert exc.offset == 7 and "at byte 7" in str(exc)


def test_iec_send_queues_like_the_link_and_data_to_send_gives_the_bytes() -> None:
    client = ClientConnection()
    assert client.send(SignOnRequest("")) is None
    assert client.data_to_send() == b"/?!\r\n"
    assert client.data_to_send() == b""
    assert client.next_deadline() is None       # the driver keeps the answer timer
