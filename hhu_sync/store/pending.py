"""The daemon's store while its database may not answer: started anyway, opened later.

A depot whose PostgreSQL server is down at start (or whose SQLite file cannot be set up:
a full disk, an I/O error) must not exit: a service manager would restart it into the
same fault, and the cradles and the outbox would go unwatched. The daemon holds a
:class:`PendingStore` instead of the store itself. Until the store opens, every call
raises :class:`StorageUnavailable`, which every part of the daemon already treats as a
passing storage fault: a docked HHU's session ends before anything is acknowledged (the
HHU keeps its readings), outbox files are deferred where they lie, remote runs wait.
:meth:`PendingStore.keep_opening` tries again with a counted back-off that doubles up to
a cap, opens the store when the server answers (with the schema version check of every
opening) and from then on calls go to it.

Every call is seen on its way through, so :meth:`PendingStore.health` also tells a store
that opened and then failed (the server stopped, the connections killed): unavailable
from the first call that raised :class:`StorageUnavailable` to the next that did not.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from hhu_sync.store.base import StorageUnavailable, StoreError
from hhu_sync.store.depots import DEFAULT_DEPOT

log = logging.getLogger("hhu_sync.store")

FIRST_WAIT_S = 0.5       # the first retry of an opening; doubled at each failure ...
MAX_WAIT_S = 30.0        # ... up to this
OPEN_WAIT_S = 5.0        # one attempt: how long the server may take to answer it


class StoreState:
    OPEN = "open"
    UNAVAILABLE = "unavailable"      # not open yet, or open and failing
    REFUSED = "refused"              # opened, and its schema is of another version


@dataclass(frozen=True)
class StoreHealth:
    """What the daemon says of its store (the status file, the web app's /healthz)."""

    state: str                     # a StoreState value
    since: str                     # when this state began (UTC, ISO)
    opened: bool                   # the store was opened (a later fault is mid-run)
    attempts: int = 0              # openings that failed in this outage
    error: str | None = None       # the latest fault, one line
    retry_in_s: float | None = None   # the next opening's wait, while not open

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class OpeningBackoff:
    """Waits between openings: ``first`` doubled at every failure up to ``cap``;
    every failure counted."""

    def __init__(self, first: float = FIRST_WAIT_S, cap: float = MAX_WAIT_S) -> None:
        self.first = first
        self.cap = cap
        self.failures = 0

    def failed(self) -> float:
        """Count a failure; the wait before the next attempt."""
        self.failures += 1
        return min(self.cap, self.first * 2 ** min(self.failures - 1, 32))


class PendingStore:
    """Stands for the daemon's store, open or not yet: the same methods (each call goes
    to the store once it is open), :class:`StorageUnavailable` before that."""

    def __init__(self, url: str, opener: Callable[[str], Any], *,
                 backoff: OpeningBackoff | None = None, depot: str = DEFAULT_DEPOT) -> None:
        self.url = url
        #: the depot its writes name, known before the store is open (Store.depot)
        self.depot = depot
        self._opener = opener
        self._store: Any = None
        self._closed = False
        self._lock = threading.Lock()
        self.backoff = backoff or OpeningBackoff()
        self._health = StoreHealth(StoreState.UNAVAILABLE, _now(), opened=False)
        self.opened = threading.Event()      # set once the store is open
        #: called (on the caller's thread) when a call succeeds after calls failed:
        #: what backs off on storage faults can try again at once
        self.on_back: Callable[[], None] | None = None

    # -- opening ------------------------------------------------------------------------
    def try_open(self) -> bool:
        """One attempt; True when the store is open (now or before). A schema of another
        version is :class:`StoreError` (raised: the daemon must not serve it); a server
        that does not answer is counted and False."""
        if self.opened.is_set():
            return True
        try:
            store = self._opener(self.url)
        except StoreError as exc:
            if not isinstance(exc, StorageUnavailable):
                with self._lock:
                    self._health = StoreHealth(StoreState.REFUSED, _now(), opened=False,
                                               attempts=self.backoff.failures,
                                               error=_line(exc))
                raise
            return self._failed(exc)
        except Exception as exc:  # noqa: BLE001 - whatever the driver raised: counted, retried
            log.warning("storage: %s: the opening failed unexpectedly (%s)", _shown(self.url),
                        _line(exc), exc_info=self.backoff.failures == 0)   # traced once
            return self._failed(exc)
        with self._lock:
            if self._closed:                 # the daemon stopped meanwhile
                store.close()
                return False
            self._store = store
            self._health = StoreHealth(StoreState.OPEN, _now(), opened=True)
        self.opened.set()
        return True

    def _failed(self, exc: BaseException) -> bool:
        """An attempt that found no store: counted, its error kept, the next one due
        after the back-off."""
        wait = self.backoff.failed()
        with self._lock:
            self._health = StoreHealth(StoreState.UNAVAILABLE, self._health.since,
                                       opened=False, attempts=self.backoff.failures,
                                       error=_line(exc), retry_in_s=wait)
        return False

    def keep_opening(self, stop: threading.Event,
                     on_change: Callable[[StoreHealth], None] = lambda h: None) -> bool:
        """Try until the store opens (True) or ``stop`` is set (False), waiting the
        back-off between attempts. Every attempt is counted (the health says how many);
        the log has the 1st, 2nd, 4th, 8th ... and every 100th, not one line every
        30 s of a long outage. A refusal (schema version) is raised."""
        while not stop.is_set():
            if self.try_open():
                log.info("storage: %s opened after %d failed attempts", _shown(self.url),
                         self.backoff.failures)
                on_change(self.health())
                return True
            health = self.health()
            on_change(health)
            wait = health.retry_in_s or self.backoff.first
            n = health.attempts
            if n & (n - 1) == 0 or n % 100 == 0:
                log.warning("storage: %s not open yet (attempt %d: %s); next try in %g s",
                            _shown(self.url), n, health.error, wait)
            stop.wait(wait)
        return False

    def health(self) -> StoreHealth:
        with self._lock:
            return self._health

    # -- calls --------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._closed = True
            store, self._store = self._store, None
        if store is not None:
            store.close()

    def _seen(self, exc: StorageUnavailable | None) -> None:
        """A call's outcome, for :meth:`health` (only a change takes the lock's time)."""
        health = self._health
        if exc is None:
            if health.state != StoreState.OPEN:
                with self._lock:
                    back = self._store is not None and self._health.state != StoreState.OPEN
                    if back:
                        self._health = StoreHealth(StoreState.OPEN, _now(), opened=True)
                if back and self.on_back is not None:     # the backend logs it
                    self.on_back()
        elif health.state == StoreState.OPEN:
            with self._lock:
                self._health = StoreHealth(StoreState.UNAVAILABLE, _now(), opened=True,
                                           error=_line(exc))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        store = self._store
        if store is not None:
            found = getattr(store, name)
            if not callable(found):
                return found
        elif self._closed:
            raise StorageUnavailable(f"{_shown(self.url)}: the store is closed")

        def call(*args: Any, **kwargs: Any) -> Any:
            store = self._store
            if store is None:
                health = self._health
                raise StorageUnavailable(
                    f"{_shown(self.url)}: not open yet ({health.attempts} attempts"
                    + (f"; {health.error}" if health.error else "") + ")")
            try:
                result = getattr(store, name)(*args, **kwargs)
            except StorageUnavailable as exc:
                self._seen(exc)
                raise
            if not store.failing:     # a call the store answered without the storage
                self._seen(None)      # (a cached read) says nothing of it
            return result

        call.__name__ = name
        return call


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _shown(url: str) -> str:
    from hhu_sync.store.opening import shown_store
    return shown_store(url)
