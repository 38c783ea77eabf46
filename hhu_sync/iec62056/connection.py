"""Sans-IO IEC 62056-21 mode C connections: :class:`ClientConnection` (the HHU / probe
side) and :class:`MeterConnection` (the meter side), in the h11 style.

``receive_data(bytes)`` hands over what the port read; ``next_event()`` returns events
or ``NEED_DATA``; ``send(event)`` queues the bytes to write, ``data_to_send()`` gives them;
``handle_timeout(now)`` tells the connection that the driver's timer ran out
(docs/architecture.md). There are no sockets, clocks or sleeps here:
reaction times (:attr:`Identification.min_reaction_time`) and baud switches
(:class:`BaudChange`) are data for the driver. Retries are counted and bounded by
``max_retries``. After any error the connection refuses further use.
"""

from __future__ import annotations

import abc
import enum
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hhu_sync.iec62056.cipher import p2_cipher
from hhu_sync.iec62056.datasets import parse_datasets
from hhu_sync.iec62056.errors import LocalProtocolError, RemoteProtocolError
from hhu_sync.iec62056.events import (
    NEED_DATA,
    Ack,
    BaudChange,
    Break,
    CorruptFrame,
    ErrorResponse,
    Nak,
    OptionSelect,
    Password,
    PasswordAccepted,
    PasswordCommand,
    PasswordRejected,
    PasswordRequest,
    ProfileData,
    ProfileEmpty,
    ProfileRequest,
    Readout,
    ReadRequest,
    ReadResponse,
    Retransmit,
    SignOnRequest,
    TimedOut,
    WriteAccepted,
    WriteRequest,
)
from hhu_sync.iec62056.framer import Block, Control, Frame, Framer, Line, OptionFrame
from hhu_sync.iec62056.frames import (
    ACK,
    BAUD_CHARS,
    BAUD_RATES,
    ETX,
    INITIAL_BAUD,
    MODE_PROGRAMMING,
    MODE_READOUT,
    NAK,
    Identification,
    add_even_parity,
    encode_command,
    encode_data,
    encode_option_select,
    encode_readout,
    encode_sign_on,
    parse_identification,
    parse_sign_on,
    strip_parity,
)

_ERROR_RE = re.compile(r"\((ER[^()]{0,16})\)")
_PARITY_MODES = ("strip", "check", "none")


@dataclass(frozen=True)
class Settings:
    """Options for either role.

    ``echo``: the probe echoes what we send; skip our own bytes on receive.
    ``parity``: ``"strip"`` clears bit 7 on receive (8-bit transport carrying 7E1),
    ``"check"`` also verifies it, ``"none"`` leaves bytes alone. ``add_parity`` sets even
    parity on what ``send()`` queues (an 8N1 port talking to a 7E1 device).
    ``max_retries``: retransmissions per request. ``max_baud``: the client never selects a
    faster rate (the fall-back when a meter ignores the rate it proposed).
    ``detect_echo``: a client that sees its own sign-on request come back turns echo
    handling on by itself (RS-485 and some optical probes echo). ``max_profile_blocks``
    and ``max_profile_bytes`` bound one R5/R6 answer, however many blocks it takes.
    """

    echo: bool = False
    parity: str = "strip"
    add_parity: bool = False
    max_retries: int = 3
    max_block: int = 65536
    max_baud: int | None = None
    detect_echo: bool = True
    max_profile_blocks: int = 10_000
    max_profile_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        if self.parity not in _PARITY_MODES:
            raise ValueError(f"parity must be one of {_PARITY_MODES}")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")


ClientSettings = Settings
MeterSettings = Settings


@dataclass(slots=True)
class ConnectionStats:
    """Counters a driver logs per session; every retry shows up here."""

    bytes_received: int = 0
    bytes_sent: int = 0
    echo_bytes: int = 0
    echo_mismatches: int = 0
    retransmits: int = 0
    naks_sent: int = 0
    naks_received: int = 0
    corrupt_frames: int = 0
    timeouts: int = 0
    junk_bytes: int = 0
    #: bytes of late answers to repeated requests, dropped (see ``discard_stale``)
    stale_bytes: int = 0


class ClientState(enum.Enum):
    IDLE = "idle"
    AWAIT_IDENT = "await identification"
    IDENTIFIED = "identified"
    AWAIT_READOUT = "await readout"
    DONE = "readout done"
    AWAIT_P0 = "await password request"
    PASSWORD_NEEDED = "password needed"
    AWAIT_PASSWORD_ACK = "await password answer"
    PROGRAMMING = "programming"
    AWAIT_READ = "await R1 answer"
    AWAIT_WRITE = "await W1 answer"
    AWAIT_PROFILE = "await R5/R6 answer"
    PROFILE_PARTIAL = "R6 partial block received"
    CLOSED = "closed"
    TIMED_OUT = "timed out"


class MeterState(enum.Enum):
    IDLE = "idle"
    SIGNED_ON = "signed on"
    AWAIT_OPTION = "await option select"
    READOUT_PENDING = "readout pending"
    P0_PENDING = "password request pending"
    AWAIT_PASSWORD = "await password"
    CHECKING_PASSWORD = "checking password"
    PROGRAMMING = "programming"
    ANSWER_READ = "answer R1"
    ANSWER_WRITE = "answer W1"
    ANSWER_PROFILE = "answer R5/R6"
    PROFILE_PARTIAL_SENT = "R6 partial block sent"


class _Connection(abc.ABC):
    """What both roles share: byte intake, echo and parity, event queue, error latch."""

    _SEND: dict[tuple[Any, type], Any] = {}
    _ENCODE: dict[type, Callable[[Any, Any], bytes]] = {}
    _RECEIVE: dict[Any, dict[type, str]] = {}
    state: ClientState | MeterState          # each role sets its own in __init__

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.stats = ConnectionStats()
        self.framer = Framer(max_block=self.settings.max_block)
        self.baud = INITIAL_BAUD
        self._events: deque[Any] = deque()
        self._echo = bytearray()
        self._echo_on = self.settings.echo
        self._stream = 0
        self._errored: Exception | None = None
        self._last_sent: bytes | None = None
        self._attempts = 0
        self._out = bytearray()   # queued by send(), taken by data_to_send()

    # -- public surface ---------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Hand over bytes read from the port (any split; parity handled per settings)."""
        self._check_usable()
        offset, self._stream = self._stream, self._stream + len(data)
        self.stats.bytes_received += len(data)
        try:
            if self.settings.parity != "none":
                data = strip_parity(data, check=self.settings.parity == "check",
                                    offset=offset)
            data = self._skip_echo(data)
            self.framer.feed(data)
        except RemoteProtocolError as exc:
            self._errored = exc
            raise

    def next_event(self) -> Any:
        """The next event, or ``NEED_DATA``. Raises RemoteProtocolError on a broken peer."""
        self._check_usable()
        try:
            while not self._events:
                frame = self.framer.next_frame()
                self.stats.junk_bytes = self.framer.junk_bytes
                if frame is None:
                    return NEED_DATA
                self._dispatch(frame)
        except RemoteProtocolError as exc:
            self._errored = exc
            raise
        return self._events.popleft()

    def send(self, event: Any) -> None:
        """Queue the bytes for ``event`` (see ``data_to_send()``); LocalProtocolError if
        not allowed now. Queued, not returned: the one convention (hhu_sync/sansio.py)."""
        self._check_usable()
        key = (self.state, type(event))
        if key not in self._SEND:
            exc = LocalProtocolError(f"cannot send {type(event).__name__} in state "
                                     f"{self.state.name}")
            self._errored = exc
            raise exc
        target = self._SEND[key]
        try:
            raw = self._ENCODE[type(event)](self, event)
        except LocalProtocolError as exc:
            self._errored = exc
            raise
        if self.state is key[0]:  # a handler may pick the state itself
            self.state = target
        self._out += self._wire(raw)

    def discard_stale(self, dropped_on_line: int = 0) -> int:
        """Forget a repeated request's late answer. A request repeated on a time-out may
        be answered twice (the meter was slow, not deaf); the first answer is taken, and
        the driver then drains the line before its next request (``dropped_on_line``
        bytes it read and threw away), or the second would be taken as the next
        request's answer. Drops what is buffered here and the echo still expected."""
        self._check_usable()
        dropped = self.framer.discard() + dropped_on_line
        self._echo.clear()
        self.stats.stale_bytes += dropped
        return dropped

    def data_to_send(self) -> bytes:
        """Everything ``send()`` queued since the last call (``b""`` if nothing)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_deadline(self) -> float | None:
        """None: this core keeps no timer. The answer time-out depends on the driver's
        line (baud, probe, reaction time), so the driver keeps it and calls
        ``handle_timeout(now)`` when it runs out."""
        return None

    def handle_timeout(self, now: float) -> None:
        """The driver's timer ran out at ``now``; the next ``next_event()`` says what to do."""
        self._check_usable()
        self.stats.timeouts += 1
        self._on_timeout()

    def timeout(self) -> None:
        """Old name of ``handle_timeout()`` for callers without a clock."""
        self.handle_timeout(0.0)

    @abc.abstractmethod
    def _on_timeout(self) -> None:
        """Each role decides what a silent peer means."""

    @property
    def errored(self) -> bool:
        return self._errored is not None

    # -- shared helpers ---------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._errored is not None:
            raise LocalProtocolError(f"connection unusable after an error: {self._errored}")

    def _skip_echo(self, data: bytes) -> bytes:
        if not self._echo or not data:
            return data
        i = 0
        while i < len(data) and self._echo:
            if data[i] != self._echo[0]:
                self.stats.echo_mismatches += 1
                self._echo.clear()
                break
            del self._echo[0]
            i += 1
        self.stats.echo_bytes += i
        self.framer.skip_stream(i)
        return data[i:]

    def _wire(self, raw: bytes) -> bytes:
        if self._echo_on:
            self._echo += raw
        self.stats.bytes_sent += len(raw)
        return add_even_parity(raw) if self.settings.add_parity else raw

    def _remember(self, raw: bytes) -> bytes:
        self._last_sent, self._attempts = raw, 0
        return raw

    def _retry(self, data: bytes, reason: str) -> None:
        if self._attempts >= self.settings.max_retries:
            raise RemoteProtocolError(f"{reason}; gave up after {self._attempts} "
                                      f"retransmissions", self.framer.offset)
        self._attempts += 1
        self.stats.retransmits += 1
        if data == bytes([NAK]):
            self.stats.naks_sent += 1
        self._events.append(Retransmit(self._wire(data), self._attempts, reason))

    def _dispatch(self, frame: Frame) -> None:
        handlers = self._RECEIVE.get(self.state, {})
        name = handlers.get(type(frame))
        if name is None:
            self._ignore(frame)
            return
        getattr(self, name)(frame)

    def _ignore(self, frame: Frame) -> None:
        length = frame.length if isinstance(frame, Block) else (
            len(frame.text) + 2 if isinstance(frame, Line) else
            6 if isinstance(frame, OptionFrame) else 1)
        self.framer.junk_bytes += length

    def _emit(self, event: Any, state: Any = None) -> None:
        self._events.append(event)
        if state is not None:
            self.state = state


# ---------------------------------------------------------------------------------------------
# Client (HHU) role
# ---------------------------------------------------------------------------------------------

C = ClientState


class ClientConnection(_Connection):
    """The HHU side: sign on, read out, or open programming mode and read/write registers."""

    _SEND: dict[tuple[Any, type], Any] = {
        (C.IDLE, SignOnRequest): C.AWAIT_IDENT,
        (C.IDENTIFIED, OptionSelect): C.AWAIT_READOUT,  # or AWAIT_P0, chosen by the handler
        (C.PASSWORD_NEEDED, Password): C.AWAIT_PASSWORD_ACK,
        (C.PROGRAMMING, ReadRequest): C.AWAIT_READ,
        (C.PROGRAMMING, WriteRequest): C.AWAIT_WRITE,
        (C.PROGRAMMING, ProfileRequest): C.AWAIT_PROFILE,
        (C.PROFILE_PARTIAL, Ack): C.AWAIT_PROFILE,
        (C.PROFILE_PARTIAL, Break): C.CLOSED,
        (C.AWAIT_P0, Break): C.CLOSED,
        (C.PASSWORD_NEEDED, Break): C.CLOSED,
        (C.PROGRAMMING, Break): C.CLOSED,
        (C.IDENTIFIED, Break): C.CLOSED,
    }
    _RECEIVE: dict[Any, dict[type, str]] = {
        C.AWAIT_IDENT: {Line: "_on_ident"},
        C.IDENTIFIED: {Block: "_on_readout"},  # a meter that reads out without waiting
        C.AWAIT_READOUT: {Block: "_on_readout"},
        C.AWAIT_P0: {Block: "_on_p0"},
        C.PASSWORD_NEEDED: {Block: "_on_break_only"},
        C.AWAIT_PASSWORD_ACK: {Control: "_on_password_answer", Block: "_on_password_answer"},
        C.PROGRAMMING: {Block: "_on_break_only"},
        C.AWAIT_READ: {Block: "_on_read_answer", Control: "_on_read_answer"},
        C.AWAIT_WRITE: {Control: "_on_write_answer", Block: "_on_write_answer"},
        C.AWAIT_PROFILE: {Block: "_on_profile_block", Control: "_on_profile_control"},
        C.PROFILE_PARTIAL: {Block: "_on_break_only"},
    }

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.state = C.IDLE
        self.identification: Identification | None = None
        self.seed: str | None = None
        self.previous_baud: int | None = None
        self._frames_since_baud = 0
        self._pending: str | None = None  # address of the R1/W1 in flight
        self._sign_on: bytes | None = None
        self._profile_blocks = 0
        self._profile_bytes = 0

    @property
    def min_reaction_time(self) -> float:
        """Seconds to wait before each send (from the identification; 200 ms before it)."""
        return self.identification.min_reaction_time if self.identification else 0.2

    # -- send handlers ----------------------------------------------------------------------

    def _send_SignOnRequest(self, ev: SignOnRequest) -> bytes:  # noqa: N802
        self._sign_on = encode_sign_on(ev.address)
        return self._remember(self._sign_on)

    def _send_OptionSelect(self, ev: OptionSelect) -> bytes:  # noqa: N802
        if ev.mode not in (MODE_READOUT, MODE_PROGRAMMING):
            raise LocalProtocolError(f"option select mode {ev.mode!r} is not supported "
                                     "(0 readout, 1 programming)")
        char = ev.baud_char if ev.baud_char is not None else self._choose_baud()
        if char not in BAUD_RATES:
            raise LocalProtocolError(f"baud character {char!r} is not a mode C rate")
        raw = encode_option_select(char, ev.mode, ev.protocol)
        new = BAUD_RATES[char]
        self.state = C.AWAIT_READOUT if ev.mode == MODE_READOUT else C.AWAIT_P0
        self._last_sent = None
        if new != self.baud:
            self.previous_baud, self.baud = self.baud, new
            self._frames_since_baud = 0
            self._events.append(BaudChange(new, self.previous_baud))
        return raw

    def _choose_baud(self) -> str:
        proposed = self.identification.baud if self.identification else None
        baud = proposed or INITIAL_BAUD
        if self.settings.max_baud is not None:
            baud = min(baud, self.settings.max_baud)
        return BAUD_CHARS.get(baud, "0")

    def _send_Password(self, ev: Password) -> bytes:  # noqa: N802
        if ev.kind == "P1":
            field = ev.password
        elif ev.kind == "P2":
            try:
                field = p2_cipher(ev.password, self.seed or "")
            except ValueError as exc:
                raise LocalProtocolError(f"P2 password: {exc}") from None
        else:
            raise LocalProtocolError(f"password kind {ev.kind!r} is not P1 or P2")
        return self._remember(encode_command(ev.kind, f"({field})"))

    def _send_ReadRequest(self, ev: ReadRequest) -> bytes:  # noqa: N802
        self._pending = ev.address
        return self._remember(encode_command("R1", f"{ev.address}({ev.param})"))

    def _send_WriteRequest(self, ev: WriteRequest) -> bytes:  # noqa: N802
        self._pending = ev.address
        return self._remember(encode_command("W1", f"{ev.address}({ev.value})"))

    def _send_ProfileRequest(self, ev: ProfileRequest) -> bytes:  # noqa: N802
        self._pending = ev.address
        self._profile_blocks = self._profile_bytes = 0
        # R5 answers in one block, as long as the whole profile: the framer may hold
        # up to max_profile_bytes for it (restored once the answer is in).
        self._block_limits(None if ev.partial else self.settings.max_profile_bytes + 64)
        command = "R6" if ev.partial else "R5"
        return self._remember(encode_command(command, f"{ev.address}({ev.param})"))

    def _send_Ack(self, ev: Ack) -> bytes:  # noqa: N802
        return self._remember(bytes([ACK]))

    def _send_Break(self, ev: Break) -> bytes:  # noqa: N802
        self.framer.discard()
        self._block_limits(None)
        return encode_command("B0")

    #: The bytes of each event this role sends: one encoder a type, named here.
    _ENCODE: dict[type, Callable[[Any, Any], bytes]] = {
        SignOnRequest: _send_SignOnRequest,
        OptionSelect: _send_OptionSelect,
        Password: _send_Password,
        ReadRequest: _send_ReadRequest,
        WriteRequest: _send_WriteRequest,
        ProfileRequest: _send_ProfileRequest,
        Ack: _send_Ack,
        Break: _send_Break,
    }

    def _block_limits(self, block: int | None) -> None:
        """The framer's block and buffer bounds: ``block`` for one R5 answer, or (None)
        back to the settings' ``max_block``."""
        size = self.settings.max_block if block is None else max(block,
                                                                 self.settings.max_block)
        self.framer.max_block = size
        self.framer.max_buffer = size + self.settings.max_block + 1024

    # -- receive handlers -------------------------------------------------------------------

    def _count_frame(self) -> None:
        self._frames_since_baud += 1

    def _on_ident(self, frame: Line) -> None:
        if self.settings.detect_echo and self._sign_on is not None \
                and frame.text + b"\r\n" == self._sign_on:
            # our own request came back: an echoing probe. From now on skip what we send.
            self._echo_on = True
            self.stats.echo_bytes += len(self._sign_on)
            return
        self.identification = parse_identification(frame.text, frame.offset)
        self._count_frame()
        self._emit(self.identification, C.IDENTIFIED)

    def _check_block(self, frame: Block, what: str) -> bool:
        """False (after asking for a repeat) when the BCC failed; raises for EOT."""
        self._count_frame()
        if frame.end != ETX:
            raise RemoteProtocolError(f"{what}: partial blocks (EOT) are not supported",
                                      frame.offset + frame.length - 2)
        if frame.bcc_ok:
            return True
        self.stats.corrupt_frames += 1
        self._retry(bytes([NAK]), f"{what}: BCC mismatch at byte "
                    f"{frame.offset + frame.length - 1}, asking for a repeat")
        return False

    def _on_readout(self, frame: Block) -> None:
        if frame.command is not None:
            self._ignore(frame)
            return
        self._count_frame()
        if not frame.bcc_ok:
            raise RemoteProtocolError("readout BCC mismatch", frame.offset + frame.length - 1)
        if frame.end != ETX:
            raise RemoteProtocolError("readout ended with EOT (partial blocks unsupported)",
                                      frame.offset + frame.length - 2)
        text = _text(frame.data or b"", frame.offset + 1)
        body = text
        if body.endswith("!\r\n"):
            body = body[:-3]
        elif body.endswith("!"):
            body = body[:-1]
        datasets = parse_datasets(body, frame.offset + 1)
        self.framer.discard()  # garbage after ETX: nothing more is expected
        self._emit(Readout(body, datasets), C.DONE)

    def _on_p0(self, frame: Block) -> None:
        if frame.command == "B0":
            self._emit(Break(), C.CLOSED)
            return
        if frame.command != "P0":
            self._ignore(frame)
            return
        if not self._check_block(frame, "password request"):
            return
        seed = _text(frame.data or b"", frame.offset + 4)
        if seed.startswith("(") and seed.endswith(")"):
            seed = seed[1:-1]
        self.seed = seed
        self._emit(PasswordRequest(seed), C.PASSWORD_NEEDED)

    def _on_break_only(self, frame: Block) -> None:
        if frame.command == "B0":
            self._emit(Break(), C.CLOSED)
        else:
            self._ignore(frame)

    def _on_password_answer(self, frame: Control | Block) -> None:
        self._count_frame()
        if isinstance(frame, Control):
            if frame.byte == ACK:
                self._emit(PasswordAccepted(), C.PROGRAMMING)
            else:
                self.stats.naks_received += 1
                self._emit(PasswordRejected(None), C.PASSWORD_NEEDED)
            return
        if frame.command == "B0":
            self._emit(Break(), C.CLOSED)
            return
        if frame.command is not None or not self._check_block(frame, "password answer"):
            return
        code = _error_code(_text(frame.data or b"", frame.offset + 1))
        self._emit(PasswordRejected(code), C.PASSWORD_NEEDED)

    def _on_read_answer(self, frame: Control | Block) -> None:
        if isinstance(frame, Control):
            self._on_nak_or_stray(frame, "R1")
            return
        if frame.command == "B0":
            self._emit(Break(), C.CLOSED)
            return
        if frame.command is not None or not self._check_block(frame, "R1 answer"):
            return
        text = _text(frame.data or b"", frame.offset + 1)
        code = _error_code(text)
        if code is not None:
            self._emit(ErrorResponse(code, self._pending), C.PROGRAMMING)
            return
        self._emit(ReadResponse(text, parse_datasets(text, frame.offset + 1)), C.PROGRAMMING)

    def _on_write_answer(self, frame: Control | Block) -> None:
        if isinstance(frame, Control):
            if frame.byte == ACK:
                self._count_frame()
                self._emit(WriteAccepted(self._pending or ""), C.PROGRAMMING)
            else:
                self._on_nak_or_stray(frame, "W1")
            return
        if frame.command == "B0":
            self._emit(Break(), C.CLOSED)
            return
        if frame.command is not None or not self._check_block(frame, "W1 answer"):
            return
        code = _error_code(_text(frame.data or b"", frame.offset + 1))
        if code is None:
            raise RemoteProtocolError("W1 answered with data instead of ACK or an error",
                                      frame.offset)
        self._emit(ErrorResponse(code, self._pending), C.PROGRAMMING)

    def _on_profile_block(self, frame: Block) -> None:
        if frame.command == "B0":
            self._emit(Break(), C.CLOSED)
            return
        if frame.command is not None:
            self._ignore(frame)
            return
        self._count_frame()
        if not frame.bcc_ok:
            self.stats.corrupt_frames += 1
            self._retry(bytes([NAK]), f"profile block: BCC mismatch at byte "
                        f"{frame.offset + frame.length - 1}, asking for a repeat")
            return
        text = _text(frame.data or b"", frame.offset + 1)
        self._profile_blocks += 1
        self._profile_bytes += len(text)
        if self._profile_blocks > self.settings.max_profile_blocks:
            raise RemoteProtocolError(f"profile answer in more than "
                                      f"{self.settings.max_profile_blocks} blocks",
                                      frame.offset)
        if self._profile_bytes > self.settings.max_profile_bytes:
            raise RemoteProtocolError(f"profile answer longer than "
                                      f"{self.settings.max_profile_bytes} bytes", frame.offset)
        final = frame.end == ETX
        if final:
            self._block_limits(None)
        if final and self._profile_blocks == 1:
            body = text.strip()
            if body in ("(ERROR)", f"{self._pending}(ERROR)"):
                self._emit(ProfileEmpty(self._pending or ""), C.PROGRAMMING)
                return
            code = _error_code(body)
            if code is not None:
                self._emit(ErrorResponse(code, self._pending), C.PROGRAMMING)
                return
        event = ProfileData(text, final, self._profile_blocks - 1, frame.offset + 1)
        if final:
            self.framer.discard()  # garbage after the last ETX
        self._emit(event, C.PROGRAMMING if final else C.PROFILE_PARTIAL)

    def _on_profile_control(self, frame: Control) -> None:
        self._on_nak_or_stray(frame, "R5/R6")

    def _on_nak_or_stray(self, frame: Control, what: str) -> None:
        if frame.byte != NAK:
            self._ignore(frame)
            return
        self.stats.naks_received += 1
        assert self._last_sent is not None
        self._retry(self._last_sent, f"{what} NAKed at byte {frame.offset}")

    # -- time-outs --------------------------------------------------------------------------

    def _on_timeout(self) -> None:
        retry = {C.AWAIT_IDENT, C.AWAIT_PASSWORD_ACK, C.AWAIT_READ, C.AWAIT_WRITE,
                 C.AWAIT_PROFILE}
        if self.state in retry and self._last_sent is not None \
                and self._attempts < self.settings.max_retries:
            self._retry(self._last_sent, f"no answer in {self.state.value}")
            return
        after = (self.previous_baud is not None and self._frames_since_baud == 0
                 and self.state in (C.AWAIT_READOUT, C.AWAIT_P0))
        self._emit(TimedOut(self.state.value, self.baud, after, self.previous_baud),
                   C.TIMED_OUT)


# ---------------------------------------------------------------------------------------------
# Meter role
# ---------------------------------------------------------------------------------------------

M = MeterState
_ANY_ACTIVE = [s for s in MeterState if s is not M.IDLE]


class MeterConnection(_Connection):
    """The meter side: answer sign-on, read out, check passwords, serve R1/W1, break.

    The meter decides (its driver calls ``send``); this object only keeps the exchange
    legal. A new sign-on request restarts the exchange from any state.
    """

    _SEND: dict[tuple[Any, type], Any] = {
        (M.SIGNED_ON, Identification): M.AWAIT_OPTION,
        (M.READOUT_PENDING, Readout): M.IDLE,
        (M.P0_PENDING, PasswordRequest): M.AWAIT_PASSWORD,
        (M.CHECKING_PASSWORD, Ack): M.PROGRAMMING,
        (M.CHECKING_PASSWORD, Nak): M.AWAIT_PASSWORD,
        (M.CHECKING_PASSWORD, ErrorResponse): M.AWAIT_PASSWORD,
        (M.AWAIT_PASSWORD, Nak): M.AWAIT_PASSWORD,
        (M.PROGRAMMING, Nak): M.PROGRAMMING,
        (M.ANSWER_READ, ReadResponse): M.PROGRAMMING,
        (M.ANSWER_READ, ErrorResponse): M.PROGRAMMING,
        (M.ANSWER_READ, Nak): M.PROGRAMMING,
        (M.ANSWER_WRITE, Ack): M.PROGRAMMING,
        (M.ANSWER_WRITE, Nak): M.PROGRAMMING,
        (M.ANSWER_WRITE, ErrorResponse): M.PROGRAMMING,
        (M.ANSWER_PROFILE, ProfileData): M.PROGRAMMING,   # or PROFILE_PARTIAL_SENT
        (M.ANSWER_PROFILE, ProfileEmpty): M.PROGRAMMING,
        (M.ANSWER_PROFILE, ErrorResponse): M.PROGRAMMING,
        (M.ANSWER_PROFILE, Nak): M.PROGRAMMING,
        **{(s, Break): M.IDLE for s in _ANY_ACTIVE},
    }
    _RECEIVE: dict[Any, dict[type, str]] = {
        **{s: {Line: "_on_line"} for s in MeterState},
        M.AWAIT_OPTION: {Line: "_on_line", OptionFrame: "_on_option"},
        M.AWAIT_PASSWORD: {Line: "_on_line", Block: "_on_command", Control: "_on_nak"},
        M.PROGRAMMING: {Line: "_on_line", Block: "_on_command", Control: "_on_nak"},
        M.PROFILE_PARTIAL_SENT: {Line: "_on_line", Block: "_on_command",
                                 Control: "_on_partial_control"},
    }

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.state = M.IDLE
        self.address: str | None = None
        self.mode: str | None = None

    def reset(self) -> None:
        """Back to idle (e.g. the sign-on was for another device address)."""
        self._check_usable()
        self.state = M.IDLE
        self.framer.expect_option_select = False

    # -- send handlers ----------------------------------------------------------------------

    def _send_Identification(self, ev: Identification) -> bytes:  # noqa: N802
        self.framer.expect_option_select = True
        self._identification = ev
        return ev.encode()

    def _send_Readout(self, ev: Readout) -> bytes:  # noqa: N802
        return self._remember(encode_readout(ev.data))

    def _send_PasswordRequest(self, ev: PasswordRequest) -> bytes:  # noqa: N802
        return self._remember(encode_command("P0", f"({ev.seed})"))

    def _send_Ack(self, ev: Ack) -> bytes:  # noqa: N802
        return self._remember(bytes([ACK]))

    def _send_Nak(self, ev: Nak) -> bytes:  # noqa: N802
        self.stats.naks_sent += 1
        return bytes([NAK])

    def _send_ErrorResponse(self, ev: ErrorResponse) -> bytes:  # noqa: N802
        return self._remember(encode_data(f"({ev.code})"))

    def _send_ReadResponse(self, ev: ReadResponse) -> bytes:  # noqa: N802
        return self._remember(encode_data(ev.data))

    def _send_ProfileData(self, ev: ProfileData) -> bytes:  # noqa: N802
        if not ev.final:
            self.state = M.PROFILE_PARTIAL_SENT
        return self._remember(encode_data(ev.data, partial=not ev.final))

    def _send_ProfileEmpty(self, ev: ProfileEmpty) -> bytes:  # noqa: N802
        return self._remember(encode_data(f"{ev.address}(ERROR)"))

    def _send_Break(self, ev: Break) -> bytes:  # noqa: N802
        self.framer.expect_option_select = False
        return encode_command("B0")

    #: The bytes of each event this role sends: one encoder a type, named here.
    _ENCODE: dict[type, Callable[[Any, Any], bytes]] = {
        Identification: _send_Identification,
        Readout: _send_Readout,
        PasswordRequest: _send_PasswordRequest,
        Ack: _send_Ack,
        Nak: _send_Nak,
        ErrorResponse: _send_ErrorResponse,
        ReadResponse: _send_ReadResponse,
        ProfileData: _send_ProfileData,
        ProfileEmpty: _send_ProfileEmpty,
        Break: _send_Break,
    }

    # -- receive handlers -------------------------------------------------------------------

    def _on_line(self, frame: Line) -> None:
        try:
            address = parse_sign_on(frame.text, frame.offset)
        except RemoteProtocolError:
            self._ignore(frame)  # noise, our own identification echoed, another meter
            return
        self.framer.expect_option_select = False
        self.address, self.mode, self._last_sent = address, None, None
        if self.baud != INITIAL_BAUD:
            self._events.append(BaudChange(INITIAL_BAUD, self.baud))
            self.baud = INITIAL_BAUD
        self._emit(SignOnRequest(address), M.SIGNED_ON)

    def _on_option(self, frame: OptionFrame) -> None:
        self.framer.expect_option_select = False
        event = OptionSelect(frame.mode, frame.baud_char, frame.protocol)
        if frame.mode not in (MODE_READOUT, MODE_PROGRAMMING) or \
                frame.baud_char not in BAUD_RATES:
            self._emit(event, M.IDLE)  # binary mode or a rate we do not know: stay quiet
            return
        self.mode = frame.mode
        self._emit(event, M.READOUT_PENDING if frame.mode == MODE_READOUT else M.P0_PENDING)
        new = BAUD_RATES[frame.baud_char]
        if new != self.baud:
            self._events.append(BaudChange(new, self.baud))
            self.baud = new

    def _on_command(self, frame: Block) -> None:
        if frame.command is None:
            self._ignore(frame)
            return
        if not frame.bcc_ok or frame.end != ETX:
            self.stats.corrupt_frames += 1
            why = "BCC mismatch" if frame.bcc_ok is False else "partial block"
            self._emit(CorruptFrame(frame.offset + frame.length - 1, why))
            return
        text = _text(frame.data or b"", frame.offset + 4) if frame.data is not None else None
        cmd = frame.command
        if cmd == "B0":
            self.framer.discard()
            self._emit(Break(), M.IDLE)
        elif self.state is M.AWAIT_PASSWORD and cmd in ("P1", "P2") and text is not None:
            self._emit(PasswordCommand(cmd, _unwrap(text)), M.CHECKING_PASSWORD)
        elif self.state is M.PROGRAMMING and cmd in ("R5", "R6") and text is not None:
            address, value = _split_request(text, frame.offset + 4)
            self._emit(ProfileRequest(address, value, cmd == "R6"), M.ANSWER_PROFILE)
        elif self.state is M.PROGRAMMING and cmd in ("R1", "W1") and text is not None:
            address, value = _split_request(text, frame.offset + 4)
            if cmd == "R1":
                self._emit(ReadRequest(address, value), M.ANSWER_READ)
            else:
                self._emit(WriteRequest(address, value), M.ANSWER_WRITE)
        else:
            self.stats.corrupt_frames += 1
            self._emit(CorruptFrame(frame.offset, f"command {cmd} not accepted in "
                                                  f"{self.state.value}"))

    def _on_partial_control(self, frame: Control) -> None:
        """After a partial block: ACK asks for the next one, NAK for a repeat."""
        if frame.byte == ACK:
            self._emit(Ack(), M.ANSWER_PROFILE)
            return
        self._on_nak(frame)

    def _on_nak(self, frame: Control) -> None:
        if frame.byte != NAK or self._last_sent is None:
            self._ignore(frame)
            return
        self.stats.naks_received += 1
        self._retry(self._last_sent, f"NAK at byte {frame.offset}")

    def _on_timeout(self) -> None:
        if self.state is M.IDLE:
            return
        self._emit(TimedOut(self.state.value, self.baud), M.IDLE)
        self.framer.expect_option_select = False


# ---------------------------------------------------------------------------------------------

def _text(data: bytes, offset: int) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:  # pragma: no cover - parity stripping keeps it ASCII
        raise RemoteProtocolError("non-ASCII data", offset + exc.start) from None


def _error_code(text: str) -> str | None:
    m = _ERROR_RE.fullmatch(text.strip())
    return m.group(1) if m else None


def _unwrap(text: str) -> str:
    return text[1:-1] if text.startswith("(") and text.endswith(")") else text


def _split_request(text: str, offset: int) -> tuple[str, str]:
    """``address(value)`` of an R1/W1; the value may be empty."""
    open_at = text.find("(")
    if open_at < 0 or not text.endswith(")"):
        raise RemoteProtocolError(f"command data {text[:40]!r} is not address(value)", offset)
    return text[:open_at], text[open_at + 1:-1]


