"""Events of the IEC 62056-21 connections: what ``next_event()`` returns and ``send()`` takes.

All are frozen dataclasses. A driver loops ``next_event()`` until ``NEED_DATA``, acts on
each event (write :class:`Retransmit` bytes, switch the UART on :class:`BaudChange`...),
and calls ``send()`` for what it wants to say.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hhu_sync.iec62056.datasets import DataSet, index_datasets, parse_datasets
from hhu_sync.iec62056.frames import Identification
from hhu_sync.sansio import NEED_DATA as NEED_DATA  # the one sentinel of every core


@dataclass(frozen=True)
class SignOnRequest:
    """``/?[address]!``: client sends, meter receives."""

    address: str = ""


@dataclass(frozen=True)
class OptionSelect:
    """``ACK V Z Y``: mode ``"0"`` readout, ``"1"`` programming; ``baud_char`` Z.

    The client may leave ``baud_char`` None to accept what the meter proposed (capped by
    ``ClientSettings.max_baud``).
    """

    mode: str = "0"
    baud_char: str | None = None
    protocol: str = "0"


@dataclass(frozen=True)
class BaudChange:
    """Switch the line to ``baud`` now: the option select ACK has been written/received.

    The client yields it right after ``send(OptionSelect)``: write those bytes at the old
    rate, drain the UART, then switch. The meter yields it after the option select.
    """

    baud: int
    previous: int


@dataclass(frozen=True)
class Readout:
    """The data message of a readout: data lines (without ``!`` CR LF) and data sets."""

    data: str
    datasets: tuple[DataSet, ...] = ()

    @classmethod
    def from_datasets(cls, datasets: tuple[DataSet, ...] | list[DataSet]) -> Readout:
        lines = "".join(ds.encode() + "\r\n" for ds in datasets)
        return cls(lines, tuple(datasets))

    def get(self, key: str) -> DataSet | None:
        """Data set by short OBIS key (``1.8.0``, ``1.8.0*1``, ``F.F``), None if absent."""
        return index_datasets(self.datasets).get(key)


@dataclass(frozen=True)
class PasswordRequest:
    """``SOH P0 STX (seed) ETX``: the meter asks for a password; ``seed`` without ()."""

    seed: str


@dataclass(frozen=True)
class Password:
    """Client → meter: ``kind`` ``"P1"`` sends the password in clear, ``"P2"`` ciphered
    with the P0 seed (A1700 style, :func:`~hhu_sync.iec62056.cipher.p2_cipher`)."""

    password: str = field(repr=False)
    kind: str = "P1"


@dataclass(frozen=True)
class PasswordCommand:
    """What the meter received: ``kind`` P1/P2 and the field inside the parentheses."""

    kind: str
    data: str = field(repr=False)


@dataclass(frozen=True)
class PasswordAccepted:
    """The meter ACKed the password: programming mode is open."""


@dataclass(frozen=True)
class PasswordRejected:
    """The meter answered the password with NAK or an error message."""

    code: str | None = None


@dataclass(frozen=True)
class ReadRequest:
    """``SOH R1 STX address(param) ETX``."""

    address: str
    param: str = ""


@dataclass(frozen=True)
class WriteRequest:
    """``SOH W1 STX address(value) ETX``."""

    address: str
    value: str


@dataclass(frozen=True)
class ReadResponse:
    """``STX data ETX`` answering R1; ``datasets`` parsed on the client side."""

    data: str
    datasets: tuple[DataSet, ...] = ()

    @property
    def value(self) -> str | None:
        """The first value's text, the usual single-register answer."""
        return self.datasets[0].value if self.datasets else None


@dataclass(frozen=True)
class ProfileRequest:
    """``SOH R5 STX P.01(from;to) ETX`` (``partial``: R6, the answer in blocks).

    ``address`` ``P.01`` (load profile) or ``P.98`` (logbook); ``param`` the range as
    :func:`~hhu_sync.iec62056.loadprofile.range_param` writes it (``;``: everything).
    """

    address: str = "P.01"
    param: str = ";"
    partial: bool = False


@dataclass(frozen=True)
class ProfileData:
    """One block of a profile or logbook answer, as text.

    ``final`` False: an R6 partial block (ended by EOT); the client asks for the next
    with ``send(Ack())`` or stops with ``send(Break())``. ``index`` counts blocks from 0;
    ``offset`` is the stream offset of ``data[0]`` (decode errors name stream bytes).
    """

    data: str
    final: bool = True
    index: int = 0
    offset: int = 0


@dataclass(frozen=True)
class ProfileEmpty:
    """``(ERROR)`` answering a profile read: nothing recorded in the range asked for."""

    address: str = "P.01"


@dataclass(frozen=True)
class WriteAccepted:
    """The meter ACKed a W1."""

    address: str


@dataclass(frozen=True)
class Ack:
    """Meter → client ACK (password accepted, write done)."""


@dataclass(frozen=True)
class Nak:
    """Meter → client NAK (password refused, or please repeat)."""


@dataclass(frozen=True)
class ErrorResponse:
    """``STX (ERxx) ETX``: the meter refused a command. ``code`` e.g. ``"ER01"``."""

    code: str
    request: str | None = None


@dataclass(frozen=True)
class Break:
    """``SOH B0 ETX``: end of the session, either side."""


@dataclass(frozen=True)
class Retransmit:
    """Write ``data`` now: a repeat after NAK/time-out, or a NAK asking for a repeat.

    ``attempt`` counts from 1 and never exceeds the connection's ``max_retries``.
    """

    data: bytes
    attempt: int
    reason: str


@dataclass(frozen=True)
class TimedOut:
    """The driver's time-out fired and no retry is left (or none applies).

    ``after_baud_change`` with nothing received since: the meter probably ignored the
    baud it proposed; sign on again with ``ClientSettings(max_baud=previous_baud)``.
    """

    waiting_for: str
    baud: int
    after_baud_change: bool = False
    previous_baud: int | None = None


@dataclass(frozen=True)
class CorruptFrame:
    """Meter side: a command frame failed its BCC; answer with ``send(Nak())``."""

    offset: int
    reason: str


Event = (SignOnRequest | Identification | OptionSelect | BaudChange | Readout
         | PasswordRequest | Password | PasswordCommand | PasswordAccepted | PasswordRejected
         | ReadRequest | WriteRequest | ReadResponse | WriteAccepted | Ack | Nak
         | ProfileRequest | ProfileData | ProfileEmpty
         | ErrorResponse | Break | Retransmit | TimedOut | CorruptFrame)

__all__ = [
    "NEED_DATA", "Ack", "BaudChange", "Break", "CorruptFrame", "ErrorResponse", "Event",
    "Identification", "Nak", "OptionSelect", "Password", "PasswordAccepted",
    "PasswordCommand", "PasswordRejected", "PasswordRequest", "ProfileData", "ProfileEmpty",
    "ProfileRequest", "ReadRequest", "ReadResponse",
    "Readout", "Retransmit", "SignOnRequest", "TimedOut", "WriteAccepted", "WriteRequest",
    "parse_datasets",
]
