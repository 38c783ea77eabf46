"""The simulated HHU: a link Connection in the HHU role, backed by the flash store.

One ``DeviceSession`` is one docking, as a sans-IO core: handshake, then answer the
dock's offers and requests until it closes, the line goes quiet, or a fault ends it.
``SimulatedHHU.serve(port)`` drives one on the running event loop with the one pump
(``hhu_sync.io.pump.LinkPump``), so any number of HHUs share one loop and one thread.
All durable state lives in the flash; nothing in this object survives a (simulated)
reboot except what the flash recorded, which is the point of the reboot fault.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hhu_firmware_sim.faults import BitFlipper, ByteBudget
from hhu_firmware_sim.flash import FlashError, FlashFullError, FlashStore, PartialWriter, check_id
from hhu_sync.io.pump import LinkPump, PumpCut
from hhu_sync.link import (
    NEED_DATA,
    Aborted,
    AcceptBundle,
    Authenticated,
    BundleAlreadyHeld,
    BundleCommitted,
    BundleData,
    BundleInfo,
    BundleOffered,
    BundleReceived,
    Command,
    ConnectionClosed,
    HelloInfo,
    HhuConnection,
    LinkError,
    LinkSettings,
    ProvideUpload,
    ReasonCode,
    RefuseBundle,
    RefuseUpload,
    Role,
    TimedOut,
    UploadAcknowledged,
    UploadDeleted,
    UploadInfo,
    UploadRequested,
)
from hhu_sync.link.framing import FrameDecoder, encode_frame
from hhu_sync.link.messages import T_HELLO, AbortMsg

DEFAULT_FIRMWARE = "sim-1.0"
READ_GATHER_S = 0.016  # a busy HHU's UART receive buffer is emptied this often
DRAIN_S = 2.0   # how long a finished session waits for its last bytes to leave
_FOREVER_S = 10.0 * 365 * 86400   # a session ends by itself (idle limit), never by a wait
_CLOCK_SLACK_S = 1e-3             # a loop timer may fire a hair early; it still counts
CHECKPOINT_EVERY = 256 * 1024  # bytes of a partial between fsyncs (lost only on reboot)
# At most one checkpoint per this many seconds: flash wear. On a 115200-baud line 256 KiB
# take 23 s, so the byte rule governs; on a fast line this keeps fsyncs off the hot path.
CHECKPOINT_MIN_INTERVAL_S = 0.5


@dataclass(frozen=True)
class Faults:
    """What goes wrong in a session. Defaults: nothing."""

    cut_after: int | None = None       # hang up after this many bytes (both directions)
    ber: float = 0.0                   # bit error rate on what the device reads and writes
    reboot_after: int | None = None    # reboot after this many bundle bytes this session
    slow_ms: float = 0.0               # delay before each write (a slow responder)
    seed: int | None = None
    #: the text sent beside each refusal's code (another wording, language, or ""): the
    #: dock must decide by the code alone; None sends the simulator's own text
    refusal_text: Callable[[str], str] | None = None
    #: behave as a firmware built for link protocol version 1 only, as version 1 itself
    #: required: a HELLO of any version but 1 ends the session with a code-less (version-1
    #: layout) ABORT, and every REFUSE and ABORT is sent in the version-1 layout
    strict_v1: bool = False

    def worded(self, reason: str) -> str:
        return reason if self.refusal_text is None else self.refusal_text(reason)


class _Reboot(Exception):
    """The simulated device lost power: drop everything held in RAM."""


@dataclass
class SessionResult:
    """How a docking session ended, and what it did."""

    reason: str = ""
    #: the code of the abort or time-out that ended it (UNSPECIFIED for any other end)
    code: ReasonCode = ReasonCode.UNSPECIFIED
    authenticated: bool = False
    committed: list[str] = field(default_factory=list)
    already_held: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    uploads_served: list[str] = field(default_factory=list)
    uploads_deleted: list[str] = field(default_factory=list)
    bundle_bytes: int = 0


@dataclass(frozen=True)
class SessionOver:
    """The docking is over: the one event a device session gives its driver."""

    result: SessionResult


class SimulatedHHU:
    """An HHU with an id, a key and a flash; ``serve`` handles one docking on a port."""

    def __init__(self, hhu_id: str, key: bytes, flash: FlashStore, *,
                 firmware: str = DEFAULT_FIRMWARE, battery_pct: int = 87,
                 faults: Faults | None = None, settings: LinkSettings | None = None,
                 checkpoint_every: int = CHECKPOINT_EVERY,
                 checkpoint_interval_s: float = CHECKPOINT_MIN_INTERVAL_S,
                 idle_limit_s: float = 30.0, read_gather_s: float = READ_GATHER_S) -> None:
        self.hhu_id = check_id(hhu_id)     # refused at start, not at every docking
        self.key = key
        self.flash = flash
        self.firmware = firmware
        self.battery_pct = battery_pct
        self.faults = faults or Faults()
        self.settings = settings or LinkSettings()
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval_s = checkpoint_interval_s
        self.idle_limit_s = idle_limit_s   # no frame that moves the session on: hang up
        self.read_gather_s = read_gather_s  # LinkPump's gather_s: reads per trickle

    def hello(self) -> HelloInfo:
        """What the HHU announces after authentication: free flash and what it holds."""
        bundles = [BundleInfo(b.bundle_id, "committed", b.size, b.size)
                   for b in self.flash.bundles()]
        bundles += [BundleInfo(p.bundle_id, "partial", p.size, p.held)
                    for p in self.flash.partials()]
        uploads = [UploadInfo(u.upload_id, u.size, u.sha256) for u in self.flash.uploads()]
        return HelloInfo(hhu_id=self.hhu_id, firmware=self.firmware,
                         free_flash=self.flash.free(), battery_pct=self.battery_pct,
                         bundles=tuple(bundles), uploads=tuple(uploads))

    def session(self, now: float) -> DeviceSession:
        """A fresh docking (fresh RAM) starting at ``now`` on the driver's clock."""
        return DeviceSession(self, now)

    async def serve(self, port: Any, *,
                    on_end: Callable[[SessionResult], None] | None = None) -> SessionResult:
        """Serve one docking on ``port`` (anything a LinkPump drives: a descriptor offered
        by ``sansio_fileno()``, or a pyserial port) on the running loop until it ends;
        always closes ``port``. Cancelled, the session ends as ``stopped`` (and
        ``on_end`` still sees it) before the cancellation goes on."""
        loop = asyncio.get_running_loop()
        session = self.session(loop.time())
        pump = LinkPump(port, session, loop=loop, gather_s=self.read_gather_s)
        try:
            await pump.run_until(lambda event: isinstance(event, SessionOver), _FOREVER_S)
            await pump.drain(DRAIN_S)     # the last frames (CLOSE-OK, ABORT) reach the line
        except PumpCut as exc:
            session.end(f"line cut: {exc.__cause__ or pump.cut or exc}")
        except asyncio.CancelledError:
            session.end("stopped")
            raise
        finally:
            pump.close()
            port.close()
            session.end("stopped")      # no-op when it ended already
            if on_end is not None:
                on_end(session.result)
        return session.result


class DeviceSession:
    """One docking as a sans-IO core: the link Connection in the HHU role, the device's
    faults on its bytes, its idle limit, and its answers to the dock (flash writes,
    uploads), all on the driver's clock.

    The driver feeds bytes (``receive_data``), writes ``data_to_send()``, and calls
    ``handle_timeout`` at ``next_deadline()``; the session reacts to every link event
    itself, so ``next_event()`` gives only one :class:`SessionOver`, when it is over.
    The idle limit counts from the last frame that moved the session on
    (``stats.frames_progressed``), so junk bytes, bad-CRC frames and repeated requests
    cannot hold the one session.
    """

    def __init__(self, hhu: SimulatedHHU, now: float) -> None:
        self.hhu = hhu
        faults = hhu.faults
        settings = hhu.settings
        self.gate: _StrictV1Gate | None = None
        if faults.strict_v1:
            settings = replace(settings, max_version=1, min_version=1)
            self.gate = _StrictV1Gate()
        self.conn = HhuConnection(Role.HHU, settings=settings, key=hhu.key, hello=hhu.hello())
        seed = None if faults.seed is None else f"{faults.seed}"
        self._rx_flip = BitFlipper(faults.ber, None if seed is None else seed + "/rx")
        self._tx_flip = BitFlipper(faults.ber, None if seed is None else seed + "/tx")
        self.budget = ByteBudget(faults.cut_after)
        self._slow_s = faults.slow_ms / 1000.0
        self._held: collections.deque[tuple[float, bytes]] = collections.deque()
        self._slow_free = 0.0         # when the slow responder's last write goes out
        self._extra = bytearray()     # bytes the device sends past the core (the v1 gate)
        self.writer: PartialWriter | None = None
        self.last_checkpoint = 0.0
        self.result = SessionResult()
        self.now = now
        self._quiet_since = now
        self._progressed = self.conn.stats.frames_progressed
        self.over = False
        self._mute = False            # over with nothing more on the wire (cut, reboot)
        self._reported = False

    # --- the sans-IO surface -------------------------------------------------------------

    def receive_data(self, data: bytes, now: float | None = None) -> None:
        """Bytes from the dock (b"": the line is gone)."""
        now = self._at(now)
        if self.over:
            return
        if not data:
            with contextlib.suppress(LinkError):
                self.conn.receive_data(b"")
            self.end("line cut: end of stream")
            return
        allowed = self.budget.take(len(data))
        data = self._rx_flip(data[:allowed])
        try:
            if data and self._feed(data, now):
                self._progress(now)
                self._react()
        except _Reboot:
            if self.writer is not None:
                self.writer.close(checkpoint=False)   # RAM buffers lost
                self.writer = None
            self.end("reboot")
        except LinkError as exc:
            self.end(f"protocol error: {exc}")
        except FlashError as exc:   # a broken flash ends the docking, never the server
            self.end(f"flash error: {exc}")
        if self.budget.cut:
            self.end("line cut: cut")

    def data_to_send(self, now: float | None = None) -> bytes:
        """What goes on the wire now: the core's bytes, through the device's faults."""
        now = self._at(now)
        if self._mute:
            return b""
        out = self._extra + self.conn.data_to_send(now)
        self._extra.clear()
        if self._slow_s and not self.over:
            if out:
                self._slow_free = max(now, self._slow_free) + self._slow_s
                self._held.append((self._slow_free, bytes(out)))
            out = bytearray()
            while self._held and self._held[0][0] <= now + _CLOCK_SLACK_S:
                out += self._held.popleft()[1]
        elif self._held:             # over: what the slow responder held goes now
            out = bytearray(b"".join(d for _, d in self._held)) + out
            self._held.clear()
        if not out:
            return b""
        allowed = self.budget.take(len(out))
        sent = self._tx_flip(bytes(out[:allowed]))
        if self.budget.cut:
            self.end("line cut: cut")
        return sent

    def next_deadline(self) -> float | None:
        """The core's next timer, the idle limit, or a slow write coming due."""
        if self.over:
            return None if self._reported else self.now   # due now: report the end
        dues = [self._quiet_since + self.hhu.idle_limit_s]
        core = self.conn.next_deadline()
        if core is not None:
            dues.append(core)
        if self._held:
            dues.append(self._held[0][0])
        return min(dues)

    def handle_timeout(self, now: float | None = None) -> None:
        now = self._at(now)
        if self.over:
            return
        due = self.conn.next_deadline()
        try:
            if due is not None and now >= due - _CLOCK_SLACK_S:
                self.conn.handle_timeout(max(now, due))
                self._react()
        except (LinkError, FlashError) as exc:
            self.end(f"protocol error: {exc}")
        if not self.over and now >= self._quiet_since + self.hhu.idle_limit_s - _CLOCK_SLACK_S:
            self.end("idle", mute=True)

    def next_event(self) -> SessionOver | type[NEED_DATA]:
        if self.over and not self._reported:
            self._reported = True
            return SessionOver(self.result)
        return NEED_DATA

    def end(self, reason: str, *, mute: bool = True) -> None:
        """The docking is over (the first reason counts); what arrived stays in flash,
        as a cut cable does not lose RAM."""
        if self.over:
            return
        self.over = True
        self._mute = mute
        self.result.reason = reason
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    # --- inside ----------------------------------------------------------------------------

    def _at(self, now: float | None) -> float:
        if now is not None:
            self.now = max(self.now, now)
        return self.now

    def _feed(self, data: bytes, now: float) -> bool:
        """Hand ``data`` to the core (through the version-1 gate if there is one); False
        when the gate ended the session."""
        if self.gate is None:
            self.conn.receive_data(data, now)
            return True
        passed, refused = self.gate.filter(data)
        if passed:
            self.conn.receive_data(passed, now)
        if refused is None:
            return True
        text = f"unsupported protocol version {refused}"
        self._extra += b"\0" + encode_frame(AbortMsg(ReasonCode.UNSPECIFIED, text).encode(1))
        self.end(f"aborted: {text}", mute=False)
        return False

    def _progress(self, now: float) -> None:
        if self.conn.stats.frames_progressed != self._progressed:
            self._progressed = self.conn.stats.frames_progressed
            self._quiet_since = now

    def _react(self) -> None:
        """Answer every event the core has."""
        while not self.over and (event := self.conn.next_event()) is not NEED_DATA:
            self._handle(event)

    def _send(self, command: Command) -> None:
        self.conn.send(command, self.now)

    # --- events --------------------------------------------------------------------------

    def _handle(self, event: object) -> None:
        """React to one event (the core's last words end the session, sent as queued)."""
        if isinstance(event, ConnectionClosed):
            self.end("closed", mute=False)
            return
        if isinstance(event, Aborted | TimedOut):
            what = (f"aborted: {event.reason}" if isinstance(event, Aborted)
                    else f"timed out: {event.what}")
            self.result.code = event.code
            self.end(what, mute=False)
            return
        if isinstance(event, Authenticated):
            self.result.authenticated = True
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def _close_writer(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _on_offer(self, ev: BundleOffered) -> None:
        self._close_writer()
        try:
            check_id(ev.bundle_id)
        except FlashError as exc:
            return self._refuse(ev.bundle_id, str(exc), ReasonCode.INVALID_ID)
        held = self.hhu.flash.bundle(ev.bundle_id)
        if held is not None:
            if held.sha256 == ev.sha256 and held.size == ev.size:
                self.result.already_held.append(ev.bundle_id)
                return self._send(BundleAlreadyHeld(ev.bundle_id))
            return self._refuse(ev.bundle_id, "a different bundle with this id is held",
                                ReasonCode.CONFLICT)
        try:
            self.writer = self.hhu.flash.open_partial(ev.bundle_id, ev.size, ev.sha256)
        except FlashFullError as exc:
            return self._refuse(ev.bundle_id, str(exc), ReasonCode.FLASH_FULL)
        self._send(AcceptBundle(ev.bundle_id, self.writer.written))

    def _refuse(self, bundle_id: str, reason: str, code: ReasonCode) -> None:
        """Refuse with a code the dock decides by; ``reason`` is only for people."""
        self.result.refused.append((bundle_id, reason))
        self._send(RefuseBundle(bundle_id, self.hhu.faults.worded(reason), code))

    def _on_data(self, ev: BundleData) -> None:
        writer = self.writer
        if writer is None or writer.bundle_id != ev.bundle_id:
            return self._refuse(ev.bundle_id, "data for a bundle not being received",
                                ReasonCode.UNKNOWN_OBJECT)
        try:
            writer.write(ev.offset, ev.data)
        except FlashError as exc:
            self._close_writer()
            return self._refuse(ev.bundle_id, str(exc), ReasonCode.STORAGE_ERROR)
        self.result.bundle_bytes += len(ev.data)
        limit = self.hhu.faults.reboot_after
        if limit is not None and self.result.bundle_bytes >= limit:
            raise _Reboot()
        if writer.written - writer.durable >= self.hhu.checkpoint_every:
            now = self.now
            if now - self.last_checkpoint >= self.hhu.checkpoint_interval_s:
                writer.checkpoint()
                self.last_checkpoint = now

    def _on_received(self, ev: BundleReceived) -> None:
        writer = self.writer
        if writer is None or writer.bundle_id != ev.bundle_id:
            return self._refuse(ev.bundle_id, "no bundle being received",
                                ReasonCode.UNKNOWN_OBJECT)
        self.writer = None
        if not (writer.complete() and writer.digest_ok()):
            writer.close(checkpoint=False)
            self.hhu.flash.discard_partial(ev.bundle_id)
            return self._refuse(ev.bundle_id, "digest mismatch", ReasonCode.DIGEST_MISMATCH)
        writer.commit()
        self.result.committed.append(ev.bundle_id)
        self._send(BundleCommitted(ev.bundle_id))

    def _on_upload_request(self, ev: UploadRequested) -> None:
        try:
            data = self.hhu.flash.read_upload(ev.upload_id)
        except FlashError as exc:
            code = _upload_refusal(self.hhu.flash, ev.upload_id)
            return self._send(RefuseUpload(ev.upload_id,
                                           self.hhu.faults.worded(str(exc)), code))
        self.result.uploads_served.append(ev.upload_id)
        self._send(ProvideUpload(ev.upload_id, data))

    def _on_upload_ack(self, ev: UploadAcknowledged) -> None:
        try:
            self.hhu.flash.delete_upload(ev.upload_id)
        except FlashError:
            pass   # nothing by that name: deleting it again is still "deleted"
        self.result.uploads_deleted.append(ev.upload_id)
        self._send(UploadDeleted(ev.upload_id))


class _StrictV1Gate:
    """What a version-1-only firmware did with a HELLO: version 1 or nothing. Frames go
    through it whole (re-encoded for the core); bad frames are dropped here as the core
    would drop them."""

    def __init__(self) -> None:
        self._decoder = FrameDecoder()

    def filter(self, data: bytes) -> tuple[bytes, int | None]:
        """The frames to pass on, and the version of a HELLO to refuse (None: none)."""
        out = bytearray()
        for body in self._decoder.feed(data):
            if body[0] == T_HELLO and len(body) >= 3 and body[2] != 1:
                return bytes(out), body[2]
            out += b"\0" + encode_frame(body)
        return bytes(out), None


_HANDLERS: dict[type, Callable[[DeviceSession, Any], None]] = {
    BundleOffered: DeviceSession._on_offer,
    BundleData: DeviceSession._on_data,
    BundleReceived: DeviceSession._on_received,
    UploadRequested: DeviceSession._on_upload_request,
    UploadAcknowledged: DeviceSession._on_upload_ack,
}


def load_device(hhu_id: str, key_file: str | Path, flash_dir: str | Path, *,
                capacity: int | None = None, wrong_key: bool = False, **kwargs: Any
                ) -> SimulatedHHU:
    """Build an HHU from files; ``wrong_key`` flips a key bit (the auth-failure fault)."""
    from hhu_sync.keys import load_key_file

    key = load_key_file(key_file)
    if wrong_key:
        key = bytes([key[0] ^ 0x01]) + key[1:]
    return SimulatedHHU(hhu_id, key, FlashStore(flash_dir, capacity), **kwargs)


def _upload_refusal(flash: FlashStore, upload_id: str) -> ReasonCode:
    """Why an upload could not be read: a bad id, none held, or the flash failed."""
    try:
        path = flash._upload_path(upload_id)   # noqa: SLF001 - the store's own naming rule
    except FlashError:
        return ReasonCode.INVALID_ID
    return ReasonCode.STORAGE_ERROR if path.exists() else ReasonCode.UNKNOWN_OBJECT
