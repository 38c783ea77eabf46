"""Shared test helpers: drain events, replay transcripts."""

from __future__ import annotations

import re
from pathlib import Path

from hhu_sync.iec62056 import NEED_DATA, bcc

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "data" / "transcripts"
_TOKENS = {"SOH": b"\x01", "STX": b"\x02", "ETX": b"\x03", "EOT": b"\x04", "ACK": b"\x06",
           "NAK": b"\x15", "CR": b"\r", "LF": b"\n"}


def drain(conn) -> list:
    out = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def pump(data: bytes, conn, *, bytewise: bool = False) -> list:
    events: list = []
    chunks = [data[i:i + 1] for i in range(len(data))] if bytewise else [data]
    for chunk in chunks:
        conn.receive_data(chunk)
        events += drain(conn)
    return events


def decode_line(text: str) -> bytes:
    """``<STX>1.8.0(1)<ETX><BCC>`` → bytes; ``<BCC>`` is computed after SOH/STX."""
    out = bytearray()
    start = None
    for part in re.split(r"(<[A-Z]+>)", text):
        if not part:
            continue
        name = part[1:-1] if part.startswith("<") and part.endswith(">") else None
        if name == "BCC":
            assert start is not None, "<BCC> without SOH/STX"
            out.append(bcc(bytes(out[start:])))
            start = None
        elif name in _TOKENS:
            if name in ("SOH", "STX") and start is None:
                start = len(out) + 1
            out += _TOKENS[name]
        else:
            out += part.encode("ascii")
    return bytes(out)


def load_transcript(name: str) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    """(``# key: value`` headers, [(">" client or "<" meter, bytes)])."""
    meta: dict[str, str] = {}
    steps: list[tuple[str, str]] = []
    for raw in (TRANSCRIPTS / name).read_text(encoding="ascii").splitlines():
        if raw.startswith("# ") and ":" in raw:
            key, _, value = raw[2:].partition(":")
            meta[key.strip()] = value.strip()
        elif raw.startswith("<+"):
            steps[-1] = (steps[-1][0], steps[-1][1] + raw[2:])
        elif raw.startswith(("> ", "< ")):
            steps.append((raw[0], raw[2:]))
    return meta, [(direction, decode_line(text)) for direction, text in steps]


def sent(conn, event) -> bytes:
    """``send()`` queues; the bytes are what ``data_to_send()`` then gives."""
    conn.send(event)
    return conn.data_to_send()
