"""The sans-IO link connection's shared core (h11 model): bytes in, events out.

What both roles do alike lives here: framing, the timers, the selective-repeat transfers
(DATA and SACK), termination (ABORT, time-outs, protocol errors) and the counters. What a
role does with a request or a response, and which commands it takes, is its side's:
``dock_side.DockConnection`` and ``hhu_side.HhuConnection``, each with its dispatch tables
(message class -> handler, command class -> handler, timer -> handler) and its transition
table ``(phase, trigger) -> next phase``. Triggers are ``"cmd:<Command>"`` (our caller),
``"rx:<FRAME>"`` (a frame from the peer) and ``"ev:<what>"`` (internal: a transfer
finished, a timer fired). A trigger missing from the table is a LocalProtocolError for
commands and a RemoteProtocolError for frames. The coarse ``state`` (IDLE, HANDSHAKE,
READY, CLOSED, ERROR) is derived from the fine ``phase``.

``Connection(role, ...)`` builds the side of ``role``: both sides are Connections.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

from . import messages as m
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    Abort,
    Aborted,
    Command,
    Event,
    HelloInfo,
    LinkSettings,
    LinkStats,
    Role,
    TimedOut,
)
from .framing import MAX_FRAME_BODY, FrameDecoder, encode_frame
from .reasons import Phase, ReasonCode, State
from .selective_repeat import LineEstimate, Receiver, Sender, choose_encoding
from .timers import Timers

__all__ = [
    "ABORT_REASON_MAX",
    "DATA_EVENT_MAX",
    "MAX_PAYLOAD",
    "MAX_WINDOW",
    "START_PAYLOAD",
    "Connection",
    "Transitions",
]

MAX_WINDOW = 8192  # frames; the 16-bit sequence space needs window < 32768
MAX_PAYLOAD = 65536
START_PAYLOAD = 256  # first data frames are small; the size grows as the line proves clean
ABORT_REASON_MAX = 200
# BundleData events carry whole frame payloads, joined up to about this many bytes: the HHU
# application sees bounded pieces (RAM, checkpoint granularity) whatever the frame size.
DATA_EVENT_MAX = 16384

Transitions = dict[tuple[str, str], str]

_COARSE = {
    "IDLE": "IDLE",
    "HELLO_SENT": "HANDSHAKE",
    "AUTH_SENT": "HANDSHAKE",
    "CHALLENGED": "HANDSHAKE",
    "CLOSED": "CLOSED",
    "ERROR": "ERROR",
}
_TERMINAL = frozenset({"CLOSED", "ERROR"})


def _default_random(n: int) -> bytes:
    return os.urandom(n)


class Connection(ABC):
    """One link session between a dock and an HHU. See docs/link-api-contract.md.

    Abstract: each side fills in the three hooks marked so. ``Connection(role, ...)``
    still builds either side at run time (``__new__`` picks it); typed code names the
    side it builds (``DockConnection(Role.DOCK, ...)``), which a type checker can see
    is concrete.
    """

    #: the role a side plays (set by ``class X(Connection, role=...)``)
    ROLE: ClassVar[Role]
    #: its state machine
    TRANSITIONS: ClassVar[Transitions]
    #: frames it takes from its peer (besides DATA, SACK and ABORT), by type byte
    PEER_TYPES: ClassVar[frozenset[int]]
    #: message class -> handler(self, message, body); each takes the class it is filed under
    MESSAGES: ClassVar[Mapping[type[m.Message], Callable[[Any, Any, bytes], None]]]
    #: command class -> handler(self, command)
    COMMANDS: ClassVar[Mapping[type[Command], Callable[[Any, Any], None]]]
    #: timer name -> handler(self)
    TIMERS: ClassVar[Mapping[str, Callable[[Any], None]]]

    _SIDES: ClassVar[dict[Role, type[Connection]]] = {}   # role -> its side's class

    def __init_subclass__(cls, *, role: Role, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.ROLE = role
        Connection._SIDES[role] = cls

    def __new__(cls, role: Role, **kwargs: Any) -> Self:
        """The side of ``role``; its ``__init__`` is this class's, for both sides."""
        if not isinstance(role, Role):
            raise LocalProtocolError(f"role must be a Role, not {role!r}")
        side = Connection._SIDES[role]
        if not issubclass(side, cls):
            raise LocalProtocolError(f"{cls.__name__} is no {role.value} connection")
        return object.__new__(side)

    def __init__(
        self,
        role: Role,
        *,
        settings: LinkSettings = LinkSettings(),  # noqa: B008 - frozen, safe as default
        key: bytes | None = None,
        hello: HelloInfo | None = None,
        keys: Callable[[str], bytes | None] | None = None,
        random: Callable[[int], bytes] = _default_random,
    ) -> None:
        _check_settings(settings)
        self.role = role
        self.settings = settings
        self._random = random
        self.stats = LinkStats()
        self._decoder = FrameDecoder(MAX_FRAME_BODY)
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._error: RemoteProtocolError | None = None
        self._phase = "IDLE"
        self._terminal = False   # phase is CLOSED or ERROR
        self._timers = Timers()
        # the layout of REFUSE/ABORT: ours until HELLO/CHALLENGE agree (section 4)
        self._version = settings.max_version
        #: dock: the HHU aborted our HELLO before any CHALLENGE in the version-1 layout (no
        #: code) or with VERSION_UNSUPPORTED, while we offered more than the minimum: an
        #: HHU that takes only an older HELLO (section 4, "Falling back"); HHU: False
        self.hello_rejected = False
        self.hhu_id: str | None = None
        self.close_reason: str | None = None
        # negotiated with the peer
        self._peer_window = 1
        self._peer_max_payload = settings.min_frame_payload
        self._compression: tuple[str, ...] = ()
        # transfers
        self._sender: Sender | None = None
        self._receiver: Receiver | None = None
        self._next_seq = 0
        self._line = LineEstimate(START_PAYLOAD, settings.ack_timeout)  # our sending side
        self._rx_quiet = 0  # rx timer expiries in a row
        self._init_side(key=key, hello=hello, keys=keys)

    @abstractmethod
    def _init_side(self, *, key: bytes | None, hello: HelloInfo | None,
                   keys: Callable[[str], bytes | None] | None) -> None:
        """Check and keep the arguments of this role (those of the other are ignored)."""

    # ------------------------------------------------------------------ public surface

    @property
    def phase(self) -> Phase:
        """Fine-grained state (a key of the transition table)."""
        return Phase(self._phase)

    @property
    def state(self) -> State:
        """Coarse state: IDLE, HANDSHAKE, READY, CLOSED or ERROR."""
        return State(_COARSE.get(self._phase, "READY"))

    @property
    def version(self) -> int:
        """The protocol version in use (the highest both speak, once CHALLENGE is seen)."""
        return self._version

    def receive_data(self, data: bytes, now: float | None = None) -> None:
        """Feed bytes read from the port; b"" means end of stream (cable cut).

        ``now`` is the driver's monotonic clock in seconds when the bytes were read (the
        core never reads a clock). The time since the last call counts against the
        timers that wait for a frame, not those that wait for silence (timers.py); the
        data sender also measures the line rate with it and keeps frames short enough
        for the ack timer (docs/link-protocol.md, section 5). Omitted: no time has passed.
        """
        if self._terminal:
            if data and self._phase == "CLOSED":
                self._closed_receive(data)
            return
        if not data:
            self._terminate(Aborted("connection lost (end of stream)", by_peer=False,
                                    code=ReasonCode.CONNECTION_LOST), None)
            return
        if now is not None and self._timers.advance(now, False):
            self._fire(self._timers.pop_expired(frame_only=True))
            if self._terminal:
                return
        st = self.stats
        st.bytes_received += len(data)
        dec = self._decoder
        frames = dec.feed(data)
        st.crc_errors = dec.crc_errors
        st.framing_errors = dec.framing_errors
        if not frames:
            return
        st.frames_received += len(frames)
        progressed = st.frames_progressed
        try:
            for body in frames:
                t = body[0]
                if t == m.T_DATA:
                    self._on_data(body)
                elif t == m.T_SACK:
                    self._on_sack(body, now)
                else:
                    self._on_frame(body)
                if self._terminal:
                    break
            if not self._terminal:
                self._after_batch()
        except RemoteProtocolError as exc:
            self._protocol_error(exc)
        if st.frames_progressed != progressed and not self._terminal:
            self._progressed()

    def next_event(self) -> Event | type[NEED_DATA]:
        if self._events:
            return self._events.popleft()
        if self._error is not None:
            raise RemoteProtocolError(str(self._error))
        return NEED_DATA

    def send(self, command: Command, now: float | None = None) -> None:
        """Act on ``command``; its bytes are queued for data_to_send(). ``now``: as in
        receive_data(); the timers it arms count from it."""
        if now is not None and not self._terminal:
            self._timers.advance(now, True)
        if self._terminal:
            raise LocalProtocolError(
                f"connection is {self.state} ({self.close_reason or self._phase}); "
                f"cannot send {type(command).__name__}"
            )
        if isinstance(command, Abort):
            self._terminate(Aborted(command.reason, by_peer=False, code=command.code),
                            command.reason)
            return
        handler = self.COMMANDS.get(type(command))
        if handler is None:
            raise LocalProtocolError(
                f"{type(command).__name__} is not a {self.ROLE.value} command"
            )
        handler(self, command)

    def data_to_send(self, now: float | None = None) -> bytes:
        """Everything queued for the wire since the last call (may be ``b""``)."""
        if not self._terminal:
            if now is not None:
                self._timers.advance(now, True)
            snd = self._sender
            if snd is not None and snd.fill() and "tx" not in self._timers:
                self._timers.set("tx", self.settings.ack_timeout)
        if not self._out:
            return b""
        out = bytes(self._out)
        self._out.clear()
        self.stats.bytes_sent += len(out)
        return out

    def next_deadline(self) -> float | None:
        """When, on the driver's clock, the next timer runs out; None: no timer runs.

        Before the driver has passed any ``now`` the clock counts from 0.
        """
        return None if self._terminal else self._timers.deadline()

    def handle_timeout(self, now: float | None = None) -> None:
        """The driver's clock reached ``next_deadline()``: fire the timers that ran out.

        ``now`` omitted: exactly at the next deadline (for tests on a virtual clock). The
        time since the last call was silence: every timer runs down by it.
        """
        timers = self._timers
        if self._terminal or not timers:
            return
        if now is None:
            if timers.now is None:
                timers.now = 0.0   # no clock given yet: a virtual one from 0
            now = self.next_deadline()
            assert now is not None
        timers.advance(now, True)
        self._fire(timers.pop_expired())

    def _fire(self, names: list[str]) -> None:
        handlers = self.TIMERS
        try:
            for name in names:
                if self._terminal:
                    break
                self.stats.timeouts += 1
                handlers[name](self)
        except RemoteProtocolError as exc:  # pragma: no cover - timers do not parse frames
            self._protocol_error(exc)

    # ------------------------------------------------------------------ helpers

    def _go(self, trigger: str) -> str:
        nxt = self.TRANSITIONS.get((self._phase, trigger))
        if nxt is None:
            what = trigger.split(":", 1)[1]
            if trigger.startswith("cmd:"):
                raise LocalProtocolError(f"{what} not allowed in state {self._phase}")
            raise RemoteProtocolError(f"{what} not expected in state {self._phase}")
        self._phase = nxt
        self._terminal = nxt in _TERMINAL
        return nxt

    def _emit_frame(self, body: bytes | bytearray) -> bytes:
        frame = encode_frame(body)
        self._out.append(0)  # ends whatever junk the line holds before this frame
        self._out += frame
        self.stats.frames_sent += 1
        return frame

    def _emit_again(self, frame: bytes) -> None:
        """Send an already encoded frame once more (a resend)."""
        self._out.append(0)
        self._out += frame
        st = self.stats
        st.frames_resent += 1
        st.frames_sent += 1

    def _refuse(self, req: int, code: ReasonCode, reason: str) -> bytes:
        """A REFUSE body in the agreed version's layout (version 1: no code)."""
        return m.Refuse(req, code, reason).encode(self._version)

    def _close(self, reason: str | None) -> None:
        """Enter a terminal phase: no timer runs, no transfer goes on."""
        self._terminal = True
        self._timers.clear()
        self._sender = None
        self.close_reason = reason
        self._closed()

    def _closed(self) -> None:
        """The side's cleanup when the connection ends (nothing by default)."""
        return None   # an optional hook: a side overrides it when it needs it

    def _terminate(self, event: Aborted | TimedOut, abort_reason: str | None) -> None:
        """Enter ERROR with ``event``; tell the peer with an ABORT frame (the event's code,
        ``abort_reason`` as its text) if a reason is given."""
        if abort_reason is not None:
            raw = abort_reason.encode()[:ABORT_REASON_MAX].decode(errors="ignore")
            self._emit_frame(m.AbortMsg(event.code, raw).encode(self._version))
        self._phase = "ERROR"
        self._close(event.reason or None if isinstance(event, Aborted) else event.what)
        self._events.append(event)

    def _abort(self, reason: str, code: ReasonCode) -> None:
        self._terminate(Aborted(reason, by_peer=False, code=code), reason)

    def _timed_out(self, what: str, code: ReasonCode = ReasonCode.TIMED_OUT) -> None:
        self._terminate(TimedOut(what, code), f"timed out: {what}")

    def _protocol_error(self, exc: RemoteProtocolError) -> None:
        if not self._terminal:
            raw = f"protocol error: {exc}".encode()[:ABORT_REASON_MAX].decode(errors="ignore")
            self._emit_frame(m.AbortMsg(ReasonCode.PROTOCOL_ERROR, raw).encode(self._version))
        self._phase = "ERROR"
        self._close(str(exc))
        self._error = exc

    def _negotiated(self, rx_window: int, rx_max_payload: int) -> None:
        """What the peer can take, as its HELLO or WELCOME announced it."""
        self._peer_window = max(1, min(rx_window, MAX_WINDOW))
        self._peer_max_payload = max(16, min(rx_max_payload, MAX_PAYLOAD))

    def _new_sender(self, data: bytes | memoryview) -> Sender:
        enc, body = choose_encoding(data, self._compression)
        if enc:
            self.stats.objects_compressed += 1
        else:
            self.stats.objects_raw += 1
        if self._sender is not None:  # an earlier transfer whose tail ack was lost
            self._next_seq = max(self._next_seq, self._sender.nxt)
        s = self.settings
        snd = Sender(
            stats=self.stats,
            out=self._out,
            body=body,
            encoding=enc,
            seq0=self._next_seq,
            window=min(s.window, self._peer_window),
            max_payload=min(s.max_frame_payload, self._peer_max_payload),
            min_payload=min(s.min_frame_payload, self._peer_max_payload),
            line=self._line,
            retry_limit=s.retry_limit,
        )
        self._sender = snd
        return snd

    def _new_receiver(self, seq0: int, need: int, keep: bool = False) -> Receiver:
        rx = Receiver(seq0=seq0, window=self.settings.window, need=need,
                      allowed=self._compression, keep=keep)
        self._receiver = rx
        self._rx_quiet = 0
        self._timers.set("rx", self.settings.ack_timeout)
        return rx

    # ------------------------------------------------------------------ frames in

    def _on_data(self, body: bytes) -> None:
        if len(body) < 3:
            raise RemoteProtocolError("DATA: frame too short")
        if len(body) - 3 > self.settings.max_frame_payload:
            raise RemoteProtocolError("DATA: payload larger than announced")
        rx = self._receiver
        if rx is None:
            self._data_without_transfer()
            return
        nxt = rx.nxt
        held = len(rx.ooo)
        rx.on_data((body[1] << 8) | body[2], memoryview(body)[3:])  # no copy until take()
        if rx.nxt != nxt or len(rx.ooo) != held:
            self.stats.frames_progressed += 1   # new data, not a duplicate
        if rx.complete and not rx.reported:
            rx.reported = True
            self._timers.cancel("rx")
            self._go("ev:complete")
            self._received(rx)

    def _on_sack(self, body: bytes, now: float | None = None) -> None:
        if len(body) < 3:
            raise RemoteProtocolError("SACK: frame too short")
        st = self.stats
        st.acks_received += 1
        snd = self._sender
        if snd is None:
            return
        if snd.on_sack((body[1] << 8) | body[2], body[3:], now):
            st.frames_progressed += 1
            self._timers.set("tx", self.settings.ack_timeout)
        if snd.failed:
            self._abort(snd.failed, ReasonCode.RETRY_LIMIT)
            return
        if snd.done:
            self._timers.cancel("tx")
            self._next_seq = snd.nxt
            self._sender = None
            self._sent(snd)

    def _on_frame(self, body: bytes) -> None:
        msg = m.parse_body(body)
        if isinstance(msg, m.AbortMsg):
            self._on_abort(msg, body)
            self._terminate(Aborted(msg.reason, by_peer=True, code=msg.code), None)
            return
        if msg.TYPE not in self.PEER_TYPES:
            raise RemoteProtocolError(f"{msg.NAME} is not {self._peer_frames}")
        # every request and response carries its request id first, right after the type
        self._on_message(msg, body, body[1])

    _peer_frames: ClassVar[str]   # "a dock frame" / "an HHU frame"

    def _after_batch(self) -> None:
        rx = self._receiver
        if rx is not None and rx.ack_due:
            rx.ack_due = False
            self._emit_frame(rx.sack_body())
            self.stats.acks_sent += 1
            if not rx.complete:
                self._rx_quiet = 0
                self._timers.set("rx", self.settings.ack_timeout)
        self._after_frames()

    # ------------------------------------------------------------------ hooks of a side

    @abstractmethod
    def _on_message(self, msg: m.Message, body: bytes, req: int) -> None:
        """A request or response (never DATA, SACK or ABORT) from the peer."""

    def _on_abort(self, msg: m.AbortMsg, body: bytes) -> None:
        """The peer's ABORT, before the connection ends (nothing by default)."""
        return None   # an optional hook: a side overrides it when it needs it

    def _data_without_transfer(self) -> None:
        """DATA with no transfer running: stale data of an earlier session (ignored)."""
        return None   # an optional hook: a side overrides it when it needs it

    @abstractmethod
    def _received(self, rx: Receiver) -> None:
        """The object coming in is complete (phase already moved on)."""

    def _sent(self, snd: Sender) -> None:
        """The object going out is acknowledged in full (nothing by default)."""
        return None   # an optional hook: a side overrides it when it needs it

    def _after_frames(self) -> None:
        """A batch of frames was handled (progress, delivery)."""
        return None   # an optional hook: a side overrides it when it needs it

    def _progressed(self) -> None:
        """A batch of frames moved the session on (nothing by default)."""
        return None   # an optional hook: a side overrides it when it needs it

    def _closed_receive(self, data: bytes) -> None:
        """Bytes after CLOSED (ignored by default)."""
        return None   # an optional hook: a side overrides it when it needs it

    # ------------------------------------------------------------------ timers

    def _timer_rx(self) -> None:
        rx = self._receiver
        if rx is None or rx.complete:
            return
        self._rx_quiet += 1
        if self._rx_quiet > self.settings.retry_limit:
            self._timed_out("data")
            return
        self.stats.retries += 1
        self._emit_frame(rx.sack_body())  # our last SACK may have been lost
        self.stats.acks_sent += 1
        self._timers.set("rx", self.settings.ack_timeout)

    def _timer_tx(self) -> None:
        snd = self._sender
        if snd is None or not snd.inflight:
            return
        snd.on_timeout()
        if snd.failed:
            self._timed_out(f"acknowledgement of data ({snd.failed})", ReasonCode.RETRY_LIMIT)
            return
        self._timers.set("tx", self.settings.ack_timeout)

    #: the timers of the transfers, which both sides run
    TRANSFER_TIMERS: ClassVar[Mapping[str, Callable[[Any], None]]]


Connection.TRANSFER_TIMERS = {"rx": Connection._timer_rx, "tx": Connection._timer_tx}


def _check_settings(s: LinkSettings) -> None:
    if not isinstance(s, LinkSettings):
        raise LocalProtocolError("settings must be a LinkSettings")
    if not 1 <= s.window <= MAX_WINDOW:
        raise LocalProtocolError(f"window must be 1..{MAX_WINDOW}")
    if not 16 <= s.min_frame_payload <= s.max_frame_payload <= MAX_PAYLOAD:
        raise LocalProtocolError(
            f"need 16 <= min_frame_payload <= max_frame_payload <= {MAX_PAYLOAD}"
        )
    if not m.MIN_PROTOCOL_VERSION <= s.min_version <= s.max_version <= m.PROTOCOL_VERSION:
        raise LocalProtocolError(f"need {m.MIN_PROTOCOL_VERSION} <= min_version <= max_version"
                                 f" <= {m.PROTOCOL_VERSION}")
    if s.retry_limit < 0 or s.ack_timeout <= 0 or s.idle_timeout <= 0:
        raise LocalProtocolError("retry_limit >= 0 and positive time-outs needed")
