"""What a docking tells the world: typed events, one thread-safe fan-out, one board.

Sessions publish :class:`DockEvent` values to an :class:`EventHub`; the CLI's progress
bars, the log and the web app subscribe to it. A subscriber is a callback (called on the
publisher's thread: it must be quick) or a bounded queue (``subscribe_queue``) that a
slow reader cannot make grow: when it is full its oldest event is dropped and counted,
and :class:`DockBoard` (the state of every cradle, rebuilt from the events) lets a
reader that fell behind start again from a snapshot.
"""

from __future__ import annotations

import collections
import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)


class Phase(enum.StrEnum):
    """Where a docking is; the values are the web app's and the API's."""

    EMPTY = "empty"                    # no HHU answered (or none docked yet)
    AUTHENTICATING = "authenticating"
    UNLOADING = "unloading"            # uploads from the HHU
    LOADING = "loading"                # bundles to the HHU
    ACKNOWLEDGING = "acknowledging"    # committed uploads cleared on the HHU
    DONE = "done"                      # ended well: safe to remove
    FAILED = "failed"                  # ended with an error: safe to remove, see why


class Direction(enum.StrEnum):
    UP = "up"          # HHU to depot (an upload)
    DOWN = "down"      # depot to HHU (a bundle)


@dataclass(frozen=True)
class DockEvent:
    dock: str
    at: float           # wall clock, seconds since the epoch

    @property
    def kind(self) -> str:
        return _KINDS[type(self)]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class PhaseChanged(DockEvent):
    phase: Phase
    hhu_id: str | None = None


@dataclass(frozen=True)
class HhuAuthenticated(DockEvent):
    hhu_id: str
    firmware: str
    battery_pct: int | None
    free_flash: int | None
    crew: str | None


@dataclass(frozen=True)
class TransferProgress(DockEvent):
    hhu_id: str
    direction: Direction
    object_id: str
    done: int
    total: int


@dataclass(frozen=True)
class UploadCommitted(DockEvent):
    """An upload the store has just committed (first time: not one it already held).
    The docking announces it and goes on; the daemon exports it for billing."""

    upload_id: str
    hhu_id: str


@dataclass(frozen=True)
class BundleDelivered(DockEvent):
    hhu_id: str
    bundle_id: str


@dataclass(frozen=True)
class UploadAcknowledged(DockEvent):
    hhu_id: str
    upload_id: str


@dataclass(frozen=True)
class SessionEnded(DockEvent):
    hhu_id: str | None
    outcome: str          # hhu_sync.dock.session.Outcome
    errors: tuple[str, ...] = ()


_KINDS: dict[type, str] = {
    PhaseChanged: "phase", HhuAuthenticated: "authenticated", TransferProgress: "progress",
    UploadCommitted: "upload_committed", BundleDelivered: "bundle_delivered",
    UploadAcknowledged: "upload_acknowledged", SessionEnded: "ended",
}

Subscriber = Callable[[DockEvent], None]


class EventQueue:
    """A subscriber's bounded queue: ``get(timeout)``; the oldest go first when full."""

    def __init__(self, hub: EventHub, maxsize: int) -> None:
        self.hub, self.maxsize = hub, maxsize
        self.dropped = 0
        self._items: collections.deque[DockEvent] = collections.deque()
        self._ready = threading.Condition()

    def put(self, event: DockEvent) -> None:
        with self._ready:
            if len(self._items) >= self.maxsize:
                self._items.popleft()
                self.dropped += 1
            self._items.append(event)
            self._ready.notify()

    def get(self, timeout: float) -> DockEvent | None:
        with self._ready:
            if not self._items:
                self._ready.wait(timeout)
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        self.hub.unsubscribe(self.put)


class EventHub:
    """One fan-out for every docking's events; publish and subscribe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[Subscriber, ...] = ()
        self.board = DockBoard()
        self.failures = 0       # subscriber callbacks that raised (logged, then ignored)

    def subscribe(self, callback: Subscriber) -> Subscriber:
        with self._lock:
            self._subscribers = (*self._subscribers, callback)
        return callback

    def subscribe_queue(self, maxsize: int = 1000) -> EventQueue:
        queue = EventQueue(self, maxsize)
        self.subscribe(queue.put)
        return queue

    def unsubscribe(self, callback: Subscriber) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s != callback)

    def publish(self, event: DockEvent) -> None:
        self.board.apply(event)
        for callback in self._subscribers:      # a snapshot: subscribing never blocks this
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - one bad subscriber must not stop a docking
                self.failures += 1
                log.exception("dock events: a subscriber failed on %s", event.kind)


@dataclass
class Transfer:
    direction: Direction
    object_id: str
    done: int = 0
    total: int = 0
    started: float = 0.0
    updated: float = 0.0
    first_done: int = 0

    @property
    def rate(self) -> float:
        """Bytes per second since the first progress seen."""
        span = self.updated - self.started
        return (self.done - self.first_done) / span if span > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 and self.total else None


@dataclass
class Cradle:
    dock: str
    phase: Phase = Phase.EMPTY
    hhu_id: str | None = None
    firmware: str | None = None
    battery_pct: int | None = None
    free_flash: int | None = None
    crew: str | None = None
    transfers: dict[str, Transfer] = field(default_factory=dict)
    outcome: str | None = None
    errors: tuple[str, ...] = ()
    updated: float = 0.0
    rechecking: bool = False    # a new poll of the HHU still docked, not yet known to work

    @property
    def safe_to_remove(self) -> bool:
        """Nothing is moving and every upload taken is committed and cleared."""
        return self.phase in (Phase.DONE, Phase.FAILED, Phase.EMPTY)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dock": self.dock, "phase": self.phase.value, "hhu_id": self.hhu_id,
            "firmware": self.firmware, "battery_pct": self.battery_pct,
            "free_flash": self.free_flash, "crew": self.crew, "outcome": self.outcome,
            "errors": list(self.errors), "safe_to_remove": self.safe_to_remove,
            "updated": self.updated,
            "transfers": [{"direction": t.direction.value, "object_id": t.object_id,
                           "done": t.done, "total": t.total, "rate": round(t.rate, 1),
                           "seconds_left": (None if t.seconds_left is None
                                            else round(t.seconds_left, 1))}
                          for t in self.transfers.values()],
        }


class DockBoard:
    """The state of every cradle, from the events; ``snapshot()`` from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cradles: dict[str, Cradle] = {}

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [c.as_dict() for _, c in sorted(self._cradles.items())]

    def cradles(self, docks: set[str]) -> list[dict[str, Any]]:
        """The state of just these cradles (those that changed), in name order."""
        with self._lock:
            return [self._cradles[d].as_dict() for d in sorted(docks) if d in self._cradles]

    def known(self, docks: list[str]) -> None:
        """Cradles configured: shown (empty) before anything happened on them."""
        with self._lock:
            for name in docks:
                self._cradles.setdefault(name, Cradle(name))

    def apply(self, event: DockEvent) -> None:
        with self._lock:
            cradle = self._cradles.get(event.dock)
            if cradle is None:       # (not setdefault: a Cradle made for every event)
                cradle = self._cradles[event.dock] = Cradle(event.dock)
            cradle.updated = event.at
            _APPLY[type(event)](cradle, event)


def _forget(cradle: Cradle) -> None:
    """The last docking's results off the board: a new one is under way."""
    cradle.transfers.clear()
    cradle.outcome, cradle.errors = None, ()
    cradle.rechecking = False


def _phase(cradle: Cradle, event: Any) -> None:
    if event.phase is Phase.AUTHENTICATING:
        if cradle.phase in (Phase.DONE, Phase.FAILED) and cradle.hhu_id is not None:
            # The cradle's next poll of the HHU that is still in it: until it turns out
            # to have work (or to be another HHU) the board keeps the last docking's
            # results and "safe to remove", instead of flickering at every poll.
            cradle.rechecking = True
            return
        _forget(cradle)
        cradle.hhu_id = cradle.firmware = cradle.crew = None
        cradle.battery_pct = cradle.free_flash = None
    elif cradle.rechecking:                      # the HHU had work after all
        _forget(cradle)
    cradle.phase = event.phase


def _authenticated(cradle: Cradle, event: Any) -> None:
    if cradle.rechecking and event.hhu_id != cradle.hhu_id:   # another HHU was docked
        _forget(cradle)
        cradle.phase = Phase.AUTHENTICATING
    cradle.hhu_id, cradle.firmware, cradle.crew = event.hhu_id, event.firmware, event.crew
    cradle.battery_pct, cradle.free_flash = event.battery_pct, event.free_flash


def _progress(cradle: Cradle, event: Any) -> None:
    if cradle.rechecking:
        _forget(cradle)
    t = cradle.transfers.get(event.object_id)
    if t is None:
        t = cradle.transfers[event.object_id] = Transfer(
            event.direction, event.object_id, started=event.at, first_done=event.done)
    t.done, t.total, t.updated = event.done, event.total, event.at


def _ended(cradle: Cradle, event: Any) -> None:
    if event.hhu_id is None and event.outcome == "empty":
        _forget(cradle)                          # the HHU was taken out
        cradle.phase = Phase.EMPTY
        cradle.hhu_id = cradle.firmware = cradle.crew = None
        cradle.battery_pct = cradle.free_flash = None
        return
    if cradle.rechecking and event.outcome == "idle":
        cradle.rechecking = False                # nothing new: the last docking stands
        return
    cradle.rechecking = False
    cradle.outcome, cradle.errors = event.outcome, event.errors
    cradle.phase = Phase.DONE if event.outcome in ("done", "idle") else Phase.FAILED


def _nothing(cradle: Cradle, event: Any) -> None:
    return None


_APPLY: dict[type, Callable[[Cradle, Any], None]] = {
    PhaseChanged: _phase, HhuAuthenticated: _authenticated, TransferProgress: _progress,
    UploadCommitted: _nothing, BundleDelivered: _nothing, UploadAcknowledged: _nothing,
    SessionEnded: _ended,
}
