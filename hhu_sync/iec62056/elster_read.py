"""The Elster FLAG dialect's register-addressed reads: which R1/W1 to send, and the
blocks' hex answers gathered into a bounded stream. Pure; a client sends the requests
over :class:`~hhu_sync.iec62056.connection.ClientConnection` and feeds back the answers.

Select with register 551 (``FFFF`` the whole profile, else a number of days), then read
register 550 (the profile) or 560 (the event log) block by block until the end marker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hhu_sync.iec62056.elster_records import BLOCK_BYTES, Record, RecordDecoder, RecordError
from hhu_sync.iec62056.events import ReadRequest, WriteRequest

PROFILE_REGISTER, SELECT_REGISTER = 550, 551
EVENT_LOG_REGISTER = 560
#: A bound on blocks a read asks for: 4 MiB, far over any meter's memory.
MAX_BLOCKS = (4 << 20) // BLOCK_BYTES
_HEX_BLOCK = re.compile(rf"[0-9A-Fa-f]{{{2 * BLOCK_BYTES}}}", re.ASCII).fullmatch
_DATA = re.compile(r"[0-9A-Z.]*\(([^()]*)\)", re.ASCII).fullmatch


def select_request(days: int | None = None) -> WriteRequest:
    """Select the whole profile (None) or its last ``days`` days."""
    if days is not None and not 0 < days <= 0xFFFE:
        raise ValueError(f"{days} days is not 1..65534")
    return WriteRequest(f"{SELECT_REGISTER}001", "FFFF" if days is None else f"{days:04X}")


def block_request(register: int, block: int) -> ReadRequest:
    return ReadRequest(f"{register}{block:04X}", f"{BLOCK_BYTES:02X}")


def block_bytes(answer: str, block: int) -> bytes:
    """One block's 64 bytes from the meter's answer, ``(hex)`` or ``addr(hex)``."""
    match = _DATA(answer.strip())
    text = match.group(1) if match else answer.strip()
    if not _HEX_BLOCK(text):
        raise RecordError(f"block {block}: expected {2 * BLOCK_BYTES} hex digits, got "
                          f"{text[:40]!r}{'...' if len(text) > 40 else ''}")
    return bytes.fromhex(text)


@dataclass
class BlockRead:
    """The blocks of one register read, until the stream's end marker.

    ``next_request()`` is the R1 to send (None when done); ``accept(answer)`` takes its
    answer. A profile read decodes as it goes (:class:`RecordDecoder`, so a bad byte is
    refused at once, naming its offset); an event log is gathered and decoded at the end.
    """

    register: int = PROFILE_REGISTER
    max_blocks: int = MAX_BLOCKS
    block: int = 0
    data: bytearray = field(default_factory=bytearray)
    done: bool = False
    #: The profile's records so far (a profile read only).
    records: list[Record] = field(default_factory=list)
    _decoder: RecordDecoder = field(default_factory=RecordDecoder)

    def next_request(self) -> ReadRequest | None:
        if self.done:
            return None
        if self.block >= self.max_blocks:
            raise RecordError(f"register {self.register}: no end marker in "
                              f"{self.max_blocks} blocks")
        return block_request(self.register, self.block)

    def accept(self, answer: str) -> None:
        raw = block_bytes(answer, self.block)
        self.block += 1
        self.data += raw
        if self.register == PROFILE_REGISTER:
            self.records += self._decoder.feed(raw)
            self.done = self._decoder.ended
        else:       # entries are 8 bytes and blocks 64: the end marker starts an entry
            self.done = 0xFF in raw[::8]
