"""A thin IEC 62056-21 mode C driver: :class:`ClientConnection` over a :class:`Transport`.

The sans-IO connection decides what to say and when a retry is due; this module only
moves bytes, keeps time and turns the outcome into results or typed errors. Every wait
is bounded (per answer and per exchange), every read counted, and the one fall-back it
knows (a meter that ignores the baud rate it proposed) is tried at most once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hhu_sync.errors import HhuSyncError
from hhu_sync.iec62056 import (
    NEED_DATA,
    BaudChange,
    Break,
    ClientConnection,
    ClientSettings,
    ClientState,
    ConnectionStats,
    ErrorResponse,
    Identification,
    Iec62056Error,
    OptionSelect,
    Password,
    PasswordAccepted,
    PasswordRejected,
    PasswordRequest,
    Readout,
    ReadRequest,
    ReadResponse,
    Retransmit,
    SignOnRequest,
    TimedOut,
    WriteAccepted,
    WriteRequest,
)
from hhu_sync.meterio.transport import Transport

INITIAL_BAUD = 300
_BREAKABLE = (ClientState.IDENTIFIED, ClientState.AWAIT_P0, ClientState.PASSWORD_NEEDED,
              ClientState.PROGRAMMING)


class MeterIOError(HhuSyncError):
    """Talking to a meter failed; the message says at which step."""


class MeterTimeout(MeterIOError):
    """No (complete) answer in time, after the retries the connection allows."""

    def __init__(self, message: str, *, after_baud_change: bool = False,
                 previous_baud: int | None = None) -> None:
        super().__init__(message)
        self.after_baud_change = after_baud_change
        self.previous_baud = previous_baud


class PasswordRefused(MeterIOError):
    """The meter answered the password with NAK or an error (``code``)."""

    def __init__(self, code: str | None) -> None:
        super().__init__("the meter refused the password" + (f" ({code})" if code else ""))
        self.code = code


class MeterRefused(MeterIOError):
    """The meter answered an R1/W1 with ``ERxx``."""

    def __init__(self, code: str, address: str, op: str) -> None:
        super().__init__(f"the meter refused {op} {address}: {code}")
        self.code = code
        self.address = address


@dataclass(frozen=True)
class DriverSettings:
    """Driver knobs. ``reaction_s`` None: the identification's minimum reaction time.

    ``answer_timeout_s`` is the silence after which the connection is told it timed out
    (it then retries or gives up, bounded by ``max_retries``); ``exchange_timeout_s`` caps
    one whole exchange even while bytes keep trickling in; ``budget_s`` caps one whole
    operation (a readout with its fall-back, or a programming session from its sign-on
    to its break); ``max_reads`` caps the reads of one exchange for transports whose
    reads take no time.
    """

    echo: bool = False
    max_retries: int = 3
    answer_timeout_s: float = 1.5
    exchange_timeout_s: float = 180.0
    budget_s: float = 900.0
    reaction_s: float | None = None
    baud_fallback: bool = True
    max_reads: int = 100_000


@dataclass(frozen=True)
class ReadoutResult:
    identification: Identification
    readout: Readout
    baud: int


@dataclass
class DriverStats:
    """Per client: connections opened, fall-backs taken, and each connection's counters."""

    sessions: int = 0
    baud_fallbacks: int = 0
    connections: list[ConnectionStats] = field(default_factory=list)

    @property
    def retransmits(self) -> int:
        return sum(s.retransmits for s in self.connections)

    @property
    def timeouts(self) -> int:
        return sum(s.timeouts for s in self.connections)


def password_kind(password: str, kind: str = "auto") -> str:
    """``auto``: P2 (ciphered with the seed) when the password has the 8 characters P2
    needs, else P1 (plain)."""
    if kind != "auto":
        return kind
    return "P2" if len(password) == 8 else "P1"


class MeterClient:
    """Sessions with one meter over a transport: readouts and programming mode."""

    def __init__(self, transport: Transport, settings: DriverSettings | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.transport = transport
        self.settings = settings or DriverSettings()
        self.stats = DriverStats()
        self._clock = clock
        self._op_deadline: float | None = None   # the running operation's budget

    # -- the event loop -----------------------------------------------------------------

    def _await(self, conn: ClientConnection, what: str) -> Any:
        """The next event worth the caller's attention; handles retries and baud.

        Why three clocks: the answer time-out restarts only when a frame arrives or a
        frame being received grows (junk the framer drops does not restart it), the
        exchange and the operation's budget are absolute, so bytes trickling in hold
        neither a request nor the whole session past its deadline.
        """
        now = self._clock()
        deadline = now + self.settings.exchange_timeout_s
        if self._op_deadline is not None:
            deadline = min(deadline, self._op_deadline)
        answer_by = now + self.settings.answer_timeout_s
        held = conn.framer.buffered
        reads = 0
        repeated = False
        while True:
            try:
                ev = conn.next_event()
            except Iec62056Error as exc:
                raise MeterIOError(f"{what}: {exc}") from exc
            now = self._clock()
            if ev is NEED_DATA:
                if conn.framer.buffered > held:          # a frame is arriving
                    answer_by = now + self.settings.answer_timeout_s
                held = conn.framer.buffered
                reads += 1
                if reads > self.settings.max_reads or now >= deadline:
                    raise MeterTimeout(self._late(what, deadline))
                if now >= answer_by:
                    answer_by = now + self.settings.answer_timeout_s
                    self._tell_timeout(conn, what)
                    continue
                data = self.transport.read(max(0.0, min(answer_by, deadline) - now))
                try:
                    if data:
                        conn.receive_data(data)
                    else:
                        conn.handle_timeout(self._clock())
                        answer_by = self._clock() + self.settings.answer_timeout_s
                except Iec62056Error as exc:
                    raise MeterIOError(f"{what}: {exc}") from exc
                continue
            answer_by = now + self.settings.answer_timeout_s
            held = conn.framer.buffered
            if isinstance(ev, Retransmit):
                self.transport.write(ev.data)
                repeated = True
            elif isinstance(ev, BaudChange):
                self.transport.set_baud(ev.baud)
            elif isinstance(ev, TimedOut):
                raise MeterTimeout(f"{what}: no answer (waiting for {ev.waiting_for} at "
                                   f"{ev.baud} baud)", after_baud_change=ev.after_baud_change,
                                   previous_baud=ev.previous_baud)
            elif isinstance(ev, Break):
                raise MeterIOError(f"{what}: the meter ended the session")
            else:
                if repeated:
                    self._drain_stale(conn, deadline)
                return ev

    def _drain_stale(self, conn: ClientConnection, deadline: float) -> None:
        """After an answer to a repeated request: read and drop what else comes until the
        line has been quiet for an answer time-out (or the exchange's deadline), so a
        late second answer is not taken for the next request's."""
        dropped = 0
        quiet_by = min(self._clock() + self.settings.answer_timeout_s, deadline)
        for _ in range(self.settings.max_reads):
            now = self._clock()
            if now >= quiet_by:
                break
            data = self.transport.read(quiet_by - now)
            if data:
                dropped += len(data)
                quiet_by = min(self._clock() + self.settings.answer_timeout_s, deadline)
        conn.discard_stale(dropped)

    def _late(self, what: str, deadline: float) -> str:
        if self._op_deadline is not None and deadline >= self._op_deadline:
            return f"{what}: not done within the budget of {self.settings.budget_s:g} s"
        return f"{what}: no complete answer within {self.settings.exchange_timeout_s:g} s"

    def _tell_timeout(self, conn: ClientConnection, what: str) -> None:
        try:
            conn.handle_timeout(self._clock())
        except Iec62056Error as exc:
            raise MeterIOError(f"{what}: {exc}") from exc

    def _send(self, conn: ClientConnection, event: Any) -> None:
        try:
            conn.send(event)
            data = conn.data_to_send()
        except Iec62056Error as exc:
            raise MeterIOError(f"cannot send {type(event).__name__}: {exc}") from exc
        self.transport.write(data)

    def _start(self, address: str, mode: str) -> tuple[ClientConnection, Identification, Any]:
        """Sign on and select ``mode``; falls back to 300 baud once if the meter went
        silent right after the switch (it ignored the rate it proposed)."""
        max_baud: int | None = None
        attempts = 2 if self.settings.baud_fallback else 1
        for attempt in range(1, attempts + 1):
            self.transport.set_baud(INITIAL_BAUD)
            conn = ClientConnection(ClientSettings(echo=self.settings.echo,
                                                   max_retries=self.settings.max_retries,
                                                   max_baud=max_baud))
            self.stats.sessions += 1
            self.stats.connections.append(conn.stats)
            self._send(conn, SignOnRequest(address))
            ident = self._await(conn, "sign-on")
            if not isinstance(ident, Identification):
                raise MeterIOError(f"sign-on: unexpected {type(ident).__name__}")
            reaction = self.settings.reaction_s
            self.transport.pause(ident.min_reaction_time if reaction is None else reaction)
            self._send(conn, OptionSelect(mode))
            try:
                first = self._await(conn, "readout" if mode == "0" else "programming mode")
            except MeterTimeout as exc:
                if exc.after_baud_change and attempt < attempts:
                    self.stats.baud_fallbacks += 1
                    max_baud = exc.previous_baud or INITIAL_BAUD
                    continue
                raise
            return conn, ident, first
        raise AssertionError("unreachable")  # pragma: no cover

    # -- public ---------------------------------------------------------------------------

    def readout(self, address: str = "") -> ReadoutResult:
        """A full readout (mode C, option 0)."""
        self._op_deadline = self._clock() + self.settings.budget_s
        conn, ident, ev = self._start(address, "0")
        if not isinstance(ev, Readout):
            raise MeterIOError(f"readout: unexpected {type(ev).__name__}")
        return ReadoutResult(ident, ev, conn.baud)

    def programming(self, address: str, password: str,
                    kind: str = "auto") -> ProgrammingSession:
        """Open programming mode with ``password``; PasswordRefused if the meter says no.
        The session's requests share one budget, counted from here."""
        self._op_deadline = self._clock() + self.settings.budget_s
        conn, ident, ev = self._start(address, "1")
        if not isinstance(ev, PasswordRequest):
            raise MeterIOError(f"programming mode: unexpected {type(ev).__name__}")
        session = ProgrammingSession(self, conn, ident)
        self._send(conn, Password(password, password_kind(password, kind)))
        answer = self._await(conn, "password")
        if isinstance(answer, PasswordRejected):
            session.close()
            raise PasswordRefused(answer.code)
        if not isinstance(answer, PasswordAccepted):
            raise MeterIOError(f"password: unexpected {type(answer).__name__}")
        return session


class ProgrammingSession:
    """An open programming-mode session: R1 / W1, then :meth:`close` (break)."""

    def __init__(self, client: MeterClient, conn: ClientConnection,
                 identification: Identification) -> None:
        self.client = client
        self.conn = conn
        self.identification = identification
        self.reads = 0
        self.writes = 0

    def read(self, address: str, param: str = "") -> ReadResponse:
        self.client._send(self.conn, ReadRequest(address, param))
        self.reads += 1
        ev = self.client._await(self.conn, f"R1 {address}")
        if isinstance(ev, ErrorResponse):
            raise MeterRefused(ev.code, address, "R1")
        if not isinstance(ev, ReadResponse):
            raise MeterIOError(f"R1 {address}: unexpected {type(ev).__name__}")
        return ev

    def read_value(self, address: str) -> str:
        """The text inside the answer's first ``(...)`` (what was written there)."""
        data = self.read(address).data
        head, _, rest = data.partition("(")
        return rest[:-1] if rest.endswith(")") else rest

    def write(self, address: str, value: str) -> None:
        self.client._send(self.conn, WriteRequest(address, value))
        self.writes += 1
        ev = self.client._await(self.conn, f"W1 {address}")
        if isinstance(ev, ErrorResponse):
            raise MeterRefused(ev.code, address, "W1")
        if not isinstance(ev, WriteAccepted):
            raise MeterIOError(f"W1 {address}: unexpected {type(ev).__name__}")

    def close(self) -> None:
        """Send the break if the connection is still open (best effort, never raises)."""
        if self.conn.errored or self.conn.state not in _BREAKABLE:
            return
        try:
            self.client._send(self.conn, Break())
        except (MeterIOError, OSError):
            pass

    def __enter__(self) -> ProgrammingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
