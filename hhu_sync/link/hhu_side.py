"""The HHU's side of the link: it answers the dock's requests, asking its application
(events) where the answer is the application's to give (accept, verdict, upload)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from hhu_sync.ids import RULE as ID_RULE
from hhu_sync.ids import is_safe_name

from . import messages as m
from .core import DATA_EVENT_MAX, Connection, Transitions
from .errors import LocalProtocolError
from .events import (
    AcceptBundle,
    Authenticated,
    BundleAlreadyHeld,
    BundleCommitted,
    BundleData,
    BundleOffered,
    BundleReceived,
    ConnectionClosed,
    HelloInfo,
    ProvideUpload,
    RefuseBundle,
    RefuseUpload,
    Role,
    UploadAcknowledged,
    UploadDeleted,
    UploadRequested,
)
from .handshake import HhuHandshake, Refused
from .reasons import ReasonCode
from .selective_repeat import Receiver

__all__ = ["HHU_TRANSITIONS", "HhuConnection"]

HHU_TRANSITIONS: Transitions = {
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

_PRE_AUTH_FRAMES = frozenset({m.T_HELLO, m.T_AUTH, m.T_ABORT})


class HhuConnection(Connection, role=Role.HHU):
    """The HHU's connection: build it with ``Connection(Role.HHU, key=..., hello=...)``."""

    TRANSITIONS = HHU_TRANSITIONS
    PEER_TYPES = m.REQUEST_TYPES
    _peer_frames = "a dock frame"

    def _init_side(self, *, key: bytes | None, hello: HelloInfo | None,
                   keys: Callable[[str], bytes | None] | None) -> None:
        if not isinstance(key, bytes | bytearray) or len(key) < 16:
            raise LocalProtocolError("an HHU needs its key (32 bytes)")
        if not isinstance(hello, HelloInfo):
            raise LocalProtocolError("an HHU needs its HelloInfo")
        if not is_safe_name(hello.hhu_id):
            raise LocalProtocolError(f"HelloInfo.hhu_id {hello.hhu_id!r} breaks the"
                                     f" identifier rule: {ID_RULE}")
        self._handshake = HhuHandshake(self.settings, self._random, key, hello)
        self.hhu_id = hello.hhu_id
        # the answer to the last request (sent again if the request comes again)
        self._last_req: int | None = None
        self._last_resp = b""
        # a request the application answers (it gets BUSY meanwhile)
        self._app_req: int | None = None
        self._offer: m.Offer | None = None
        self._get: m.Get | None = None
        self._ackup: m.AckUp | None = None
        self._verdict: tuple[int, ReasonCode, str] | None = None
        self._rx_offset = 0
        self._timers.set("idle", self.settings.idle_timeout)

    def _progressed(self) -> None:
        # Only a frame that moved the session on holds it open: a valid CRC alone is no
        # progress (a repeated request, stale data, an old SACK), or one peer sending such
        # frames, or junk, would keep the HHU's one session forever (section 3, idle).
        self._timers.set("idle", self.settings.idle_timeout)

    def _respond(self, req: int, body: bytes | bytearray) -> None:
        self._last_req = req
        self._last_resp = self._emit_frame(body)
        self._app_req = None

    def _closed_receive(self, data: bytes) -> None:
        """After CLOSE the HHU still answers a repeated CLOSE (its CLOSED may be lost)."""
        for body in self._decoder.feed(data):
            if body[0] == m.T_CLOSE and len(body) == 2 and body[1] == self._last_req:
                self._out.append(0)
                self._out += self._last_resp

    # ------------------------------------------------------------------ requests

    def _on_message(self, msg: m.Message, body: bytes, req: int) -> None:
        if req == self._last_req and self._last_resp:
            self._emit_again(self._last_resp)  # our answer was lost: same answer again
            return
        if req == self._app_req:
            self._emit_frame(m.Busy(req).encode())
            return
        self.stats.frames_progressed += 1   # a new request
        if self._phase in ("IDLE", "CHALLENGED") and msg.TYPE not in _PRE_AUTH_FRAMES:
            self._abort("not authenticated", ReasonCode.NOT_AUTHENTICATED)
            return
        self._go("rx:" + msg.NAME)
        self.MESSAGES[type(msg)](self, msg, body)

    def _refused(self, no: Refused) -> None:
        if no.version is not None:
            self._version = no.version
        self._abort(no.reason, no.code)

    def _rx_hello(self, msg: m.Hello, body: bytes) -> None:
        # HELLO names the highest version the dock speaks; answer with the highest both do
        try:
            version = HhuHandshake.version(self.settings, msg.version)
        except Refused as no:
            self._refused(no)
            return
        self._version = version
        self._negotiated(msg.rx_window, msg.rx_max_payload)
        self._respond(msg.req, self._handshake.on_hello(msg, body, version))

    def _rx_auth(self, msg: m.Auth, body: bytes) -> None:
        try:
            welcome, self._compression = self._handshake.on_auth(msg, body)
        except Refused as no:
            self._refused(no)
            return
        self._respond(msg.req, welcome)
        hello = self._handshake.hello
        self._events.append(Authenticated(hello.hhu_id, hello))

    def _rx_offer(self, msg: m.Offer, body: bytes) -> None:
        if msg.size > self.settings.max_object_size:
            self._phase = "READY"
            self._respond(msg.req, self._refuse(msg.req, ReasonCode.TOO_LARGE, "bundle too large"))
            return
        self._offer = msg
        self._app_req = msg.req
        self._events.append(BundleOffered(msg.bundle_id, msg.size, msg.sha256))

    def _rx_done(self, msg: m.Done, body: bytes) -> None:
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

    def _rx_get(self, msg: m.Get, body: bytes) -> None:
        self._get = msg
        self._app_req = msg.req
        self._events.append(UploadRequested(msg.upload_id, msg.offset))

    def _rx_ackup(self, msg: m.AckUp, body: bytes) -> None:
        self._ackup = msg
        self._app_req = msg.req
        self._events.append(UploadAcknowledged(msg.upload_id))

    def _rx_ping(self, msg: m.Ping, body: bytes) -> None:
        self._respond(msg.req, m.Pong(msg.req).encode())

    def _rx_close(self, msg: m.CloseReq, body: bytes) -> None:
        self._respond(msg.req, m.CloseOk(msg.req).encode())
        self._close("closed")
        self._events.append(ConnectionClosed())

    MESSAGES = {
        m.Hello: _rx_hello,
        m.Auth: _rx_auth,
        m.Offer: _rx_offer,
        m.Done: _rx_done,
        m.Get: _rx_get,
        m.AckUp: _rx_ackup,
        m.Ping: _rx_ping,
        m.CloseReq: _rx_close,
    }

    # ------------------------------------------------------------------ commands

    def _pending(self) -> int:
        """The request the application is answering (the phase says one waits)."""
        req = self._app_req
        assert req is not None, self._phase
        return req

    @staticmethod
    def _check_id(got: str, want: object, what: str) -> None:
        if got != want:
            raise LocalProtocolError(f"{what} {got!r} does not match the pending {want!r}")

    def _cmd_accept(self, cmd: AcceptBundle) -> None:
        offer = self._offer
        if self._phase != "OFFERED" or offer is None:
            raise LocalProtocolError(f"AcceptBundle not allowed in state {self._phase}")
        self._check_id(cmd.bundle_id, offer.bundle_id, "bundle")
        if not 0 <= cmd.offset <= offer.size:
            raise LocalProtocolError("offset outside the offered bundle")
        req = self._pending()
        self._go("cmd:AcceptBundle")
        self._rx_offset = cmd.offset
        self._new_receiver(offer.seq0, offer.size - cmd.offset)
        self._respond(req, m.Accept(req, cmd.offset).encode())

    def _cmd_held(self, cmd: BundleAlreadyHeld) -> None:
        self._check_id(cmd.bundle_id, self._offer and self._offer.bundle_id, "bundle")
        self._go("cmd:BundleAlreadyHeld")
        req = self._pending()
        self._respond(req, m.Held(req).encode())

    def _cmd_refuse(self, cmd: RefuseBundle) -> None:
        self._check_id(cmd.bundle_id, self._offer and self._offer.bundle_id, "bundle")
        if self._phase == "OFFERED":
            self._go("cmd:RefuseBundle")
            req = self._pending()
            self._respond(req, self._refuse(req, cmd.code, cmd.reason))
        else:
            self._verdict_cmd("cmd:RefuseBundle", (m.T_REFUSE, cmd.code, cmd.reason))

    def _cmd_committed(self, cmd: BundleCommitted) -> None:
        self._check_id(cmd.bundle_id, self._offer and self._offer.bundle_id, "bundle")
        self._verdict_cmd("cmd:BundleCommitted", (m.T_COMMITTED, ReasonCode.UNSPECIFIED, ""))

    def _verdict_cmd(self, trigger: str, verdict: tuple[int, ReasonCode, str]) -> None:
        self._go(trigger)
        self._verdict = verdict
        if self._app_req is not None:  # the dock's DONE is already waiting
            req = self._app_req
            self._go("rx:DONE")
            self._rx_done(m.Done(req), b"")

    def _cmd_provide(self, cmd: ProvideUpload) -> None:
        get = self._get
        if self._phase != "UPLOAD_REQUESTED" or get is None:
            raise LocalProtocolError(f"ProvideUpload not allowed in state {self._phase}")
        self._check_id(cmd.upload_id, get.upload_id, "upload")
        req = self._pending()
        data = cmd.data
        self._go("cmd:ProvideUpload")
        if get.offset > len(data):
            self._respond(req, self._refuse(req, ReasonCode.BAD_OFFSET,
                                            "offset beyond the upload size"))
            return
        sha = hashlib.sha256(data).digest()
        snd = self._new_sender(memoryview(data)[get.offset :])
        self._respond(req, m.UpStart(req, snd.una & 0xFFFF, len(data), sha).encode())

    def _cmd_refuse_upload(self, cmd: RefuseUpload) -> None:
        self._check_id(cmd.upload_id, self._get and self._get.upload_id, "upload")
        self._go("cmd:RefuseUpload")
        req = self._pending()
        self._respond(req, self._refuse(req, cmd.code, cmd.reason))

    def _cmd_deleted(self, cmd: UploadDeleted) -> None:
        self._check_id(cmd.upload_id, self._ackup and self._ackup.upload_id, "upload")
        self._go("cmd:UploadDeleted")
        req = self._pending()
        self._respond(req, m.Cleared(req).encode())

    COMMANDS = {
        AcceptBundle: _cmd_accept,
        BundleAlreadyHeld: _cmd_held,
        RefuseBundle: _cmd_refuse,
        BundleCommitted: _cmd_committed,
        ProvideUpload: _cmd_provide,
        RefuseUpload: _cmd_refuse_upload,
        UploadDeleted: _cmd_deleted,
    }

    # ------------------------------------------------------------------ transfers

    def _after_frames(self) -> None:
        rx = self._receiver
        if rx is not None and rx.pending:
            self._deliver(rx)

    def _deliver(self, rx: Receiver) -> None:
        offer = self._offer
        assert offer is not None   # data flows only for an accepted offer
        for data in rx.take_chunks(DATA_EVENT_MAX):
            self.stats.payload_bytes_received += len(data)
            self._events.append(BundleData(offer.bundle_id, self._rx_offset, data))
            self._rx_offset += len(data)

    def _received(self, rx: Receiver) -> None:
        if rx.pending:
            self._deliver(rx)
        offer = self._offer
        assert offer is not None
        self._events.append(BundleReceived(offer.bundle_id))

    # ------------------------------------------------------------------ timers

    def _timer_idle(self) -> None:
        self._timed_out("idle", ReasonCode.IDLE_TIMEOUT)

    TIMERS = {
        **Connection.TRANSFER_TIMERS,
        "idle": _timer_idle,
    }
