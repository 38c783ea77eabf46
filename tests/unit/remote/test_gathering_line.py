"""A slow line's pieces gathered into fewer reads (hhu_sync.remote.line): a piece that
ends a message goes to the driver at once; one that does not waits one gather for the
rest. The bytes are the same either way; the clock and the sleep are injected."""

from __future__ import annotations

from hhu_sync.remote.line import _BCC, _IN, _OUT, GatheringTransport, block_state, message_ends


class Trickle:
    """A port whose bytes come in the pieces given; a sleep lets the next ones arrive."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = list(pieces)
        self.arrived = bytearray()
        self.timeout = 0.05
        self.baudrate = 300
        self.reads = 0

    def arrive(self) -> None:
        if self.pieces:
            self.arrived += self.pieces.pop(0)

    @property
    def in_waiting(self) -> int:
        return len(self.arrived)

    def read(self, n: int) -> bytes:
        self.reads += 1
        if not self.arrived:
            self.arrive()
        out, self.arrived = bytes(self.arrived[:n]), self.arrived[n:]
        return out


def transport(port: Trickle) -> GatheringTransport:
    def sleep(_s: float) -> None:
        port.arrive()
        port.arrive()
    return GatheringTransport(port, clock=lambda: 0.0, sleep=sleep)


def test_message_ends_at_a_blocks_bcc_a_line_end_or_a_lone_ack():
    assert message_ends(b"\x02data\x03\x41") and message_ends(b"/ABC5MT174\r\n")
    assert message_ends(b"\x06") and message_ends(b"\x15")
    assert not message_ends(b"\x021.8.0(0001") and not message_ends(b"")


def test_a_message_in_many_pieces_comes_in_few_reads_and_whole():
    message = b"\x02" + b"1.8.0(000123.4*kWh)\r\n" * 5 + b"!\r\n\x03\x55"
    pieces = [message[i:i + 3] for i in range(0, len(message), 3)]
    port = Trickle(pieces)
    line = transport(port)
    got = bytearray()
    calls = 0
    while not message_ends(bytes(got)) or len(got) < len(message):
        got += line.read(1.0)
        calls += 1
    assert bytes(got) == message and line.bytes_received == len(message)
    assert calls < len(pieces) / 2


def test_a_piece_that_ends_a_message_is_not_held_back():
    port = Trickle([b"\x06", b"more"])
    line = transport(port)
    assert line.read(1.0) == b"\x06" and port.pieces == [b"more"]   # no gather waited


def test_inside_a_data_block_a_line_end_does_not_end_the_read():
    # a readout's lines, each ending CR LF: the block is whole in one read, not one a line
    message = b"\x02" + b"1.8.0(000123.4*kWh)\r\n" * 6 + b"!\r\n\x03\x55"
    pieces = [message[i:i + 7] for i in range(0, len(message), 7)]
    line = transport(Trickle(pieces))
    assert line.read(1.0) == message and line.bytes_received == len(message)


def test_an_identification_still_ends_at_its_line_end():
    port = Trickle([b"/ABC5", b"MT", b"174\r\n", b"\x02later"])
    line = transport(port)
    assert line.read(1.0) == b"/ABC5MT174\r\n" and port.pieces == [b"\x02later"]


def test_a_blocks_bcc_that_looks_like_stx_ends_the_block():
    assert block_state(b"\x02data\x03") == _BCC
    assert block_state(b"\x02data\x03\x02") == _OUT          # the BCC, not a new block
    assert block_state(b"\x02data\r\n") == _IN
    assert block_state(b"more\x04", _IN) == _BCC
    port = Trickle([b"\x02da", b"ta\x03", b"\x02", b"/next\r\n", b"x"])
    line = transport(port)
    assert line.read(1.0) == b"\x02data\x03\x02" and port.pieces == [b"/next\r\n", b"x"]


def test_what_the_depot_sends_starts_the_next_answer_afresh():
    port = Trickle([b"\x02lost", b" block\r\n"])
    line = transport(port)
    line.port.write = lambda data: None
    line.port.flush = lambda: None
    assert line.read(1.0) == b"\x02lost block\r\n"    # inside a block, its end never came
    line.write(b"\x15")                  # a NAK: the answer begins anew
    port.pieces = [b"/AB", b"C5M", b"T174\r\n", b"more", b"x"]
    assert line.read(1.0) == b"/ABC5MT174\r\n" and port.pieces == [b"more", b"x"]
