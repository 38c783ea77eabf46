"""The simulated HHU: a link Connection in the HHU role, backed by the flash store.

One ``run_session(port)`` is one docking: handshake, then answer the dock's offers and
requests until it closes, the line goes quiet, or a fault ends it. All durable state
lives in the flash; nothing in this object survives a (simulated) reboot except what
the flash recorded, which is the point of the reboot fault.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hhu_firmware_sim.faults import BitFlipper, ByteBudget
from hhu_firmware_sim.flash import FlashError, FlashFullError, FlashStore, PartialWriter, check_id
from hhu_firmware_sim.ports import DevicePort
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
    Connection,
    ConnectionClosed,
    HelloInfo,
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
IDLE_POLL_S = 0.5
READ_CHUNK = 65536
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


class _Hangup(Exception):
    """The line is gone (peer closed, or the cut-after fault fired)."""


class FaultyPort:
    """Applies Faults to a DevicePort: bit errors each way, cut after N bytes, slowness."""

    def __init__(self, port: DevicePort, faults: Faults) -> None:
        self.port = port
        self.faults = faults
        seed = None if faults.seed is None else f"{faults.seed}"
        self._rx_flip = BitFlipper(faults.ber, None if seed is None else seed + "/rx")
        self._tx_flip = BitFlipper(faults.ber, None if seed is None else seed + "/tx")
        self.budget = ByteBudget(faults.cut_after)

    def read(self, size: int, timeout: float) -> bytes:
        if self.budget.cut:
            raise _Hangup("cut")
        try:
            data = self.port.read(size, timeout)
        except EOFError as exc:
            raise _Hangup(str(exc)) from exc
        if not data:
            return b""
        allowed = self.budget.take(len(data))
        return self._rx_flip(data[:allowed])

    def write(self, data: bytes) -> None:
        if self.faults.slow_ms:
            time.sleep(self.faults.slow_ms / 1000.0)
        allowed = self.budget.take(len(data))
        try:
            if allowed:
                self.port.write(self._tx_flip(data[:allowed]))
        except EOFError as exc:
            raise _Hangup(str(exc)) from exc
        if self.budget.cut:
            raise _Hangup("cut")


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


class SimulatedHHU:
    """An HHU with an id, a key and a flash; ``run_session`` handles one docking."""

    def __init__(self, hhu_id: str, key: bytes, flash: FlashStore, *,
                 firmware: str = DEFAULT_FIRMWARE, battery_pct: int = 87,
                 faults: Faults | None = None, settings: LinkSettings | None = None,
                 checkpoint_every: int = CHECKPOINT_EVERY,
                 checkpoint_interval_s: float = CHECKPOINT_MIN_INTERVAL_S,
                 idle_limit_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
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
        self.clock = clock

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

    def run_session(self, port: DevicePort, *,
                    stop: threading.Event | None = None) -> SessionResult:
        """Serve one docking on ``port`` until it ends; always closes ``port``."""
        session = _Session(self, FaultyPort(port, self.faults), stop or threading.Event())
        try:
            return session.run()
        finally:
            port.close()


class _Session:
    """State that lives in the device's RAM for one docking."""

    def __init__(self, hhu: SimulatedHHU, port: FaultyPort, stop: threading.Event) -> None:
        self.hhu = hhu
        self.port = port
        self.stop = stop
        settings = hhu.settings
        self.gate: _StrictV1Gate | None = None
        if hhu.faults.strict_v1:
            settings = replace(settings, max_version=1, min_version=1)
            self.gate = _StrictV1Gate()
        self.conn = Connection(Role.HHU, settings=settings, key=hhu.key, hello=hhu.hello())
        self.writer: PartialWriter | None = None
        self.last_checkpoint = 0.0
        self.result = SessionResult()

    def run(self) -> SessionResult:
        try:
            self._loop()
        except _Reboot:
            self.result.reason = "reboot"
            if self.writer is not None:
                self.writer.close(checkpoint=False)   # RAM buffers lost
                self.writer = None
        except _Hangup as exc:
            self.result.reason = f"line cut: {exc}"
        except LinkError as exc:
            self.result.reason = f"protocol error: {exc}"
        except FlashError as exc:   # a broken flash ends the docking, never the server
            self.result.reason = f"flash error: {exc}"
        finally:
            if self.writer is not None:
                self.writer.close()   # a cut cable does not lose RAM: keep what arrived
        return self.result

    def _send(self, command: Command) -> None:
        self.conn.send(command, self.hhu.clock())

    def _flush(self, now: float | None = None) -> bool:
        """Write what the core queued; True if there was anything."""
        out = self.conn.data_to_send(self.hhu.clock() if now is None else now)
        if out:
            self.port.write(out)
        return bool(out)

    def _loop(self) -> None:
        """The driver loop, with reads capped at IDLE_POLL_S so a stop is seen promptly.

        The core's timers run on this clock (``now`` on every call) and fire once it
        reaches ``next_deadline()``; the idle limit counts from the last frame that moved
        the session on (``stats.frames_progressed``), so junk bytes, bad-CRC frames and
        repeated requests cannot hold the one session.
        """
        clock = self.hhu.clock
        quiet_since = clock()
        progressed = self.conn.stats.frames_progressed
        while not self.stop.is_set():
            self._flush(clock())
            due = self.conn.next_deadline()
            started = clock()
            step = IDLE_POLL_S if due is None else min(max(0.0, due - started), IDLE_POLL_S)
            try:
                data = self.port.read(READ_CHUNK, step)
            except _Hangup:
                self._feed_eof()
                raise
            now = clock()
            if data:
                if self.gate is not None and not self._through_gate(data, now):
                    return
                if self.gate is None:
                    self.conn.receive_data(data, now)   # the core has no clock
            elif due is not None and now >= due - 1e-3:
                self.conn.handle_timeout(max(now, due))   # an empty read is a time-out
            if self.conn.stats.frames_progressed != progressed:
                progressed = self.conn.stats.frames_progressed
                quiet_since = now
            elif now - quiet_since >= self.hhu.idle_limit_s:
                self.result.reason = "idle"
                return
            while (event := self.conn.next_event()) is not NEED_DATA:
                if self._handle(event):
                    self._flush_quietly()
                    return
        self.result.reason = "stopped"

    def _through_gate(self, data: bytes, now: float) -> bool:
        """Strict version 1: hand the core each frame, or end the session on a HELLO of
        another version with a version-1 ABORT; False when the session is over."""
        passed, refused = self.gate.filter(data)  # type: ignore[union-attr]
        if passed:
            self.conn.receive_data(passed, now=now)
        if refused is None:
            return True
        text = f"unsupported protocol version {refused}"
        self.port.write(b"\0" + encode_frame(AbortMsg(ReasonCode.UNSPECIFIED, text).encode(1)))
        self.result.reason = f"aborted: {text}"
        return False

    def _feed_eof(self) -> None:
        try:
            self.conn.receive_data(b"")
            while self.conn.next_event() is not NEED_DATA:
                pass
        except LinkError:
            pass

    def _flush_quietly(self) -> None:
        try:
            self._flush()
        except (_Hangup, LinkError):
            pass

    # --- events --------------------------------------------------------------------------

    def _handle(self, event: object) -> bool:
        """React to one event; True when the session is over."""
        if isinstance(event, ConnectionClosed):
            self.result.reason = "closed"
            return True
        if isinstance(event, Aborted):
            self.result.reason = f"aborted: {event.reason}"
            self.result.code = event.code
            return True
        if isinstance(event, TimedOut):
            self.result.reason = f"timed out: {event.what}"
            self.result.code = event.code
            return True
        if isinstance(event, Authenticated):
            self.result.authenticated = True
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)
        return False

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
            now = self.hhu.clock()
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


_HANDLERS: dict[type, Callable[[_Session, Any], None]] = {
    BundleOffered: _Session._on_offer,
    BundleData: _Session._on_data,
    BundleReceived: _Session._on_received,
    UploadRequested: _Session._on_upload_request,
    UploadAcknowledged: _Session._on_upload_ack,
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
