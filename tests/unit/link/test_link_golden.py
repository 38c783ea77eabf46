"""Golden hex vectors for every frame type, asserted against docs/link-protocol.md."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from hhu_sync.link import (
    BundleInfo,
    Connection,
    HelloInfo,
    ReasonCode,
    Role,
    StartHandshake,
    UploadInfo,
    encode_frame,
)
from hhu_sync.link import messages as m

DOC = Path(__file__).resolve().parents[3] / "docs" / "link-protocol.md"
GOLDEN_KEY = bytes(range(32))
DOCK_NONCE = bytes(range(0xD0, 0xE0))
HHU_NONCE = bytes(range(0xA0, 0xB0))
SHA_HELLO = hashlib.sha256(b"hello").digest()
GOLDEN_HELLO = HelloInfo(
    hhu_id="HHU-0042",
    firmware="fw-2.1.0",
    free_flash=1_000_000,
    battery_pct=87,
    bundles=(BundleInfo("b-1", "partial", 4096, 1024),),
    uploads=(UploadInfo("u-1", 5, SHA_HELLO),),
)


def handshake_frames() -> list[bytes]:
    """HELLO, CHALLENGE, AUTH, WELCOME as a real pair sends them (leading 0x00 removed)."""
    dock = Connection(Role.DOCK, keys=lambda h: GOLDEN_KEY, random=lambda n: DOCK_NONCE)
    hhu = Connection(Role.HHU, key=GOLDEN_KEY, hello=GOLDEN_HELLO, random=lambda n: HHU_NONCE)
    dock.send(StartHandshake())
    frames = []
    for _ in range(2):
        out = dock.data_to_send()
        frames.append(out)
        hhu.receive_data(out)
        back = hhu.data_to_send()
        frames.append(back)
        dock.receive_data(back)
    assert dock.state == "READY" and hhu.state == "READY"
    return [f[1:] if f[:1] == b"\x00" else f for f in frames]


def golden_frames() -> list[tuple[str, bytes]]:
    hello, challenge, auth, welcome = handshake_frames()
    others = [
        m.Offer(3, 0, 5, SHA_HELLO, "b-1"),
        m.Accept(3, 2),
        m.Held(3),
        m.Refuse(3, ReasonCode.FLASH_FULL, "flash full"),
        m.Done(4),
        m.Committed(4),
        m.Busy(4),
        m.Get(5, 0, "u-1"),
        m.UpStart(5, 0, 5, SHA_HELLO),
        m.AckUp(6, "u-1"),
        m.Cleared(6),
        m.Data(0, b"\x00hello"),
        m.Sack(1, b"\x05"),
        m.Ping(7),
        m.Pong(7),
        m.CloseReq(8),
        m.CloseOk(8),
        m.AbortMsg(ReasonCode.AUTH_FAILED, "authentication failed"),
    ]
    out = [("HELLO", hello), ("CHALLENGE", challenge), ("AUTH", auth), ("WELCOME", welcome)]
    out += [(msg.NAME, encode_frame(msg.encode())) for msg in others]
    return out


def doc_vectors() -> dict[str, bytes]:
    text = DOC.read_text()
    found = {}
    for name, hexes in re.findall(r"^\| `([A-Z]+)` \| `([0-9a-f]+)` \|", text, re.M):
        found[name] = bytes.fromhex(hexes)
    return found


def test_every_frame_type_has_a_golden_vector() -> None:
    names = {n for n, _ in golden_frames()}
    assert names == {c.NAME for c in m.BY_TYPE.values()}


def test_golden_vectors_match_the_document() -> None:
    docs = doc_vectors()
    for name, frame in golden_frames():
        assert docs.get(name) == frame, f"{name}: {frame.hex()}"


def test_golden_vectors_decode() -> None:
    from hhu_sync.link import FrameDecoder

    for name, frame in golden_frames():
        (body,) = FrameDecoder().feed(frame)
        assert m.parse_body(body).NAME == name


if __name__ == "__main__":  # print the table for the document
    for name, frame in golden_frames():
        print(f"| `{name}` | `{frame.hex()}` |")
