"""One optical-port session on the meter side: MeterConnection events → meter actions.

:class:`MeterSession` is still sans-IO: ``receive(bytes)`` returns the bytes to write
(and, for the server, whether they may go out only after the reaction time). Quirks that
real meters show are injected here, so the client can be tested against them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from hhu_firmware_sim.meter import programming
from hhu_firmware_sim.meter.meter import SimMeter
from hhu_sync.iec62056 import (
    NEED_DATA,
    Ack,
    BaudChange,
    Break,
    CorruptFrame,
    ErrorResponse,
    MeterConnection,
    MeterSettings,
    Nak,
    OptionSelect,
    PasswordCommand,
    PasswordRequest,
    ProfileData,
    ProfileEmpty,
    ProfileRequest,
    Readout,
    ReadRequest,
    ReadResponse,
    RemoteProtocolError,
    Retransmit,
    SignOnRequest,
    WriteRequest,
)
from hhu_sync.iec62056.loadprofile import (
    LOGBOOK,
    PROFILE,
    ProfileDecodeError,
    encode_entries,
    encode_sections,
    parse_range,
    split_blocks,
)

#: Characters per R6 partial block the simulated meter sends (whole lines).
PARTIAL_BLOCK_CHARS = 1024

QUIRK_NAMES = ("garbage_after_etx", "ignore_baud", "slow_reaction", "echo")


_STEPS = (SignOnRequest, OptionSelect, PasswordCommand, ReadRequest, WriteRequest, Break,
          ProfileRequest, Ack)


@dataclass(frozen=True)
class Quirks:
    """Misbehaviour to inject.

    ``garbage``: bytes appended after every block (garbage after ETX).
    ``ignore_baud``: the meter proposes a rate but keeps talking at 300 baud; over TCP
    the client then sees NUL bytes (what a UART at the faster rate makes of it).
    ``reaction_s``: extra delay before each answer (the server sleeps; slow meters).
    ``echo``: the probe echoes every byte the client sends.
    """

    garbage: bytes = b""
    ignore_baud: bool = False
    reaction_s: float = 0.0
    echo: bool = False

    @classmethod
    def from_names(cls, names: list[str] | tuple[str, ...]) -> Quirks:
        unknown = [n for n in names if n not in QUIRK_NAMES]
        if unknown:
            raise ValueError(f"unknown quirk(s) {', '.join(unknown)} "
                             f"(known: {', '.join(QUIRK_NAMES)})")
        return cls(garbage=b"\x00\x7fJUNK\r\n" if "garbage_after_etx" in names else b"",
                   ignore_baud="ignore_baud" in names,
                   reaction_s=1.0 if "slow_reaction" in names else 0.0,
                   echo="echo" in names)


@dataclass
class SessionLog:
    """What happened in a session, for tests and the server's log."""

    sign_ons: int = 0
    readouts: int = 0
    logins: int = 0
    rejected_passwords: int = 0
    reads: int = 0
    writes: int = 0
    profile_reads: int = 0
    profile_blocks: int = 0
    errors: list[str] = field(default_factory=list)


class MeterSession:
    """Serves the meters ``lookup(address)`` finds (None: not addressed to us)."""

    def __init__(self, lookup: Callable[[str], SimMeter | None], quirks: Quirks | None = None,
                 settings: MeterSettings | None = None) -> None:
        self.lookup = lookup
        self.quirks = quirks or Quirks()
        self.settings = settings
        self.log = SessionLog()
        self.meter: SimMeter | None = None
        self.conn = MeterConnection(settings)
        self._seed = ""
        self._level: int | None = None
        self._garbled = False
        self.progress = 0          # messages that moved the session on (the idle limit)
        self._last_step: object = None
        self._refused = False      # the request being handled was answered with a refusal
        self._blocks: Iterator[str] | None = None   # the R6 answer's blocks still to send
        self._next_block: str | None = None

    def receive(self, data: bytes) -> bytes:
        """Feed received bytes; returns everything to write back (possibly b"")."""
        out = bytearray()
        try:
            self.conn.receive_data(data)
            while (event := self.conn.next_event()) is not NEED_DATA:
                self._refused = False
                step = self._step(event)
                out += self._handle(event)
                if step and not self._refused:
                    self._last_step = event
                    self.progress += 1
        except RemoteProtocolError as exc:
            self.log.errors.append(str(exc))
            self.conn = MeterConnection(self.settings)  # a meter never gives up for good
        return bytes(out)

    def _step(self, event: object) -> bool:
        """Why: only a valid request that moves the exchange on may hold the meter (its
        idle limit). Junk, corrupt blocks, NAKs (retransmits), a sign-on for another
        address, a request identical to the last one that counted, and one the meter
        refuses (a wrong password, an unknown register) do not."""
        if isinstance(event, Ack):          # the next R6 block: each one moves it on
            return self._blocks is not None and self.meter is not None
        if not isinstance(event, _STEPS) or event == self._last_step:
            return False
        if isinstance(event, SignOnRequest):
            return self.lookup(event.address) is not None
        return self.meter is not None

    def timeout(self) -> bytes:
        """Inactivity: the meter drops back to waiting for a sign-on."""
        self.conn.timeout()
        while self.conn.next_event() is not NEED_DATA:
            pass
        self._garbled = False
        self._last_step = None
        return b""

    def _say(self, event: object) -> bytes:
        """What the core queues for ``event`` (it queues, the session returns bytes)."""
        self.conn.send(event)
        return self.conn.data_to_send()

    def _block(self, raw: bytes) -> bytes:
        if self._garbled:
            return b"\x00" * len(raw)
        return raw + self.quirks.garbage

    def _refuse(self, raw: bytes) -> bytes:
        self._refused = True
        return raw

    def _handle(self, event: object) -> bytes:
        conn = self.conn
        if isinstance(event, SignOnRequest):
            self._garbled = False
            self.meter = self.lookup(event.address)
            if self.meter is None:
                conn.reset()
                return b""
            self.log.sign_ons += 1
            self._level = None
            return self._say(self.meter.identification)
        meter = self.meter
        if meter is None:
            return b""
        if isinstance(event, OptionSelect):
            if event.mode == "0":
                self._garbled = self.quirks.ignore_baud and event.baud_char != "0"
                self.log.readouts += 1
                return self._block(self._say(Readout.from_datasets(meter.readout())))
            if event.mode == "1":
                self._garbled = self.quirks.ignore_baud and event.baud_char != "0"
                self._seed = meter.new_seed()
                return self._block(self._say(PasswordRequest(self._seed)))
            return b""
        if isinstance(event, BaudChange):
            return b""  # TCP has no baud; ignore_baud is modelled by garbling
        if isinstance(event, PasswordCommand):
            if meter.locked:
                return self._refuse(self._block(self._say(ErrorResponse(programming.ER_LOCKED))))
            level = meter.check_password(event.kind, event.data, self._seed)
            if level is None:
                self.log.rejected_passwords += 1
                if meter.wrong_password_reply == "error" or meter.locked:
                    code = programming.ER_LOCKED if meter.locked else programming.ER_ACCESS
                    return self._refuse(self._block(self._say(ErrorResponse(code))))
                return self._refuse(self._say(Nak()))
            self._level = level
            self.log.logins += 1
            return self._say(Ack())
        if isinstance(event, ReadRequest):
            self.log.reads += 1
            try:
                answer = programming.read(meter, event.address)
            except programming.ProgrammingError as exc:
                return self._refuse(self._block(self._say(ErrorResponse(exc.code))))
            return self._block(self._say(ReadResponse(answer)))
        if isinstance(event, WriteRequest):
            self.log.writes += 1
            if self._level is None or (self._level < meter.write_level
                                       and not programming.selects_a_read(meter,
                                                                          event.address)):
                return self._refuse(self._block(self._say(ErrorResponse(programming.ER_ACCESS))))
            try:
                programming.write(meter, event.address, event.value)
            except programming.ProgrammingError as exc:
                self.log.errors.append(str(exc))
                return self._refuse(self._block(self._say(ErrorResponse(exc.code))))
            return self._say(Ack())
        if isinstance(event, ProfileRequest):
            return self._profile(meter, event)
        if isinstance(event, Ack) and self._blocks is not None:
            return self._send_block()
        if isinstance(event, CorruptFrame):
            return self._say(Nak())
        if isinstance(event, Retransmit):
            return event.data
        if isinstance(event, Break):
            self.meter = None
            self._blocks = None
        return b""

    def _profile(self, meter: SimMeter, event: ProfileRequest) -> bytes:
        """R5/R6 of P.01 or P.98: the answer computed for the range asked, R6 in blocks
        of whole lines, ``(ERROR)`` when the range holds nothing."""
        self.log.profile_reads += 1
        rec = meter.recorder
        if rec is None or rec.config.dialect != "vdew" or event.address not in (PROFILE,
                                                                                LOGBOOK):
            return self._refuse(self._block(self._say(ErrorResponse(programming.ER_UNKNOWN))))
        try:
            start, stop = parse_range(event.param)
        except ProfileDecodeError:
            return self._refuse(self._block(self._say(ErrorResponse(programming.ER_MALFORMED))))
        now = meter.utc_now
        lo = None if start is None else rec.clock.to_utc(start)
        hi = None if stop is None else rec.clock.to_utc(stop)
        if event.address == PROFILE:
            lines = encode_sections(rec.sections(now, lo, hi))
        else:
            lines = encode_entries(rec.logbook(now, lo, hi))
        if not event.partial:
            text = "".join(lines)
            if not text:
                return self._block(self._say(ProfileEmpty(event.address)))
            return self._block(self._say(ProfileData(text)))
        self._blocks = split_blocks(lines, PARTIAL_BLOCK_CHARS)
        self._next_block = next(self._blocks, None)
        if self._next_block is None:
            self._blocks = None
            return self._block(self._say(ProfileEmpty(event.address)))
        return self._send_block()

    def _send_block(self) -> bytes:
        assert self._blocks is not None and self._next_block is not None
        text = self._next_block
        self._next_block = next(self._blocks, None)
        final = self._next_block is None
        if final:
            self._blocks = None
        self.log.profile_blocks += 1
        return self._block(self._say(ProfileData(text, final)))
