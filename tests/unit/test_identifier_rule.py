"""One identifier rule, hhu_sync.ids.is_safe_name, for the depot, the link and the simulator.

HHU ids, bundle ids, upload ids and secret names become file names on both sides and
travel in the link's id fields: an id one side takes and another refuses would fail a
docking half-way (a bundle sent that the flash cannot name, an upload the depot cannot
file). So every side asks the same function, with the same limit.
"""

from __future__ import annotations

import pytest

from hhu_firmware_sim.device import SimulatedHHU
from hhu_firmware_sim.flash import FlashError, FlashStore, check_id
from hhu_sync.ids import MAX_ID_LENGTH, check_name, is_safe_name
from hhu_sync.link import (
    NEED_DATA,
    Aborted,
    Connection,
    FrameDecoder,
    HelloInfo,
    LinkSettings,
    LocalProtocolError,
    PutBundle,
    ReasonCode,
    Role,
    StartHandshake,
    encode_frame,
)
from hhu_sync.link import messages as m

KEY = bytes(range(32))
GOOD = ["a", "HHU-0042", "20261125T161500Z-3f9a2c1d5e7b", "R-x.y_z", "x" * MAX_ID_LENGTH]
BAD = ["", "x" * (MAX_ID_LENGTH + 1), "x" * 128, "x" * 200, "_leading", ".hidden",
       "a..b", "../up", "a/b", "a b", "ä", "a\x00b"]


def test_the_limit_is_the_strictest_side_s() -> None:
    assert MAX_ID_LENGTH == 64


@pytest.mark.parametrize("value", GOOD)
def test_every_side_takes_a_good_id(value: str, tmp_path) -> None:
    assert is_safe_name(value) and check_name(value, "id") == value
    assert check_id(value) == value
    FlashStore(tmp_path).store_upload(value, b"x")
    dock = Connection(Role.DOCK, keys=lambda hid: KEY)
    dock.send(StartHandshake())
    dock.send(PutBundle(value, b"x"))         # queued, not refused


@pytest.mark.parametrize("value", BAD)
def test_every_side_refuses_a_bad_id(value: str, tmp_path) -> None:
    assert not is_safe_name(value)
    with pytest.raises(ValueError, match="not valid"):
        check_name(value, "id")
    with pytest.raises(FlashError, match="invalid object id"):
        check_id(value)
    with pytest.raises(FlashError):
        FlashStore(tmp_path).store_upload(value, b"x")
    dock = Connection(Role.DOCK, keys=lambda hid: KEY)
    dock.send(StartHandshake())
    with pytest.raises(LocalProtocolError, match="identifier rule"):
        dock.send(PutBundle(value, b"x"))
    with pytest.raises(LocalProtocolError, match="identifier rule"):
        Connection(Role.HHU, key=KEY, hello=HelloInfo(value, "fw", 1, 50))
    with pytest.raises(FlashError, match="invalid object id"):   # hhu-sim serve --id
        SimulatedHHU(value, KEY, FlashStore(tmp_path / "sim"))


def _frames(conn: Connection) -> list[m.Message]:
    return [m.parse_body(b) for b in FrameDecoder().feed(conn.data_to_send())]


@pytest.mark.parametrize("value", ["x" * 65, "../keys/other", "a..b"])
def test_a_dock_takes_no_hhu_id_that_breaks_the_rule_and_asks_no_key_for_it(value) -> None:
    asked: list[str] = []
    dock = Connection(Role.DOCK, settings=LinkSettings(),
                      keys=lambda hid: asked.append(hid) or KEY)
    dock.send(StartHandshake())
    (hello,) = _frames(dock)
    assert isinstance(hello, m.Hello)
    dock.receive_data(encode_frame(m.Challenge(hello.req, hello.version, bytes(16),
                                               value).encode()))
    events = []
    while (ev := dock.next_event()) is not NEED_DATA:
        events.append(ev)
    assert asked == []
    assert [type(e) for e in events] == [Aborted]
    assert events[0].code is ReasonCode.NOT_ENROLLED
