"""The sans-IO link connection (h11 model): bytes in, events out; commands in, bytes out.

State machines are the transition tables ``DOCK_TRANSITIONS`` and ``HHU_TRANSITIONS``:
``(phase, trigger) -> next phase``. Triggers are ``"cmd:<Command>"`` (our caller),
``"rx:<FRAME>"`` (a frame from the peer) and ``"ev:<what>"`` (internal: a transfer finished,
a timer fired). A trigger missing from the table is a LocalProtocolError for commands and a
RemoteProtocolError for frames. The coarse ``state`` (IDLE, HANDSHAKE, READY, CLOSED, ERROR)
is derived from the fine ``phase``.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable
from typing import Any

from hhu_sync.ids import RULE as ID_RULE
from hhu_sync.ids import is_safe_name

from . import messages as m
from .auth import (
    DOCK_LABEL,
    HHU_LABEL,
    MAC_SIZE,
    NONCE_SIZE,
    check_mac,
    hello_from_wire,
    hello_to_wire,
    mac,
)
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    Abort,
    Aborted,
    AcceptBundle,
    AckUpload,
    Authenticated,
    BundleAlreadyHeld,
    BundleCommitted,
    BundleData,
    BundleOffered,
    BundleReceived,
    BundleRefused,
    BundleStored,
    Close,
    Command,
    ConnectionClosed,
    Event,
    GetUpload,
    HelloInfo,
    LinkSettings,
    LinkStats,
    Progress,
    ProvideUpload,
    PutBundle,
    RefuseBundle,
    RefuseUpload,
    Role,
    StartHandshake,
    TimedOut,
    UploadAcknowledged,
    UploadCleared,
    UploadDeleted,
    UploadReceived,
    UploadRefused,
    UploadRequested,
)
from .framing import MAX_FRAME_BODY, FrameDecoder, encode_frame
from .reasons import CODE_LIMIT, Phase, ReasonCode, State
from .selective_repeat import LineEstimate, Receiver, Sender, choose_encoding

__all__ = ["Connection", "DOCK_TRANSITIONS", "HHU_TRANSITIONS", "MAX_WINDOW"]

MAX_WINDOW = 8192  # frames; the 16-bit sequence space needs window < 32768
MAX_PAYLOAD = 65536
START_PAYLOAD = 256  # first data frames are small; the size grows as the line proves clean
ABORT_REASON_MAX = 200
# BundleData events carry whole frame payloads, joined up to about this many bytes: the HHU
# application sees bounded pieces (RAM, checkpoint granularity) whatever the frame size.
DATA_EVENT_MAX = 16384

DOCK_TRANSITIONS: dict[tuple[str, str], str] = {
    ("IDLE", "cmd:StartHandshake"): "HELLO_SENT",
    ("HELLO_SENT", "rx:CHALLENGE"): "AUTH_SENT",
    ("AUTH_SENT", "rx:WELCOME"): "READY",
    # PUT bundle
    ("READY", "cmd:PutBundle"): "OFFER_SENT",
    ("OFFER_SENT", "rx:ACCEPT"): "PUT_SENDING",
    ("OFFER_SENT", "rx:HELD"): "READY",
    ("OFFER_SENT", "rx:REFUSE"): "READY",
    ("PUT_SENDING", "ev:all_acked"): "DONE_SENT",
    ("DONE_SENT", "rx:COMMITTED"): "READY",
    ("DONE_SENT", "rx:REFUSE"): "READY",
    # GET upload
    ("READY", "cmd:GetUpload"): "GET_SENT",
    ("GET_SENT", "rx:UPSTART"): "GET_RECEIVING",
    ("GET_SENT", "rx:REFUSE"): "READY",
    ("GET_RECEIVING", "ev:complete"): "READY",
    ("READY", "cmd:AckUpload"): "ACKUP_SENT",
    ("ACKUP_SENT", "rx:CLEARED"): "READY",
    # keepalive and close
    ("READY", "ev:keepalive"): "PING_SENT",
    ("PING_SENT", "rx:PONG"): "READY",
    ("READY", "cmd:Close"): "CLOSE_SENT",
    ("CLOSE_SENT", "rx:CLOSED"): "CLOSED",
}

HHU_TRANSITIONS: dict[tuple[str, str], str] = {
    ("IDLE", "rx:HELLO"): "CHALLENGED",
    ("CHALLENGED", "rx:AUTH"): "READY",
    # PUT bundle
    ("READY", "rx:OFFER"): "OFFERED",
    ("OFFERED", "cmd:AcceptBundle"): "RECEIVING",
    ("OFFERED", "cmd:BundleAlreadyHeld"): "READY",
    ("OFFERED", "cmd:RefuseBundle"): "READY",
    ("RECEIVING", "ev:complete"): "RECEIVED",
    ("RECEIVED", "rx:DONE"): "RECEIVED",  # answered BUSY until the app's verdict
    ("RECEIVED", "cmd:BundleCommitted"): "VERDICT",
    ("RECEIVED", "cmd:RefuseBundle"): "VERDICT",
    ("VERDICT", "rx:DONE"): "READY",
    # GET upload
    ("READY", "rx:GET"): "UPLOAD_REQUESTED",
    ("UPLOAD_REQUESTED", "cmd:ProvideUpload"): "READY",
    ("UPLOAD_REQUESTED", "cmd:RefuseUpload"): "READY",
    ("READY", "rx:ACKUP"): "ACK_REQUESTED",
    ("ACK_REQUESTED", "cmd:UploadDeleted"): "READY",
    # keepalive and close
    ("READY", "rx:PING"): "READY",
    ("READY", "rx:CLOSE"): "CLOSED",
}

_COARSE = {
    "IDLE": "IDLE",
    "HELLO_SENT": "HANDSHAKE",
    "AUTH_SENT": "HANDSHAKE",
    "CHALLENGED": "HANDSHAKE",
    "CLOSED": "CLOSED",
    "ERROR": "ERROR",
}
_TERMINAL = frozenset({"CLOSED", "ERROR"})
_PRE_AUTH_FRAMES = frozenset({m.T_HELLO, m.T_AUTH, m.T_ABORT})


def _default_random(n: int) -> bytes:
    return os.urandom(n)


class Connection:
    """One link session between a dock and an HHU. See docs/link-api-contract.md."""

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
        if not isinstance(role, Role):
            raise LocalProtocolError(f"role must be a Role, not {role!r}")
        _check_settings(settings)
        self.role = role
        self.settings = settings
        self._random = random
        if role is Role.HHU:
            if not isinstance(key, bytes | bytearray) or len(key) < 16:
                raise LocalProtocolError("an HHU needs its key (32 bytes)")
            if not isinstance(hello, HelloInfo):
                raise LocalProtocolError("an HHU needs its HelloInfo")
            self._hello_wire = hello_to_wire(hello)
            if not is_safe_name(hello.hhu_id):
                raise LocalProtocolError(f"HelloInfo.hhu_id {hello.hhu_id!r} breaks the"
                                         f" identifier rule: {ID_RULE}")
            if len(self._hello_wire) > 0xFFFF:
                raise LocalProtocolError("HelloInfo too large for one frame")
            self._table = HHU_TRANSITIONS
        else:
            if keys is None:
                raise LocalProtocolError("a dock needs keys(hhu_id) -> key | None")
            self._table = DOCK_TRANSITIONS
        self._key = bytes(key) if key is not None else None
        self._hello = hello
        self._keys = keys
        self.stats = LinkStats()
        self._decoder = FrameDecoder(MAX_FRAME_BODY)
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._error: RemoteProtocolError | None = None
        self._phase = "IDLE"
        # Each timer's remaining seconds, run down by the clock the driver passes in
        # (``now`` on every entry point): see _advance() and docs/architecture.md.
        self._timers: dict[str, float] = {}
        self._now: float | None = None   # the driver's clock at its last call; None: none yet
        # the layout of REFUSE/ABORT: ours until HELLO/CHALLENGE agree (section 4)
        self._version = settings.max_version
        #: dock: the HHU aborted our HELLO before any CHALLENGE in the version-1 layout (no
        #: code) or with VERSION_UNSUPPORTED, while we offered more than the minimum: an
        #: HHU that takes only an older HELLO (section 4, "Falling back")
        self.hello_rejected = False
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
        self._transcript: list[bytes] = []
        self.hhu_id: str | None = hello.hhu_id if hello is not None else None
        self.close_reason: str | None = None
        # dock: one request outstanding at a time, the rest queued
        self._queue: deque[Command] = deque()
        self._req_id = 0
        self._req: int | None = None
        self._req_name = ""
        self._req_frame = b""
        self._req_retries = 0
        self._req_busy_wait: float | None = None
        self._op: Command | None = None
        self._op_sha = b""
        self._op_size = 0
        self._op_offset = 0
        self._progress_reported = -1
        self._peer_hello: HelloInfo | None = None
        # hhu: the answer to the last request, and a request waiting for the app
        self._last_req: int | None = None
        self._last_resp = b""
        self._app_req: int | None = None
        self._offer: m.Offer | None = None
        self._get: m.Get | None = None
        self._ackup: m.AckUp | None = None
        self._verdict: tuple[int, ReasonCode, str] | None = None
        self._rx_offset = 0
        if role is Role.HHU:
            self._timers["idle"] = settings.idle_timeout

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
        timers that wait for a frame, not those that wait for silence (see _advance());
        the data sender also measures the line rate with it and keeps frames short
        enough for the ack timer (docs/link-protocol.md, section 5). Omitted: no time
        has passed.
        """
        if data:
            self._advance(now, silent=False)
        if self._phase in _TERMINAL:
            if self._phase == "CLOSED" and self.role is Role.HHU and data:
                self._closed_hhu_receive(data)
            return
        if not data:
            self._terminate(Aborted("connection lost (end of stream)", by_peer=False,
                                    code=ReasonCode.CONNECTION_LOST), None)
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
                if self._phase in _TERMINAL:
                    break
            if self._phase not in _TERMINAL:
                self._after_batch()
        except RemoteProtocolError as exc:
            self._protocol_error(exc)
        # Only a frame that moved the session on holds it open: a valid CRC alone is no
        # progress (a repeated request, stale data, an old SACK), or one peer sending such
        # frames, or junk, would keep the HHU's one session forever (section 3, idle).
        if (self.role is Role.HHU and st.frames_progressed != progressed
                and self._phase not in _TERMINAL):
            self._timers["idle"] = self.settings.idle_timeout

    def next_event(self) -> Event | type[NEED_DATA]:
        if self._events:
            return self._events.popleft()
        if self._error is not None:
            raise RemoteProtocolError(str(self._error))
        return NEED_DATA

    def send(self, command: Command, now: float | None = None) -> None:
        """Act on ``command``; its bytes are queued for data_to_send(). ``now``: as in
        receive_data(); the timers it arms count from it."""
        self._advance(now, silent=True)
        if self._phase in _TERMINAL:
            raise LocalProtocolError(
                f"connection is {self.state} ({self.close_reason or self._phase}); "
                f"cannot send {type(command).__name__}"
            )
        if isinstance(command, Abort):
            self._terminate(Aborted(command.reason, by_peer=False, code=command.code),
                            command.reason)
            return
        handler = _HANDLERS[self.role].get(type(command))
        if handler is None:
            raise LocalProtocolError(
                f"{type(command).__name__} is not a {self.role.value} command"
            )
        handler(self, command)

    def data_to_send(self, now: float | None = None) -> bytes:
        """Everything queued for the wire since the last call (may be ``b""``)."""
        self._advance(now, silent=True)
        snd = self._sender
        if snd is not None and self._phase not in _TERMINAL:
            if snd.fill() and "tx" not in self._timers:
                self._timers["tx"] = self.settings.ack_timeout
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
        if self._phase in _TERMINAL or not self._timers:
            return None
        return (self._now or 0.0) + min(self._timers.values())

    def handle_timeout(self, now: float | None = None) -> None:
        """The driver's clock reached ``next_deadline()``: fire the timers that ran out.

        ``now`` omitted: exactly at the next deadline (for tests on a virtual clock). The
        time since the last call was silence: every timer runs down by it.
        """
        if self._phase in _TERMINAL or not self._timers:
            return
        if now is None:
            if self._now is None:
                self._now = 0.0   # no clock given yet: a virtual one from 0
            now = self.next_deadline()
        self._advance(now, silent=True)
        timers = self._timers
        fired = [name for name, left in timers.items() if left <= _TIMER_SLACK_S]
        for name in fired:
            del timers[name]
        try:
            for name in sorted(fired, key=_TIMER_ORDER.index):
                if self._phase in _TERMINAL:
                    break
                self.stats.timeouts += 1
                _TIMER_HANDLERS[name](self)
        except RemoteProtocolError as exc:  # pragma: no cover - timers do not parse frames
            self._protocol_error(exc)

    def _advance(self, now: float | None, *, silent: bool) -> None:
        """Run the timers down by the time since the driver's last ``now``.

        Silence (``silent``: nothing was received since) runs every timer down. Time in
        which bytes arrived runs down only the timers that wait for a *frame*: the dock's
        bound on the wait for an answer and the HHU's idle limit (section 3); those that
        wait for silence (resends, SACKs, keepalive) keep their meaning, so a long frame
        still arriving on a slow line is no reason to resend, while junk bytes or frames
        that do not move the session on cannot hold the first two still. A frame timer
        that ran out while bytes came fires here; the others fire in handle_timeout().
        """
        if now is None:
            return
        last, self._now = self._now, now
        if last is None or self._phase in _TERMINAL:
            return
        dt = now - last
        if dt <= 0 or not self._timers:
            return
        timers = self._timers
        if silent:
            for name in timers:
                timers[name] -= dt
            return
        fired = []
        for name in _FRAME_TIMERS:
            if name in timers:
                timers[name] -= dt
                if timers[name] <= _TIMER_SLACK_S:
                    del timers[name]
                    fired.append(name)
        for name in fired:
            if self._phase in _TERMINAL:
                break
            self.stats.timeouts += 1
            _TIMER_HANDLERS[name](self)

    # ------------------------------------------------------------------ helpers

    def _go(self, trigger: str) -> str:
        nxt = self._table.get((self._phase, trigger))
        if nxt is None:
            what = trigger.split(":", 1)[1]
            if trigger.startswith("cmd:"):
                raise LocalProtocolError(f"{what} not allowed in state {self._phase}")
            raise RemoteProtocolError(f"{what} not expected in state {self._phase}")
        self._phase = nxt
        return nxt

    def _emit_frame(self, body: bytes | bytearray) -> bytes:
        frame = encode_frame(body)
        self._out.append(0)  # ends whatever junk the line holds before this frame
        self._out += frame
        self.stats.frames_sent += 1
        return frame

    def _terminate(self, event: Aborted | TimedOut, abort_reason: str | None) -> None:
        """Enter ERROR with ``event``; tell the peer with an ABORT frame (the event's code,
        ``abort_reason`` as its text) if a reason is given."""
        if abort_reason is not None:
            raw = abort_reason.encode()[:ABORT_REASON_MAX].decode(errors="ignore")
            self._emit_frame(m.AbortMsg(event.code, raw).encode(self._version))
        self._phase = "ERROR"
        self._timers.clear()
        self._queue.clear()
        self._sender = None
        self.close_reason = getattr(event, "reason", None) or getattr(event, "what", None)
        self._events.append(event)

    def _abort(self, reason: str, code: ReasonCode) -> None:
        self._terminate(Aborted(reason, by_peer=False, code=code), reason)

    def _timed_out(self, what: str, code: ReasonCode = ReasonCode.TIMED_OUT) -> None:
        self._terminate(TimedOut(what, code), f"timed out: {what}")

    def _protocol_error(self, exc: RemoteProtocolError) -> None:
        if self._phase not in _TERMINAL:
            raw = f"protocol error: {exc}".encode()[:ABORT_REASON_MAX].decode(errors="ignore")
            self._emit_frame(m.AbortMsg(ReasonCode.PROTOCOL_ERROR, raw).encode(self._version))
        self._phase = "ERROR"
        self._timers.clear()
        self._queue.clear()
        self._sender = None
        self.close_reason = str(exc)
        self._error = exc

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

    # ------------------------------------------------------------------ frames in

    def _on_data(self, body: bytes) -> None:
        if len(body) < 3:
            raise RemoteProtocolError("DATA: frame too short")
        if len(body) - 3 > self.settings.max_frame_payload:
            raise RemoteProtocolError("DATA: payload larger than announced")
        rx = self._receiver
        if rx is None:
            if self._phase == "GET_SENT":
                self._resend_request()  # our GET's answer was lost, data already flows
            return  # else stale data from an earlier session: ignore
        before = (rx.nxt, len(rx.ooo))
        rx.on_data((body[1] << 8) | body[2], memoryview(body)[3:])  # no copy until take()
        if (rx.nxt, len(rx.ooo)) != before:
            self.stats.frames_progressed += 1   # new data, not a duplicate
        if rx.complete and not rx.reported:
            self._rx_complete(rx)

    def _on_sack(self, body: bytes, now: float | None = None) -> None:
        if len(body) < 3:
            raise RemoteProtocolError("SACK: frame too short")
        self.stats.acks_received += 1
        snd = self._sender
        if snd is None:
            return
        if snd.on_sack((body[1] << 8) | body[2], body[3:], now):
            self.stats.frames_progressed += 1
            self._timers["tx"] = self.settings.ack_timeout
        if snd.failed:
            self._abort(snd.failed, ReasonCode.RETRY_LIMIT)
            return
        if snd.done:
            self._timers.pop("tx", None)
            self._next_seq = snd.nxt
            self._sender = None
            if self.role is Role.DOCK and self._phase == "PUT_SENDING":
                if self._progress_reported != self._op_size:
                    self._progress_reported = self._op_size
                    self._events.append(
                        Progress("put", self._op.bundle_id, self._op_size, self._op_size)  # type: ignore[union-attr]
                    )
                self._go("ev:all_acked")
                self._send_request(m.Done, "DONE")

    def _on_frame(self, body: bytes) -> None:
        msg = m.parse_body(body)
        t = msg.TYPE
        if isinstance(msg, m.AbortMsg):
            if self.role is Role.DOCK and self._phase == "HELLO_SENT":
                codeless = len(body) < 2 or body[1] >= CODE_LIMIT
                self.hello_rejected = self.settings.max_version > m.MIN_PROTOCOL_VERSION and (
                    codeless or msg.code is ReasonCode.VERSION_UNSUPPORTED)
            self._terminate(Aborted(msg.reason, by_peer=True, code=msg.code), None)
            return
        if self.role is Role.HHU:
            if t not in m.REQUEST_TYPES:
                raise RemoteProtocolError(f"{msg.NAME} is not a dock frame")
            self._hhu_request(msg, body)
        else:
            if t not in m.RESPONSE_TYPES:
                raise RemoteProtocolError(f"{msg.NAME} is not an HHU frame")
            self._dock_response(msg, body)

    def _after_batch(self) -> None:
        rx = self._receiver
        if rx is not None:
            if rx.ack_due:
                rx.ack_due = False
                self._emit_frame(rx.sack_body())
                self.stats.acks_sent += 1
                if not rx.complete:
                    self._rx_quiet = 0
                    self._timers["rx"] = self.settings.ack_timeout
            if rx.pending and not rx.keep:
                self._deliver_bundle_data(rx)
            if rx.keep and not rx.complete and rx.got != self._progress_reported:
                self._progress_reported = rx.got
                self._events.append(
                    Progress("get", self._op.upload_id, rx.got, rx.need)  # type: ignore[union-attr]
                )
        snd = self._sender
        if snd is not None and self.role is Role.DOCK and self._phase == "PUT_SENDING":
            done = self._op_offset + _stream_to_object(snd, self._op_size - self._op_offset)
            if done != self._progress_reported:
                self._progress_reported = done
                self._events.append(
                    Progress("put", self._op.bundle_id, done, self._op_size)  # type: ignore[union-attr]
                )

    def _deliver_bundle_data(self, rx: Receiver) -> None:
        bundle_id = self._offer.bundle_id  # type: ignore[union-attr]
        for data in rx.take_chunks(DATA_EVENT_MAX):
            self.stats.payload_bytes_received += len(data)
            self._events.append(BundleData(bundle_id, self._rx_offset, data))
            self._rx_offset += len(data)

    def _rx_complete(self, rx: Receiver) -> None:
        rx.reported = True
        self._timers.pop("rx", None)
        self._go("ev:complete")
        if self.role is Role.HHU:
            if rx.pending:
                self._deliver_bundle_data(rx)
            self._events.append(BundleReceived(self._offer.bundle_id))  # type: ignore[union-attr]
            return
        # dock: the whole upload is in rx.pending
        op = self._op
        assert isinstance(op, GetUpload)
        data = rx.take()
        self.stats.payload_bytes_received += len(data)
        self._events.append(Progress("get", op.upload_id, rx.got, rx.need))
        digest = hashlib.sha256(data).digest()
        announced = {u.upload_id: u.sha256 for u in self._peer_hello.uploads}  # type: ignore[union-attr]
        expected = announced.get(op.upload_id, self._op_sha)
        if digest != self._op_sha or digest != expected:
            self._events.append(UploadRefused(op.upload_id, "digest mismatch",
                                              ReasonCode.DIGEST_MISMATCH))
        else:
            self._events.append(UploadReceived(op.upload_id, data))
        self._op = None
        self._pump()

    # ------------------------------------------------------------------ dock side

    def _next_req(self) -> int:
        self._req_id = (self._req_id + 1) & 0xFF
        return self._req_id

    def _send_request(self, cls: Callable[..., m.Message], name: str, *fields: Any) -> bytes:
        req = self._next_req()
        body = cls(req, *fields).encode()
        self._req = req
        self._req_name = name
        self._req_frame = bytes(self._emit_frame(body))
        self._req_retries = 0
        self._req_busy_wait = None
        self._timers["req"] = self.settings.ack_timeout
        # The resend timer waits for silence; this one bounds the whole wait by the clock,
        # so bytes that are no answer (junk on the line) cannot hold the request open.
        self._timers["answer"] = self.settings.idle_timeout
        self._timers.pop("keepalive", None)
        return body

    def _resend_request(self) -> None:
        self._req_retries += 1
        if self._req_retries > self.settings.retry_limit:
            self._timed_out(f"answer to {self._req_name}")
            return
        self.stats.retries += 1
        self.stats.frames_resent += 1
        self.stats.frames_sent += 1
        self._out.append(0)
        self._out += self._req_frame
        self._timers["req"] = self.settings.ack_timeout

    def _timer_req(self) -> None:
        if self._req is None:
            return
        if self._req_busy_wait is not None:  # the HHU said BUSY: bounded by idle_timeout
            self._req_busy_wait += self.settings.ack_timeout
            if self._req_busy_wait > self.settings.idle_timeout:
                self._timed_out(f"answer to {self._req_name}", ReasonCode.BUSY_LIMIT)
                return
            self._req_retries = 0
        self._resend_request()

    def _timer_answer(self) -> None:
        if self._req is not None:
            busy = self._req_busy_wait is not None   # answered BUSY, then never the verdict
            self._timed_out(f"answer to {self._req_name}",
                            ReasonCode.BUSY_LIMIT if busy else ReasonCode.TIMED_OUT)

    def _timer_keepalive(self) -> None:
        if self._phase == "READY" and not self._queue:
            self._go("ev:keepalive")
            self._send_request(m.Ping, "PING")

    def _arm_keepalive(self) -> None:
        if self._phase == "READY" and not self._queue and self.role is Role.DOCK:
            self._timers["keepalive"] = self.settings.idle_timeout / 2

    def _pump(self) -> None:
        """Start the next queued dock operation when the connection is READY."""
        while self._phase == "READY" and self._queue:
            cmd = self._queue.popleft()
            self._op = cmd
            self._progress_reported = -1
            if isinstance(cmd, PutBundle):
                self._go("cmd:PutBundle")
                self._op_sha = hashlib.sha256(cmd.data).digest()
                self._op_size = len(cmd.data)
                self._op_offset = 0
                seq0 = self._sender.nxt if self._sender is not None else self._next_seq
                self._next_seq = seq0
                self._send_request(
                    m.Offer, "OFFER", seq0 & 0xFFFF, len(cmd.data), self._op_sha, cmd.bundle_id
                )
            elif isinstance(cmd, GetUpload):
                self._go("cmd:GetUpload")
                self._send_request(m.Get, "GET", 0, cmd.upload_id)
            elif isinstance(cmd, AckUpload):
                self._go("cmd:AckUpload")
                self._send_request(m.AckUp, "ACKUP", cmd.upload_id)
            else:
                self._go("cmd:Close")
                self._send_request(m.CloseReq, "CLOSE")
        self._arm_keepalive()

    def _cmd_start(self, cmd: StartHandshake) -> None:
        self._go("cmd:StartHandshake")
        s = self.settings
        self._dock_nonce = self._random(NONCE_SIZE)
        if len(self._dock_nonce) != NONCE_SIZE:
            raise LocalProtocolError("random() returned the wrong number of bytes")
        body = self._send_request(
            m.Hello, "HELLO", s.max_version, self._dock_nonce, s.window,
            s.max_frame_payload, tuple(c for c in s.compression if c in m.ENCODINGS),
        )
        self._transcript = [body]

    def _cmd_queue(self, cmd: Command) -> None:
        if self._phase == "IDLE":
            raise LocalProtocolError(f"{type(cmd).__name__} before StartHandshake")
        for name in ("bundle_id", "upload_id"):
            value = getattr(cmd, name, None)
            if value is not None and not is_safe_name(value):
                raise LocalProtocolError(f"{name} {value!r} breaks the identifier rule: {ID_RULE}")
        if isinstance(cmd, PutBundle):
            if not isinstance(cmd.data, bytes | bytearray | memoryview):
                raise LocalProtocolError("PutBundle.data must be bytes")
            if len(cmd.data) > self.settings.max_object_size:
                raise LocalProtocolError("bundle larger than max_object_size")
        if isinstance(cmd, Close | PutBundle | GetUpload | AckUpload) and any(
            isinstance(q, Close) for q in self._queue
        ):
            raise LocalProtocolError("Close already queued")
        self._queue.append(cmd)
        self._pump()

    def _dock_response(self, msg: m.Message, body: bytes) -> None:
        if self._req is None or msg.req != self._req:  # type: ignore[attr-defined]
            return  # a late duplicate answer to an earlier request
        self.stats.frames_progressed += 1
        if msg.TYPE == m.T_BUSY:
            if self._req_busy_wait is None:
                self._req_busy_wait = 0.0
                # the HHU works on it: the BUSY bound (idle_timeout) starts now
                self._timers["answer"] = self.settings.idle_timeout + self.settings.ack_timeout
            self._req_retries = 0
            return
        self._go(f"rx:{msg.NAME}")
        self._req = None
        self._timers.pop("req", None)
        self._timers.pop("answer", None)
        getattr(self, f"_dock_rx_{msg.NAME.lower()}")(msg, body)
        if self._phase == "READY":
            self._pump()

    def _dock_rx_challenge(self, msg: m.Challenge, body: bytes) -> None:
        # the HHU answers with the version it will speak: ours or an older one we speak
        s = self.settings
        if not s.min_version <= msg.version <= s.max_version:
            self._abort(f"unsupported protocol version {msg.version}",
                        ReasonCode.VERSION_UNSUPPORTED)
            return
        self._version = msg.version
        # an id that breaks the identifier rule cannot be enrolled: not asked of keys()
        key = self._keys(msg.hhu_id) if is_safe_name(msg.hhu_id) else None  # type: ignore[misc]
        if key is None:
            self._abort(f"unknown HHU {msg.hhu_id!r}", ReasonCode.NOT_ENROLLED)
            return
        self._key = bytes(key)
        self.hhu_id = msg.hhu_id
        self._transcript.append(bytes(body))
        head = m.Auth(self._req_id + 1 & 0xFF, b"\0" * MAC_SIZE).encode()[:-MAC_SIZE]
        proof = mac(self._key, DOCK_LABEL, *self._transcript, head)
        auth = self._send_request(m.Auth, "AUTH", proof)
        self._transcript.append(auth)

    def _dock_rx_welcome(self, msg: m.Welcome, body: bytes) -> None:
        head = bytes(body[:-MAC_SIZE])
        if not check_mac(self._key, HHU_LABEL, msg.mac, *self._transcript, head):  # type: ignore[arg-type]
            self._abort("HHU authentication failed", ReasonCode.AUTH_FAILED)
            return
        hello = hello_from_wire(msg.hello)
        if hello.hhu_id != self.hhu_id:
            raise RemoteProtocolError("WELCOME: hello names another HHU")
        self._peer_window = max(1, min(msg.rx_window, MAX_WINDOW))
        self._peer_max_payload = max(16, min(msg.rx_max_payload, MAX_PAYLOAD))
        self._compression = tuple(c for c in msg.compression if c in m.ENCODINGS)
        self._peer_hello = hello
        self._transcript = []
        self._events.append(Authenticated(hello.hhu_id, hello))

    def _dock_rx_accept(self, msg: m.Accept, body: bytes) -> None:
        op = self._op
        assert isinstance(op, PutBundle)
        if msg.offset > len(op.data):
            raise RemoteProtocolError(
                f"ACCEPT: offset {msg.offset} beyond the size {len(op.data)}"
            )
        self._op_offset = msg.offset
        self._new_sender(memoryview(op.data)[msg.offset :])
        self._progress_reported = msg.offset
        self._events.append(Progress("put", op.bundle_id, msg.offset, len(op.data)))

    def _dock_rx_held(self, msg: m.Held, body: bytes) -> None:
        self._events.append(BundleStored(self._op.bundle_id, already_held=True))  # type: ignore[union-attr]
        self._op = None

    def _dock_rx_refuse(self, msg: m.Refuse, body: bytes) -> None:
        op = self._op
        if isinstance(op, PutBundle):
            self._events.append(BundleRefused(op.bundle_id, msg.reason, msg.code))
        else:
            assert isinstance(op, GetUpload)
            self._events.append(UploadRefused(op.upload_id, msg.reason, msg.code))
        self._op = None

    def _dock_rx_committed(self, msg: m.Committed, body: bytes) -> None:
        self._events.append(BundleStored(self._op.bundle_id, already_held=False))  # type: ignore[union-attr]
        self._op = None

    def _dock_rx_upstart(self, msg: m.UpStart, body: bytes) -> None:
        if msg.size > self.settings.max_object_size:
            raise RemoteProtocolError("UPSTART: upload larger than max_object_size")
        self._op_sha = msg.sha256
        self._op_size = msg.size
        self._receiver = Receiver(
            seq0=msg.seq0, window=self.settings.window, need=msg.size,
            allowed=self._compression, keep=True,
        )
        self._rx_quiet = 0
        self._timers["rx"] = self.settings.ack_timeout

    def _dock_rx_cleared(self, msg: m.Cleared, body: bytes) -> None:
        self._events.append(UploadCleared(self._op.upload_id))  # type: ignore[union-attr]
        self._op = None

    def _dock_rx_pong(self, msg: m.Pong, body: bytes) -> None:
        pass

    def _dock_rx_closed(self, msg: m.CloseOk, body: bytes) -> None:
        self._timers.clear()
        self.close_reason = "closed"
        self._events.append(ConnectionClosed())

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
        self._timers["rx"] = self.settings.ack_timeout

    def _timer_tx(self) -> None:
        snd = self._sender
        if snd is None or not snd.inflight:
            return
        snd.on_timeout()
        if snd.failed:
            self._timed_out(f"acknowledgement of data ({snd.failed})", ReasonCode.RETRY_LIMIT)
            return
        self._timers["tx"] = self.settings.ack_timeout

    def _timer_idle(self) -> None:
        self._timed_out("idle", ReasonCode.IDLE_TIMEOUT)

    # ------------------------------------------------------------------ HHU side

    def _respond(self, req: int, body: bytes | bytearray) -> None:
        self._last_req = req
        self._last_resp = bytes(self._emit_frame(body))
        self._app_req = None

    def _closed_hhu_receive(self, data: bytes) -> None:
        """After CLOSE the HHU still answers a repeated CLOSE (its CLOSED may be lost)."""
        for body in self._decoder.feed(data):
            if body[0] == m.T_CLOSE and len(body) == 2 and body[1] == self._last_req:
                self._out.append(0)
                self._out += self._last_resp

    def _hhu_request(self, msg: m.Message, body: bytes) -> None:
        req = msg.req  # type: ignore[attr-defined]
        if req == self._last_req and self._last_resp:
            self._out.append(0)
            self._out += self._last_resp  # our answer was lost: same answer again
            self.stats.frames_resent += 1
            self.stats.frames_sent += 1
            return
        if req == self._app_req:
            self._emit_frame(m.Busy(req).encode())
            return
        self.stats.frames_progressed += 1   # a new request
        if self._phase in ("IDLE", "CHALLENGED") and msg.TYPE not in _PRE_AUTH_FRAMES:
            self._abort("not authenticated", ReasonCode.NOT_AUTHENTICATED)
            return
        self._go(f"rx:{msg.NAME}")
        getattr(self, f"_hhu_rx_{msg.NAME.lower()}")(msg, body)

    def _hhu_rx_hello(self, msg: m.Hello, body: bytes) -> None:
        # HELLO names the highest version the dock speaks; answer with the highest both do
        s = self.settings
        if msg.version < s.min_version:
            self._version = s.min_version
            self._abort(f"unsupported protocol version {msg.version}",
                        ReasonCode.VERSION_UNSUPPORTED)
            return
        self._version = min(msg.version, s.max_version)
        self._peer_window = max(1, min(msg.rx_window, MAX_WINDOW))
        self._peer_max_payload = max(16, min(msg.rx_max_payload, MAX_PAYLOAD))
        self._offered_compression = msg.compression
        nonce = self._random(NONCE_SIZE)
        if len(nonce) != NONCE_SIZE:
            raise LocalProtocolError("random() returned the wrong number of bytes")
        ch = m.Challenge(msg.req, self._version, nonce, self._hello.hhu_id).encode()  # type: ignore[union-attr]
        self._transcript = [bytes(body), ch]
        self._respond(msg.req, ch)

    def _hhu_rx_auth(self, msg: m.Auth, body: bytes) -> None:
        head = bytes(body[:-MAC_SIZE])
        if not check_mac(self._key, DOCK_LABEL, msg.mac, *self._transcript, head):  # type: ignore[arg-type]
            self._abort("authentication failed", ReasonCode.AUTH_FAILED)
            return
        s = self.settings
        agreed = tuple(
            c for c in s.compression if c in self._offered_compression and c in m.ENCODINGS
        )
        self._compression = agreed
        self._transcript.append(bytes(body))
        w_head = m.Welcome(
            msg.req, s.window, s.max_frame_payload, agreed, self._hello_wire, b"\0" * MAC_SIZE
        ).encode()[:-MAC_SIZE]
        proof = mac(self._key, HHU_LABEL, *self._transcript, w_head)  # type: ignore[arg-type]
        self._transcript = []
        self._respond(msg.req, w_head + proof)
        self._events.append(Authenticated(self._hello.hhu_id, self._hello))  # type: ignore[union-attr, arg-type]

    def _hhu_rx_offer(self, msg: m.Offer, body: bytes) -> None:
        if msg.size > self.settings.max_object_size:
            self._phase = "READY"
            self._respond(msg.req, self._refuse(msg.req, ReasonCode.TOO_LARGE, "bundle too large"))
            return
        self._offer = msg
        self._app_req = msg.req
        self._events.append(BundleOffered(msg.bundle_id, msg.size, msg.sha256))

    def _hhu_rx_done(self, msg: m.Done, body: bytes) -> None:
        if self._verdict is None:  # still RECEIVED: the app has not answered yet
            self._app_req = msg.req
            self._emit_frame(m.Busy(msg.req).encode())
            return
        kind, code, reason = self._verdict
        self._verdict = None
        if kind == m.T_COMMITTED:
            self._respond(msg.req, m.Committed(msg.req).encode())
        else:
            self._respond(msg.req, self._refuse(msg.req, code, reason))

    def _refuse(self, req: int, code: ReasonCode, reason: str) -> bytes:
        """A REFUSE body in the agreed version's layout (version 1: no code)."""
        return m.Refuse(req, code, reason).encode(self._version)

    def _hhu_rx_get(self, msg: m.Get, body: bytes) -> None:
        self._get = msg
        self._app_req = msg.req
        self._events.append(UploadRequested(msg.upload_id, msg.offset))

    def _hhu_rx_ackup(self, msg: m.AckUp, body: bytes) -> None:
        self._ackup = msg
        self._app_req = msg.req
        self._events.append(UploadAcknowledged(msg.upload_id))

    def _hhu_rx_ping(self, msg: m.Ping, body: bytes) -> None:
        self._respond(msg.req, m.Pong(msg.req).encode())

    def _hhu_rx_close(self, msg: m.CloseReq, body: bytes) -> None:
        self._respond(msg.req, m.CloseOk(msg.req).encode())
        self._timers.clear()
        self.close_reason = "closed"
        self._events.append(ConnectionClosed())

    def _check_id(self, got: str, want: object, what: str) -> None:
        if got != want:
            raise LocalProtocolError(f"{what} {got!r} does not match the pending {want!r}")

    def _hhu_accept(self, cmd: AcceptBundle) -> None:
        offer = self._offer
        if self._phase != "OFFERED" or offer is None:
            raise LocalProtocolError(f"AcceptBundle not allowed in state {self._phase}")
        self._check_id(cmd.bundle_id, offer.bundle_id, "bundle")
        if not 0 <= cmd.offset <= offer.size:
            raise LocalProtocolError("offset outside the offered bundle")
        req = self._app_req
        self._go("cmd:AcceptBundle")
        self._rx_offset = cmd.offset
        self._receiver = Receiver(
            seq0=offer.seq0, window=self.settings.window, need=offer.size - cmd.offset,
            allowed=self._compression,
        )
        self._rx_quiet = 0
        self._timers["rx"] = self.settings.ack_timeout
        self._respond(req, m.Accept(req, cmd.offset).encode())  # type: ignore[arg-type]

    def _hhu_held(self, cmd: BundleAlreadyHeld) -> None:
        self._check_id(cmd.bundle_id, self._offer and self._offer.bundle_id, "bundle")
        req = self._app_req
        self._go("cmd:BundleAlreadyHeld")
        self._respond(req, m.Held(req).encode())  # type: ignore[arg-type]

    def _hhu_refuse(self, cmd: RefuseBundle) -> None:
        self._check_id(cmd.bundle_id, self._offer and self._offer.bundle_id, "bundle")
        if self._phase == "OFFERED":
            req = self._app_req
            self._go("cmd:RefuseBundle")
            self._respond(req, self._refuse(req, cmd.code, cmd.reason))  # type: ignore[arg-type]
        else:
            self._verdict_cmd("cmd:RefuseBundle", (m.T_REFUSE, cmd.code, cmd.reason))

    def _hhu_committed(self, cmd: BundleCommitted) -> None:
        self._check_id(cmd.bundle_id, self._offer and self._offer.bundle_id, "bundle")
        self._verdict_cmd("cmd:BundleCommitted", (m.T_COMMITTED, ReasonCode.UNSPECIFIED, ""))

    def _verdict_cmd(self, trigger: str, verdict: tuple[int, ReasonCode, str]) -> None:
        self._go(trigger)
        self._verdict = verdict
        if self._app_req is not None:  # the dock's DONE is already waiting
            req = self._app_req
            self._go("rx:DONE")
            self._hhu_rx_done(m.Done(req), b"")

    def _hhu_provide(self, cmd: ProvideUpload) -> None:
        get = self._get
        if self._phase != "UPLOAD_REQUESTED" or get is None:
            raise LocalProtocolError(f"ProvideUpload not allowed in state {self._phase}")
        self._check_id(cmd.upload_id, get.upload_id, "upload")
        req = self._app_req
        data = cmd.data
        self._go("cmd:ProvideUpload")
        if get.offset > len(data):
            self._respond(req, self._refuse(req, ReasonCode.BAD_OFFSET,  # type: ignore[arg-type]
                                            "offset beyond the upload size"))
            return
        sha = hashlib.sha256(data).digest()
        snd = self._new_sender(memoryview(data)[get.offset :])
        self._respond(req, m.UpStart(req, snd.una & 0xFFFF, len(data), sha).encode())  # type: ignore[arg-type]

    def _hhu_refuse_upload(self, cmd: RefuseUpload) -> None:
        self._check_id(cmd.upload_id, self._get and self._get.upload_id, "upload")
        req = self._app_req
        self._go("cmd:RefuseUpload")
        self._respond(req, self._refuse(req, cmd.code, cmd.reason))  # type: ignore[arg-type]

    def _hhu_deleted(self, cmd: UploadDeleted) -> None:
        self._check_id(cmd.upload_id, self._ackup and self._ackup.upload_id, "upload")
        req = self._app_req
        self._go("cmd:UploadDeleted")
        self._respond(req, m.Cleared(req).encode())  # type: ignore[arg-type]


def _stream_to_object(snd: Sender, remaining: int) -> int:
    """Object bytes acknowledged so far (scaled when the stream is compressed)."""
    acked = max(0, snd.acked_pos - 1)
    body = snd.total - 1
    if body <= 0:
        return remaining
    if body == remaining:
        return acked
    return remaining * acked // body


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


_TIMER_ORDER = ["rx", "tx", "req", "answer", "keepalive", "idle"]
_FRAME_TIMERS = ("answer", "idle")   # wait for a frame, not for silence: see _advance()
_TIMER_SLACK_S = 1e-6   # a timer this close to its end has run out (float sums)
_TIMER_HANDLERS: dict[str, Callable[[Connection], None]] = {
    "rx": Connection._timer_rx,
    "tx": Connection._timer_tx,
    "req": Connection._timer_req,
    "answer": Connection._timer_answer,
    "keepalive": Connection._timer_keepalive,
    "idle": Connection._timer_idle,
}

# Any: each handler takes the command type it is filed under.
_HANDLERS: dict[Role, dict[type, Callable[[Connection, Any], None]]] = {
    Role.DOCK: {
        StartHandshake: Connection._cmd_start,
        PutBundle: Connection._cmd_queue,
        GetUpload: Connection._cmd_queue,
        AckUpload: Connection._cmd_queue,
        Close: Connection._cmd_queue,
    },
    Role.HHU: {
        AcceptBundle: Connection._hhu_accept,
        BundleAlreadyHeld: Connection._hhu_held,
        RefuseBundle: Connection._hhu_refuse,
        BundleCommitted: Connection._hhu_committed,
        ProvideUpload: Connection._hhu_provide,
        RefuseUpload: Connection._hhu_refuse_upload,
        UploadDeleted: Connection._hhu_deleted,
    },
}
