"""The dock's side of the link: it asks (handshake, PUT, GET, ACKUP, PING, CLOSE), the HHU
answers. Commands queue; one operation runs at a time (request_engine.py)."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable

from hhu_sync.ids import RULE as ID_RULE
from hhu_sync.ids import is_safe_name

from . import messages as m
from .core import Connection, Transitions
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    AckUpload,
    Authenticated,
    BundleRefused,
    BundleStored,
    Close,
    ConnectionClosed,
    GetUpload,
    HelloInfo,
    Progress,
    PutBundle,
    Role,
    StartHandshake,
    UploadCleared,
    UploadReceived,
    UploadRefused,
)
from .handshake import DockHandshake, Refused, hello_rejected
from .reasons import ReasonCode
from .request_engine import RequestEngine
from .selective_repeat import Receiver, Sender

__all__ = ["DOCK_TRANSITIONS", "DockConnection"]

DOCK_TRANSITIONS: Transitions = {
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

#: what the dock queues; one runs at a time
Operation = PutBundle | GetUpload | AckUpload | Close


def _stream_to_object(snd: Sender, remaining: int) -> int:
    """Object bytes acknowledged so far (scaled when the stream is compressed)."""
    acked = max(0, snd.acked_pos - 1)
    body = snd.total - 1
    if body <= 0:
        return remaining
    if body == remaining:
        return acked
    return remaining * acked // body


class DockConnection(Connection, role=Role.DOCK):
    """The dock's connection: build it with ``Connection(Role.DOCK, keys=..., ...)``."""

    TRANSITIONS = DOCK_TRANSITIONS
    PEER_TYPES = m.RESPONSE_TYPES
    _peer_frames = "an HHU frame"

    def _init_side(self, *, key: bytes | None, hello: HelloInfo | None,
                   keys: Callable[[str], bytes | None] | None) -> None:
        if keys is None:
            raise LocalProtocolError("a dock needs keys(hhu_id) -> key | None")
        self._handshake = DockHandshake(self.settings, self._random, keys)
        self._requests = RequestEngine(
            self.settings, self._timers, self.stats,
            emit=self._emit_frame, emit_again=self._emit_again, timed_out=self._timed_out,
        )
        self._peer_hello: HelloInfo | None = None
        # one operation runs, the rest wait
        self._queue: deque[Operation] = deque()
        self._op: Operation | None = None
        self._op_sha = b""
        self._op_size = 0
        self._op_offset = 0
        self._progress_reported = -1

    def _closed(self) -> None:
        self._queue.clear()

    # ------------------------------------------------------------------ the operation

    def _put(self) -> PutBundle:
        op = self._op
        assert isinstance(op, PutBundle), op   # the phase says a PUT runs
        return op

    def _get(self) -> GetUpload:
        op = self._op
        assert isinstance(op, GetUpload), op
        return op

    def _ack(self) -> AckUpload:
        op = self._op
        assert isinstance(op, AckUpload), op
        return op

    def _pump(self) -> None:
        """Start the next queued operation when the connection is READY."""
        while self._phase == "READY" and self._queue:
            self._start(self._queue.popleft())
        if self._phase == "READY" and not self._queue:
            self._timers.set("keepalive", self.settings.idle_timeout / 2)

    def _start(self, op: Operation) -> None:
        self._op = op
        self._progress_reported = -1
        send = self._requests.send
        if isinstance(op, PutBundle):
            self._go("cmd:PutBundle")
            sha = self._op_sha = hashlib.sha256(op.data).digest()
            size = self._op_size = len(op.data)
            self._op_offset = 0
            seq0 = self._sender.nxt if self._sender is not None else self._next_seq
            self._next_seq = seq0
            send(lambda req: m.Offer(req, seq0 & 0xFFFF, size, sha, op.bundle_id))
        elif isinstance(op, GetUpload):
            self._go("cmd:GetUpload")
            send(lambda req: m.Get(req, 0, op.upload_id))
        elif isinstance(op, AckUpload):
            self._go("cmd:AckUpload")
            send(lambda req: m.AckUp(req, op.upload_id))
        else:
            self._go("cmd:Close")
            send(m.CloseReq)

    # ------------------------------------------------------------------ commands

    def _cmd_start(self, cmd: StartHandshake) -> None:
        self._go("cmd:StartHandshake")
        self._handshake.sent(self._requests.send(self._handshake.hello))

    def _cmd_queue(self, cmd: Operation) -> None:
        if self._phase == "IDLE":
            raise LocalProtocolError(f"{type(cmd).__name__} before StartHandshake")
        if isinstance(cmd, PutBundle):
            self._check_id("bundle_id", cmd.bundle_id)
            if not isinstance(cmd.data, bytes | bytearray | memoryview):
                raise LocalProtocolError("PutBundle.data must be bytes")
            if len(cmd.data) > self.settings.max_object_size:
                raise LocalProtocolError("bundle larger than max_object_size")
        elif isinstance(cmd, GetUpload | AckUpload):
            self._check_id("upload_id", cmd.upload_id)
        if any(isinstance(q, Close) for q in self._queue):
            raise LocalProtocolError("Close already queued")
        self._queue.append(cmd)
        self._pump()

    @staticmethod
    def _check_id(name: str, value: str) -> None:
        if not is_safe_name(value):
            raise LocalProtocolError(f"{name} {value!r} breaks the identifier rule: {ID_RULE}")

    COMMANDS = {
        StartHandshake: _cmd_start,
        PutBundle: _cmd_queue,
        GetUpload: _cmd_queue,
        AckUpload: _cmd_queue,
        Close: _cmd_queue,
    }

    # ------------------------------------------------------------------ responses

    def _on_message(self, msg: m.Message, body: bytes, req: int) -> None:
        requests = self._requests
        if req != requests.req:
            return  # a late duplicate answer to an earlier request (or none outstanding)
        self.stats.frames_progressed += 1
        if msg.TYPE == m.T_BUSY:
            requests.on_busy()
            return
        self._go("rx:" + msg.NAME)
        requests.answered()
        self.MESSAGES[type(msg)](self, msg, body)
        if self._phase == "READY":
            self._pump()

    def _on_abort(self, msg: m.AbortMsg, body: bytes) -> None:
        if self._phase == "HELLO_SENT":
            self.hello_rejected = hello_rejected(self.settings, msg, body)

    def _refused(self, no: Refused) -> None:
        if no.version is not None:
            self._version = no.version
        self._abort(no.reason, no.code)

    def _rx_challenge(self, msg: m.Challenge, body: bytes) -> None:
        requests = self._requests
        try:
            auth = self._handshake.on_challenge(msg, body, requests.next_id)
        except Refused as no:
            self._refused(no)
            return
        self._version = msg.version
        self.hhu_id = msg.hhu_id
        self._handshake.sent(requests.send(lambda req: auth))   # req is next_id

    def _rx_welcome(self, msg: m.Welcome, body: bytes) -> None:
        try:
            hello = self._handshake.on_welcome(msg, body)
        except Refused as no:
            self._refused(no)
            return
        self._negotiated(msg.rx_window, msg.rx_max_payload)
        self._compression = tuple(c for c in msg.compression if c in m.ENCODINGS)
        self._peer_hello = hello
        self._events.append(Authenticated(hello.hhu_id, hello))

    def _rx_accept(self, msg: m.Accept, body: bytes) -> None:
        op = self._put()
        if msg.offset > len(op.data):
            raise RemoteProtocolError(
                f"ACCEPT: offset {msg.offset} beyond the size {len(op.data)}"
            )
        self._op_offset = msg.offset
        self._new_sender(memoryview(op.data)[msg.offset :])
        self._progress_reported = msg.offset
        self._events.append(Progress("put", op.bundle_id, msg.offset, len(op.data)))

    def _rx_held(self, msg: m.Held, body: bytes) -> None:
        self._events.append(BundleStored(self._put().bundle_id, already_held=True))
        self._op = None

    def _rx_refuse(self, msg: m.Refuse, body: bytes) -> None:
        op = self._op
        if isinstance(op, PutBundle):
            self._events.append(BundleRefused(op.bundle_id, msg.reason, msg.code))
        else:
            self._events.append(UploadRefused(self._get().upload_id, msg.reason, msg.code))
        self._op = None

    def _rx_committed(self, msg: m.Committed, body: bytes) -> None:
        self._events.append(BundleStored(self._put().bundle_id, already_held=False))
        self._op = None

    def _rx_upstart(self, msg: m.UpStart, body: bytes) -> None:
        if msg.size > self.settings.max_object_size:
            raise RemoteProtocolError("UPSTART: upload larger than max_object_size")
        self._op_sha = msg.sha256
        self._op_size = msg.size
        self._new_receiver(msg.seq0, msg.size, keep=True)

    def _rx_cleared(self, msg: m.Cleared, body: bytes) -> None:
        self._events.append(UploadCleared(self._ack().upload_id))
        self._op = None

    def _rx_pong(self, msg: m.Pong, body: bytes) -> None:
        pass

    def _rx_closed(self, msg: m.CloseOk, body: bytes) -> None:
        self._close("closed")
        self._events.append(ConnectionClosed())

    #: BUSY has no handler: it answers no request, it defers one (see _on_message)
    MESSAGES = {
        m.Challenge: _rx_challenge,
        m.Welcome: _rx_welcome,
        m.Accept: _rx_accept,
        m.Held: _rx_held,
        m.Refuse: _rx_refuse,
        m.Committed: _rx_committed,
        m.UpStart: _rx_upstart,
        m.Cleared: _rx_cleared,
        m.Pong: _rx_pong,
        m.CloseOk: _rx_closed,
    }

    # ------------------------------------------------------------------ transfers

    def _data_without_transfer(self) -> None:
        if self._phase == "GET_SENT":
            self._requests.resend()  # our GET's answer was lost, data already flows
        # else stale data from an earlier session: ignore

    def _sent(self, snd: Sender) -> None:
        if self._phase != "PUT_SENDING":
            return
        size = self._op_size
        if self._progress_reported != size:
            self._progress_reported = size
            self._events.append(Progress("put", self._put().bundle_id, size, size))
        self._go("ev:all_acked")
        self._requests.send(m.Done)

    def _after_frames(self) -> None:
        rx = self._receiver
        if rx is not None and not rx.complete and rx.got != self._progress_reported:
            self._progress_reported = rx.got
            self._events.append(Progress("get", self._get().upload_id, rx.got, rx.need))
        snd = self._sender
        if snd is not None and self._phase == "PUT_SENDING":
            done = self._op_offset + _stream_to_object(snd, self._op_size - self._op_offset)
            if done != self._progress_reported:
                self._progress_reported = done
                self._events.append(Progress("put", self._put().bundle_id, done,
                                             self._op_size))

    def _received(self, rx: Receiver) -> None:
        """The whole upload is in ``rx.pending``: check it against both digests."""
        op = self._get()
        data = rx.take()
        self.stats.payload_bytes_received += len(data)
        self._events.append(Progress("get", op.upload_id, rx.got, rx.need))
        digest = hashlib.sha256(data).digest()
        hello = self._peer_hello
        announced = {u.upload_id: u.sha256 for u in hello.uploads} if hello else {}
        expected = announced.get(op.upload_id, self._op_sha)
        if digest != self._op_sha or digest != expected:
            self._events.append(UploadRefused(op.upload_id, "digest mismatch",
                                              ReasonCode.DIGEST_MISMATCH))
        else:
            self._events.append(UploadReceived(op.upload_id, data))
        self._op = None
        self._pump()

    # ------------------------------------------------------------------ timers

    def _timer_req(self) -> None:
        self._requests.on_req_timer()

    def _timer_answer(self) -> None:
        self._requests.on_answer_timer()

    def _timer_keepalive(self) -> None:
        if self._phase == "READY" and not self._queue:
            self._go("ev:keepalive")
            self._requests.send(m.Ping)

    TIMERS = {
        **Connection.TRANSFER_TIMERS,
        "req": _timer_req,
        "answer": _timer_answer,
        "keepalive": _timer_keepalive,
    }
