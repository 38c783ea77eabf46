"""Incremental splitting of a received byte stream into IEC 62056-21 frames.

The framer never guesses meaning: it finds lines (``/`` to CR LF), single control bytes
(ACK, NAK), option select messages and SOH/STX blocks with their BCC. Bytes that cannot
start a frame are skipped and counted (garbage after ETX, line noise, a baud mismatch);
a started frame that turns out malformed is dropped up to the next possible start.
Everything is bounded: lines by ``max_line``, blocks by ``max_block``, the whole buffer
by ``max_buffer``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from hhu_sync.iec62056.errors import RemoteProtocolError
from hhu_sync.iec62056.frames import ACK, EOT, ETX, NAK, SOH, STX, bcc

_STARTS = frozenset((ord("/"), SOH, STX, ACK, NAK))
_FRAMING = re.compile(rb"[\x01-\x04]")   # SOH STX ETX EOT: where a block may end


@dataclass(frozen=True)
class Line:
    """``/...`` up to (without) CR LF: a sign-on request or an identification."""

    text: bytes
    offset: int


@dataclass(frozen=True)
class Control:
    """A lone ACK or NAK."""

    byte: int
    offset: int


@dataclass(frozen=True)
class OptionFrame:
    """``ACK V Z Y CR LF`` (only recognised while the framer expects one)."""

    protocol: str
    baud_char: str
    mode: str
    offset: int


@dataclass(frozen=True)
class Block:
    """``SOH C D [STX data] ETX BCC`` (command set) or ``STX data ETX BCC`` (data).

    ``bcc_ok`` False means the check byte did not match; ``end`` is ETX or EOT.
    """

    command: str | None
    data: bytes | None
    end: int
    bcc_ok: bool
    offset: int
    length: int


Frame = Line | Control | OptionFrame | Block


class Framer:
    """Holds received bytes and hands out whole frames; see the module docstring."""

    def __init__(self, *, max_line: int = 64, max_block: int = 65536,
                 max_buffer: int | None = None) -> None:
        self.max_line = max_line
        self.max_block = max_block
        self.max_buffer = max_buffer if max_buffer is not None else 2 * max_block + 1024
        self.expect_option_select = False
        self.junk_bytes = 0
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        # Where the scan of a block still incomplete stopped: a long R5 answer fed in
        # small reads is then scanned once, not once per read.
        self._scan = 1
        self._scan_stx = False

    @property
    def buffered(self) -> int:
        return len(self._buf)

    @property
    def offset(self) -> int:
        """Stream offset of the next byte the framer will look at."""
        return self._base

    def feed(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > self.max_buffer:
            raise RemoteProtocolError(f"{len(self._buf)} bytes unprocessed, more than "
                                      f"{self.max_buffer}", self._base + self.max_buffer)

    def skip_stream(self, count: int) -> None:
        """Account for ``count`` bytes removed before the framer saw them (echo)."""
        if not self._buf:
            self._base += count

    def discard(self) -> int:
        """Drop everything buffered (counted as junk); returns how many bytes."""
        n = len(self._buf)
        self._drop(n)
        self.junk_bytes += n
        return n

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self._base += n
        self._scan, self._scan_stx = 1, False

    def _junk(self, n: int) -> None:
        self._drop(n)
        self.junk_bytes += n

    def next_frame(self) -> Frame | None:
        """The next whole frame, or None when more bytes are needed."""
        while self._buf:
            first = self._buf[0]
            if first not in _STARTS:
                end = 1
                while end < len(self._buf) and self._buf[end] not in _STARTS:
                    end += 1
                self._junk(end)
                continue
            result: Frame | None | Literal[False]
            if first == ord("/"):
                result = self._line()
            elif first == NAK or (first == ACK and not self.expect_option_select):
                result = Control(first, self._base)
                self._drop(1)
                return result
            elif first == ACK:
                result = self._option()
            else:
                result = self._block()
            if result is None:
                return None
            if result is not False:
                return result
        return None

    def _resync(self, at: int) -> Literal[False]:
        """Drop ``at`` bytes as junk (at least one) and tell the caller to rescan."""
        self._junk(max(at, 1))
        return False

    def _line(self) -> Line | None | Literal[False]:
        buf = self._buf
        limit = min(len(buf), self.max_line + 2)
        for i in range(1, limit):
            b = buf[i]
            if b == 0x0D:
                if i + 1 >= len(buf):
                    return None
                if buf[i + 1] != 0x0A:
                    return self._resync(i + 1)
                line = Line(bytes(buf[:i]), self._base)
                self._drop(i + 2)
                return line
            if b < 0x20 or b > 0x7E or b == ord("/"):
                return self._resync(i)
        if len(buf) >= self.max_line + 2:
            return self._resync(1)
        return None

    def _option(self) -> OptionFrame | None | Literal[False]:
        buf = self._buf
        if len(buf) < 6:
            for i in range(1, len(buf)):
                if not self._option_byte_ok(i, buf[i]):
                    return self._resync(1)
            return None
        for i in range(1, 6):
            if not self._option_byte_ok(i, buf[i]):
                return self._resync(1)
        frame = OptionFrame(chr(buf[1]), chr(buf[2]), chr(buf[3]), self._base)
        self._drop(6)
        return frame

    @staticmethod
    def _option_byte_ok(index: int, b: int) -> bool:
        if index <= 3:
            return 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A
        return b == (0x0D if index == 4 else 0x0A)

    def _block(self) -> Block | None | Literal[False]:
        buf = self._buf
        start = buf[0]
        seen_stx = start == STX or self._scan_stx
        limit = min(len(buf), self.max_block)
        i = self._scan
        while (m := _FRAMING.search(buf, i, limit)) is not None:
            i = m.start()
            b = buf[i]
            if b in (ETX, EOT):
                if i + 1 >= len(buf):
                    self._scan, self._scan_stx = i, seen_stx
                    return None
                return self._finish_block(i)
            if b == SOH or seen_stx:
                return self._resync(i)  # a new frame starts: the partial one was noise
            seen_stx = True
            i += 1
        i = max(i, limit)
        self._scan, self._scan_stx = max(i, 1), seen_stx
        if len(buf) >= self.max_block:
            raise RemoteProtocolError(f"block longer than {self.max_block} bytes without "
                                      "ETX", self._base + self.max_block)
        return None

    def _finish_block(self, end_at: int) -> Block | Literal[False]:
        buf = self._buf
        body = bytes(buf[1:end_at + 1])
        check = buf[end_at + 1]
        ok = bcc(body) == check
        command: str | None = None
        data: bytes | None
        if buf[0] == SOH:
            head = body[:2]
            if len(head) < 2 or not (chr(head[0]).isalpha() and chr(head[1]).isalnum()):
                return self._resync(1)
            command = head.decode("ascii")
            rest = body[2:-1]
            if rest and rest[0] == STX:
                data = rest[1:]
            elif not rest:
                data = None
            else:
                return self._resync(1)
        else:
            data = body[:-1]
        frame = Block(command, data, buf[end_at], ok, self._base, end_at + 2)
        self._drop(end_at + 2)
        return frame
