"""Public value types of the link core: settings, infos, events, commands, stats."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hhu_sync.sansio import NEED_DATA as NEED_DATA  # the one sentinel of every core

from .reasons import ReasonCode


class Role(enum.Enum):
    DOCK = "dock"
    HHU = "hhu"


@dataclass(frozen=True)
class LinkSettings:
    window: int = 32  # data frames in flight (selective repeat)
    max_frame_payload: int = 8192  # upper bound; the sender adapts frame size to the line
    min_frame_payload: int = 64
    retry_limit: int = 8  # per frame / per request, then Aborted/TimedOut(code RETRY_LIMIT...)
    ack_timeout: float = 0.5  # seconds (the driver measures time)
    idle_timeout: float = 10.0
    compression: tuple[str, ...] = ("zlib",)  # offered/accepted in the handshake
    max_object_size: int = 64 * 2**20
    #: the highest protocol version offered (dock, in HELLO) or answered (HHU); a dock
    #: falling back for a version-1-only HHU offers 1 (docs/link-protocol.md section 4)
    max_version: int = 2
    #: the lowest version accepted: a dock with 2 refuses version-1 HHUs (no downgrade)
    min_version: int = 1


@dataclass(frozen=True)
class BundleInfo:
    bundle_id: str
    state: str  # "partial" | "committed"
    size: int
    held: int


@dataclass(frozen=True)
class UploadInfo:
    upload_id: str
    size: int
    sha256: bytes


@dataclass(frozen=True)
class HelloInfo:
    hhu_id: str
    firmware: str
    free_flash: int
    battery_pct: int
    bundles: tuple[BundleInfo, ...] = ()
    uploads: tuple[UploadInfo, ...] = ()


@dataclass(slots=True)
class LinkStats:
    """Counters; mutable, read them at any time."""

    frames_sent: int = 0  # every frame written, first sends and resends
    frames_resent: int = 0  # data frames and requests sent again
    frames_received: int = 0  # frames with a good CRC
    frames_progressed: int = 0  # frames that moved the session on (reset the HHU's idle)
    bytes_sent: int = 0  # bytes handed out by data_to_send()
    bytes_received: int = 0  # bytes given to receive_data()
    payload_bytes_sent: int = 0  # data-stream bytes in first sends of DATA frames
    payload_bytes_received: int = 0  # object bytes delivered in order
    crc_errors: int = 0
    framing_errors: int = 0  # bad COBS, frame too short, frame too long (dropped)
    retries: int = 0  # every retransmission of a frame or request (timer or SACK driven)
    fast_retransmits: int = 0  # data frames resent because a SACK showed them missing
    timeouts: int = 0  # timers that expired
    acks_sent: int = 0
    acks_received: int = 0
    frame_payload: int = 0  # current data-frame payload size chosen by the sender
    frame_shrinks: int = 0
    frame_grows: int = 0
    objects_compressed: int = 0
    objects_raw: int = 0


# --------------------------------------------------------------------------- events


class Event:
    """Base class of everything next_event() returns (besides NEED_DATA)."""

    __slots__ = ()


@dataclass(frozen=True)
class Authenticated(Event):
    hhu_id: str
    hello: HelloInfo


@dataclass(frozen=True)
class Progress(Event):
    direction: str  # "put" | "get"
    object_id: str
    done: int
    total: int


@dataclass(frozen=True)
class BundleStored(Event):
    bundle_id: str
    already_held: bool


@dataclass(frozen=True)
class BundleRefused(Event):
    """Decide by ``code``; ``reason`` is the HHU's text, for people."""

    bundle_id: str
    reason: str
    code: ReasonCode = ReasonCode.UNSPECIFIED


@dataclass(frozen=True)
class UploadReceived(Event):
    upload_id: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class UploadRefused(Event):
    """Dock: the HHU refused GetUpload, or the received bytes failed the SHA-256 check."""

    upload_id: str
    reason: str
    code: ReasonCode = ReasonCode.UNSPECIFIED


@dataclass(frozen=True)
class UploadCleared(Event):
    upload_id: str


@dataclass(frozen=True)
class ConnectionClosed(Event):
    pass


@dataclass(frozen=True)
class Aborted(Event):
    """Decide by ``code`` (the peer's, or ours); ``reason`` is text for people."""

    reason: str
    by_peer: bool
    code: ReasonCode = ReasonCode.UNSPECIFIED


@dataclass(frozen=True)
class TimedOut(Event):
    """We gave up waiting: TIMED_OUT (no answer), RETRY_LIMIT (data unacknowledged) or
    IDLE_TIMEOUT (HHU: no progress); an ABORT with the same code went to the peer."""

    what: str
    code: ReasonCode = ReasonCode.TIMED_OUT


@dataclass(frozen=True)
class BundleOffered(Event):
    bundle_id: str
    size: int
    sha256: bytes


@dataclass(frozen=True)
class BundleData(Event):
    bundle_id: str
    offset: int
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class BundleReceived(Event):
    bundle_id: str


@dataclass(frozen=True)
class UploadRequested(Event):
    upload_id: str
    offset: int


@dataclass(frozen=True)
class UploadAcknowledged(Event):
    upload_id: str


# --------------------------------------------------------------------------- commands


class Command:
    """Base class of everything send() accepts."""

    __slots__ = ()


# dock commands
@dataclass(frozen=True)
class StartHandshake(Command):
    pass


@dataclass(frozen=True)
class PutBundle(Command):
    bundle_id: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class GetUpload(Command):
    upload_id: str


@dataclass(frozen=True)
class AckUpload(Command):
    upload_id: str


@dataclass(frozen=True)
class Close(Command):
    pass


# hhu commands
@dataclass(frozen=True)
class AcceptBundle(Command):
    bundle_id: str
    offset: int = 0


@dataclass(frozen=True)
class BundleAlreadyHeld(Command):
    bundle_id: str


@dataclass(frozen=True)
class RefuseBundle(Command):
    bundle_id: str
    reason: str
    code: ReasonCode = ReasonCode.UNSPECIFIED


@dataclass(frozen=True)
class BundleCommitted(Command):
    bundle_id: str


@dataclass(frozen=True)
class ProvideUpload(Command):
    """``data`` is the whole upload; the link sends it from the requested offset."""

    upload_id: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class RefuseUpload(Command):
    upload_id: str
    reason: str
    code: ReasonCode = ReasonCode.UNSPECIFIED


@dataclass(frozen=True)
class UploadDeleted(Command):
    upload_id: str


# both roles
@dataclass(frozen=True)
class Abort(Command):
    """Give up: an ABORT frame with ``code`` and ``reason`` goes to the peer, then
    Aborted(by_peer=False)."""

    reason: str
    code: ReasonCode = ReasonCode.CANCELLED
