"""IEC 62056-21 byte-level building blocks: control bytes, BCC, parity, messages.

Pure functions only. The connection objects in :mod:`.connection` call these; drivers and
tests may call them directly to build or check bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hhu_sync.iec62056.errors import LocalProtocolError, ParityError, RemoteProtocolError

SOH = 0x01
STX = 0x02
ETX = 0x03
EOT = 0x04
ACK = 0x06
NAK = 0x15
CR_LF = b"\r\n"

#: Mode C baud characters (the ``Z`` of the identification and option select).
BAUD_RATES: dict[str, int] = {
    "0": 300, "1": 600, "2": 1200, "3": 2400, "4": 4800, "5": 9600, "6": 19200,
}
BAUD_CHARS: dict[int, str] = {baud: char for char, baud in BAUD_RATES.items()}
INITIAL_BAUD = 300

#: Minimum reaction times (seconds) the identification announces through the manufacturer
#: code: the third letter in lower case means the meter can answer after 20 ms.
FAST_REACTION_S = 0.020
NORMAL_REACTION_S = 0.200

MODE_READOUT = "0"
MODE_PROGRAMMING = "1"
MODE_BINARY = "2"

_MAX_ADDRESS = 32
_MAX_IDENT = 16
_ADDRESS_RE = re.compile(r"[0-9A-Za-z ]{0,32}")


def bcc(data: bytes) -> int:
    """XOR of ``data``: pass every byte after SOH/STX up to and including ETX/EOT.

    Folded as one big integer (halves XORed together) rather than byte by byte: a
    profile block of kilobytes costs a few big-integer operations."""
    x, width = int.from_bytes(data, "little"), len(data)
    while width > 1:
        half = (width + 1) // 2
        x = (x & ((1 << (8 * half)) - 1)) ^ (x >> (8 * half))
        width = half
    return x


def block_check(body: bytes) -> bytes:
    """``body`` followed by its BCC byte (body starts after SOH/STX, ends with ETX)."""
    return body + bytes([bcc(body)])


# -- parity (7E1 on 8-bit transports) ------------------------------------------------------

def _even_parity_bit(value: int) -> int:
    return bin(value & 0x7F).count("1") & 1


def add_even_parity(data: bytes) -> bytes:
    """Set bit 7 so each byte has even parity: 7E1 bytes for an 8N1 port."""
    return data.translate(_ADD_PARITY)


#: Byte tables for ``bytes.translate``: a profile read is megabytes, one C pass each.
_STRIP_BIT7 = bytes(b & 0x7F for b in range(256))
_ADD_PARITY = bytes((b & 0x7F) | (_even_parity_bit(b) << 7) for b in range(256))


def strip_parity(data: bytes, *, check: bool = False, offset: int = 0) -> bytes:
    """Clear bit 7 of each byte; with ``check`` raise ParityError naming the bad byte.

    ``offset`` is the stream offset of ``data[0]`` so the error names a stream position.
    """
    if check:
        for i, b in enumerate(data):
            if (b >> 7) != _even_parity_bit(b):
                raise ParityError(f"byte 0x{b:02X} fails even parity", offset + i)
    return data.translate(_STRIP_BIT7)


# -- sign-on request -------------------------------------------------------------------------

def check_address(address: str) -> str:
    """The device address, checked: at most 32 characters of 0-9, A-Z, a-z, space."""
    if len(address) > _MAX_ADDRESS or not _ADDRESS_RE.fullmatch(address):
        raise LocalProtocolError(f"device address {address!r} is not 0-32 characters "
                                 "of 0-9 A-Z a-z space")
    return address


def encode_sign_on(address: str = "") -> bytes:
    """``/?`` [device address] ``!`` CR LF."""
    return b"/?" + check_address(address).encode("ascii") + b"!" + CR_LF


def parse_sign_on(line: bytes, offset: int = 0) -> str:
    """Device address from a ``/?...!`` line (without CR LF); RemoteProtocolError if bad."""
    if not (line.startswith(b"/?") and line.endswith(b"!")):
        raise RemoteProtocolError(f"not a sign-on request: {line[:40]!r}", offset)
    address = line[2:-1].decode("ascii", "replace")
    if len(address) > _MAX_ADDRESS or not _ADDRESS_RE.fullmatch(address):
        raise RemoteProtocolError(f"bad device address {address!r}", offset + 2)
    return address


# -- identification --------------------------------------------------------------------------

@dataclass(frozen=True)
class Identification:
    """A parsed identification message ``/MMMZ[\\W]ident``."""

    manufacturer: str
    baud_char: str
    ident: str
    enhanced: str | None = None  # the W of ``\\W`` when present

    @property
    def baud(self) -> int | None:
        """Baud rate proposed (mode C table), None for a non mode-C character."""
        return BAUD_RATES.get(self.baud_char)

    @property
    def min_reaction_time(self) -> float:
        """Seconds the driver must wait before sending to this meter (20 or 200 ms)."""
        return FAST_REACTION_S if self.manufacturer[2].islower() else NORMAL_REACTION_S

    def encode(self) -> bytes:
        """The identification message, ``/`` to CR LF."""
        enhanced = f"\\{self.enhanced}" if self.enhanced is not None else ""
        text = f"/{self.manufacturer}{self.baud_char}{enhanced}{self.ident}"
        return text.encode("ascii") + CR_LF


def parse_identification(line: bytes, offset: int = 0) -> Identification:
    """Parse ``/MMMZ[\\W]ident`` (CR LF removed) by its structure, never fixed offsets.

    MMM is the manufacturer: three letters (upper case, the third may be lower case); Z one
    baud character, then an optional backslash and one character, then up to 16 printable
    characters.
    """
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError("identification is not ASCII", offset + exc.start) from None
    if not text.startswith("/"):
        raise RemoteProtocolError("identification does not start with '/'", offset)
    if text.startswith("/?"):
        raise RemoteProtocolError("got a sign-on request where the identification was "
                                  "expected (an echoing probe? enable echo handling)", offset)
    maker = text[1:4]
    if len(maker) < 3 or not (maker[:2].isalpha() and maker[:2].isupper()
                              and maker[2].isalpha()):
        raise RemoteProtocolError(f"manufacturer code {maker!r} is not three letters",
                                  offset + 1)
    if len(text) < 5:
        raise RemoteProtocolError("identification ends before the baud character", offset + 4)
    baud_char = text[4]
    if not (baud_char.isalnum()):
        raise RemoteProtocolError(f"baud character {baud_char!r} is not a letter or digit",
                                  offset + 4)
    rest, pos, enhanced = text[5:], 5, None
    if rest.startswith("\\"):
        if len(rest) < 2:
            raise RemoteProtocolError("'\\' without its enhanced-capability character",
                                      offset + pos)
        enhanced, rest, pos = rest[1], rest[2:], pos + 2
    if not rest:
        raise RemoteProtocolError("identification has no identification text", offset + pos)
    if len(rest) > _MAX_IDENT:
        raise RemoteProtocolError(f"identification text is {len(rest)} characters, "
                                  f"more than {_MAX_IDENT}", offset + pos + _MAX_IDENT)
    for i, ch in enumerate(rest):
        if not (0x20 < ord(ch) < 0x7F) or ch in "/!":
            raise RemoteProtocolError(f"character {ch!r} not allowed in identification",
                                      offset + pos + i)
    return Identification(maker, baud_char, rest, enhanced)


# -- option select ---------------------------------------------------------------------------

def encode_option_select(baud_char: str, mode: str, protocol: str = "0") -> bytes:
    """``ACK V Z Y CR LF``: V protocol control (0 normal), Z baud char, Y mode."""
    if len(baud_char) != 1 or len(mode) != 1 or len(protocol) != 1:
        raise LocalProtocolError("option select fields are one character each")
    return bytes([ACK]) + f"{protocol}{baud_char}{mode}".encode("ascii") + CR_LF


# -- command and data blocks -----------------------------------------------------------------

def encode_command(command: str, data: str | None = None) -> bytes:
    """``SOH C D STX data ETX BCC`` or, without data, ``SOH C D ETX BCC`` (break)."""
    if len(command) != 2:
        raise LocalProtocolError(f"command {command!r} is not two characters")
    body = command.encode("ascii")
    if data is not None:
        body += bytes([STX]) + _data_bytes(data)
    return bytes([SOH]) + block_check(body + bytes([ETX]))


def encode_data(data: str, *, partial: bool = False) -> bytes:
    """``STX data ETX BCC`` (readout bodies, R1 answers, error messages); ``partial``:
    ``STX data EOT BCC``, an R6 partial block."""
    return bytes([STX]) + block_check(_data_bytes(data) + bytes([EOT if partial else ETX]))


def _data_bytes(data: str) -> bytes:
    raw = data.encode("ascii")
    for i, b in enumerate(raw):
        if b in (SOH, STX, ETX, EOT) or b > 0x7F:
            raise LocalProtocolError(f"data byte 0x{b:02X} at {i} cannot be framed")
    return raw


def encode_readout(lines: str) -> bytes:
    """A readout data message: ``STX lines ! CR LF ETX BCC``.

    ``lines`` are the data lines, each ending CR LF (added when missing).
    """
    if lines and not lines.endswith("\r\n"):
        lines += "\r\n"
    return encode_data(lines + "!\r\n")
