"""A remote meter's line as the driver reads it: what a slow line trickles, in gulps.

A modem or gateway at 9,600 baud hands the depot a message a few bytes at a time (a
TCP segment each few milliseconds); :class:`~hhu_sync.meterio.SerialTransport` returns
each piece as it comes, so the driver parses a 3 kB profile answer in a thousand reads.
With fifty sessions at once that is most of the depot's CPU. :class:`GatheringTransport`
waits, once bytes came and the message is not complete yet, for the rest (1, 2, 4 ...
ms, :data:`GATHER_S` in all), taking all that is waiting after each wait, as the cradle
loop gathers its reads (``link.read_gather_ms``): a piece that ends a message (ETX/EOT
and the BCC, CR LF, a lone ACK or NAK) goes to the driver at once, and a message is at
most the last wait later than its last byte. Only
when the bytes reach the driver changes, never what they are.

Inside a data block (after its STX, before its ETX/EOT and BCC: a readout, a profile
answer) a CR LF ends a line, not the message, and the driver has nothing to do before
the block's end: there the gathering goes on (waits of at most :data:`STEP_MAX_S`, up
to :data:`BLOCK_GATHER_S`, never past the driver's read time-out), so a profile answer
of a thousand lines is not a thousand reads; its end is still at most one wait late.
What the depot sends starts the next exchange: the block state begins afresh (on a bus,
the echo of what was sent is read through the same states).
"""

from __future__ import annotations

from typing import Any

from hhu_sync.meterio.transport import SerialTransport

#: The longest a read waits for the rest of a message once part of it came (the cradle
#: loop's default read gathering, 16 ms).
GATHER_S = 0.016
#: The longest a read gathers inside a data block (bounded by the read's time-out too).
BLOCK_GATHER_S = 0.128
#: The longest single wait: a message's end reaches the driver at most this late.
STEP_MAX_S = 0.008
_STX, _ETX, _EOT, _ACK, _NAK = 0x02, 0x03, 0x04, 0x06, 0x15
_MAX_GULP = 1 << 16
_FIRST_STEP_S = 0.001
# where the bytes so far leave a message: outside a block, inside one, at its BCC
_OUT, _IN, _BCC = 0, 1, 2


def message_ends(data: bytes | bytearray) -> bool:
    """Whether ``data`` ends where an IEC 62056-21 message may end: a block's ETX or
    EOT with its BCC, a CR LF (identification, readout lines), a lone ACK or NAK."""
    if not data:
        return False
    if data.endswith(b"\r\n") or (len(data) == 1 and data[0] in (_ACK, _NAK)):
        return True
    return len(data) >= 2 and data[-2] in (_ETX, _EOT)


def block_state(data: bytes | bytearray, state: int = _OUT) -> int:
    """Where ``data`` leaves a message, from ``state`` before it: outside a data block
    (``_OUT``), inside one (``_IN``: after its STX), or at its BCC (``_BCC``: after its
    ETX or EOT; the next byte, whatever it is, is the BCC)."""
    for byte in data:
        if state == _IN:
            if byte == _ETX or byte == _EOT:
                state = _BCC
        elif state == _BCC:
            state = _OUT
        elif byte == _STX:
            state = _IN
    return state


class GatheringTransport(SerialTransport):
    """:class:`SerialTransport` that gathers a message's pieces before handing them on."""

    def __init__(self, port: Any, *, gather_s: float = GATHER_S,
                 block_gather_s: float = BLOCK_GATHER_S, **kw: Any) -> None:
        super().__init__(port, **kw)
        self.gather_s = gather_s
        self.block_gather_s = block_gather_s
        self._state = _OUT

    def write(self, data: bytes) -> None:
        self._state = _OUT        # a new exchange: its answer is framed afresh
        super().write(data)

    def read(self, timeout: float) -> bytes:
        data = super().read(timeout)
        if not data:
            return data
        self._state = block_state(data, self._state)
        if self.gather_s <= 0 or self._ended(data):
            return data
        # The rest of the message, in a few gulps: waits of 1, 2, 4 ... ms (a fast line's
        # message is whole after the first), at most gather_s in all (block_gather_s in a
        # data block), ending early at a message's end (the driver is then at most the
        # last wait late).
        gulp = bytearray(data)
        step, waited = _FIRST_STEP_S, 0.0
        saved = self.port.timeout
        self.port.timeout = 0                   # reads take what waits, never block
        try:
            while True:
                limit = self.gather_s if self._state == _OUT else \
                    min(max(self.gather_s, self.block_gather_s), max(0.0, timeout))
                if waited >= limit:
                    break
                step = min(step, STEP_MAX_S, limit - waited)
                self._sleep(step)
                waited += step
                more = self._waiting()
                if more:
                    gulp += more
                    self._state = block_state(more, self._state)
                    if self._ended(gulp):
                        break
                step *= 2
        finally:
            self.port.timeout = saved
        return bytes(gulp)

    def _ended(self, gulp: bytes | bytearray) -> bool:
        """Whether the gulp ends a message: where one may end, and not inside a block."""
        return self._state == _OUT and message_ends(gulp)

    def _waiting(self) -> bytes:
        """All that is waiting, without blocking (the port's time-out is 0 meanwhile):
        pyserial's ``socket://`` says one byte waits whatever does (``in_waiting`` is a
        select), so read all there is."""
        more = bytes(self.port.read(_MAX_GULP))
        self.bytes_received += len(more)
        return more
