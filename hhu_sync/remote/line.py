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
"""

from __future__ import annotations

from typing import Any

from hhu_sync.meterio.transport import SerialTransport

#: The longest a read waits for the rest of a message once part of it came (the cradle
#: loop's default read gathering, 16 ms).
GATHER_S = 0.016
_ETX, _EOT, _ACK, _NAK = 0x03, 0x04, 0x06, 0x15
_MAX_GULP = 1 << 16
_FIRST_STEP_S = 0.001


def message_ends(data: bytes | bytearray) -> bool:
    """Whether ``data`` ends where an IEC 62056-21 message may end: a block's ETX or
    EOT with its BCC, a CR LF (identification, readout lines), a lone ACK or NAK."""
    if not data:
        return False
    if data.endswith(b"\r\n") or (len(data) == 1 and data[0] in (_ACK, _NAK)):
        return True
    return len(data) >= 2 and data[-2] in (_ETX, _EOT)


class GatheringTransport(SerialTransport):
    """:class:`SerialTransport` that gathers a message's pieces before handing them on."""

    def __init__(self, port: Any, *, gather_s: float = GATHER_S, **kw: Any) -> None:
        super().__init__(port, **kw)
        self.gather_s = gather_s

    def read(self, timeout: float) -> bytes:
        data = super().read(timeout)
        if not data or self.gather_s <= 0 or message_ends(data):
            return data
        # The rest of the message, in a few gulps: waits of 1, 2, 4 ... ms (a fast line's
        # message is whole after the first), at most gather_s in all, ending early at a
        # message's end (the driver is then at most the last wait late).
        gulp = bytearray(data)
        step, waited = _FIRST_STEP_S, 0.0
        while waited < self.gather_s and not message_ends(gulp):
            step = min(step, self.gather_s - waited)
            self._sleep(step)
            waited += step
            gulp += self._waiting()
            step *= 2
        return bytes(gulp)

    def _waiting(self) -> bytes:
        """All that is waiting, without blocking: pyserial's ``socket://`` says one byte
        waits whatever does (``in_waiting`` is a select), so read all there is at
        timeout 0."""
        saved = self.port.timeout
        self.port.timeout = 0
        try:
            more = bytes(self.port.read(_MAX_GULP))
        finally:
            self.port.timeout = saved
        self.bytes_received += len(more)
        return more
