"""Framing: COBS-encoded frames delimited by 0x00, each with a CRC-32.

On the wire a frame is ``COBS(body || CRC32(body) as 4 bytes big-endian) || 0x00``.
The decoder finds its feet again after garbage or a cut: it resynchronises on the next
0x00, drops anything that fails COBS or CRC, and never buffers more than one maximum-size
encoded frame (a longer run without a delimiter is dropped while hunting for the next one).

The COBS code avoids per-byte Python loops: ``bytes.split(b"\\0")`` does the scanning in C
and the Python loop runs once per COBS group (one per ~254 bytes, or per zero byte).
"""

from __future__ import annotations

import zlib

__all__ = [
    "CRC_SIZE",
    "MAX_FRAME_BODY",
    "FrameDecoder",
    "cobs_decode",
    "cobs_encode",
    "cobs_frame",
    "encode_frame",
    "max_encoded_size",
]

CRC_SIZE = 4
#: Largest frame body (type byte + fields + payload, CRC excluded) any peer may send.
MAX_FRAME_BODY = 65536 + 64

_CODE = [bytes((i,)) for i in range(256)]


def max_encoded_size(body_size: int) -> int:
    """Largest COBS encoding (delimiter excluded) of a body of ``body_size`` bytes + CRC."""
    n = body_size + CRC_SIZE
    return n + n // 254 + 1


def cobs_encode(data: bytes | bytearray) -> bytes:
    """COBS-encode ``data`` (the result contains no 0x00 byte)."""
    return _cobs(data, b"")


def cobs_frame(data: bytes | bytearray) -> bytes:
    """``cobs_encode(data)`` and the 0x00 delimiter, built in one join (no copy to add it)."""
    return _cobs(data, b"\x00")


def _cobs(data: bytes | bytearray, tail: bytes) -> bytes:
    parts: list[bytes | bytearray] = []
    put = parts.append
    code = _CODE
    for piece in data.split(b"\x00"):
        n = len(piece)
        if n < 254:
            put(code[n + 1])
            put(piece)
            continue
        start = 0
        while n - start >= 254:
            put(b"\xff")
            put(piece[start : start + 254])
            start += 254
        put(code[n - start + 1])
        put(piece[start:])
    put(tail)
    return b"".join(parts)


def cobs_decode(enc: bytes | bytearray) -> bytes | None:
    """Decode one COBS block (no delimiter inside). Returns None if it is malformed."""
    parts: list[bytes | bytearray] = []
    put = parts.append
    i = 0
    n = len(enc)
    while i < n:
        code = enc[i]
        if code == 0:
            return None
        j = i + code
        put(enc[i + 1 : j])
        if code != 0xFF and j < n:
            put(b"\x00")
        i = j
    if i != n:
        return None  # the last code points past the end
    return b"".join(parts)


def encode_frame(body: bytes | bytearray) -> bytes:
    """Wire bytes of one frame: COBS(body + CRC-32) + 0x00."""
    buf = bytearray(body)
    buf += zlib.crc32(body).to_bytes(4, "big")
    return _cobs(buf, b"\x00")


class FrameDecoder:
    """Incremental, bounded frame decoder.

    ``feed(data)`` returns the list of good frame bodies (CRC stripped) completed by
    ``data``. Bad frames are counted (``crc_errors``, ``framing_errors``) and dropped.
    The internal buffer never exceeds ``max_encoded`` bytes.
    """

    __slots__ = ("_buf", "_hunting", "max_encoded", "crc_errors", "framing_errors", "frames")

    def __init__(self, max_body: int = MAX_FRAME_BODY) -> None:
        self._buf = bytearray()
        self._hunting = False
        self.max_encoded = max_encoded_size(max_body)
        self.crc_errors = 0
        self.framing_errors = 0
        self.frames = 0

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        if not data:
            return []
        if isinstance(data, memoryview):
            data = bytes(data)
        buf = self._buf
        if 0 not in data:   # the frame goes on: most reads of a slow line end here
            if not self._hunting:
                buf += data
                if len(buf) > self.max_encoded:
                    self._overflow()
            return []
        if self._hunting:
            # a too-long frame is being dropped: skip to the next delimiter
            self._hunting = False
            data = data[data.find(0) + 1 :]
        # Only the new bytes are searched: the buffer holds no delimiter between calls.
        i = data.find(0)
        j = len(buf) + i
        buf += data
        frames: list[bytes] = []
        if i >= 0:
            limit = self.max_encoded
            pos = 0
            find = buf.find
            crc32 = zlib.crc32
            while j >= 0:
                if j > pos:
                    if j - pos > limit:
                        self.framing_errors += 1
                    else:
                        body = cobs_decode(buf[pos:j])
                        if body is None or len(body) < 1 + CRC_SIZE:
                            self.framing_errors += 1
                        elif crc32(memoryview(body)[:-4]) != int.from_bytes(body[-4:], "big"):
                            self.crc_errors += 1
                        else:
                            frames.append(body[:-4])
                pos = j + 1
                j = find(0, pos)
            del buf[:pos]
            self.frames += len(frames)
        if len(buf) > self.max_encoded:
            self._overflow()
        return frames

    def _overflow(self) -> None:
        """No delimiter within a maximum frame: drop it and hunt for the next 0x00."""
        self._buf.clear()
        self._hunting = True
        self.framing_errors += 1
