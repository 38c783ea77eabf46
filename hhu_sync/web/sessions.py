"""Browser sessions and login throttling: the rules, above the store.

A session is a random token in an HttpOnly cookie; the store keeps only its SHA-256, the
user, a CSRF token and two times. It ends after ``idle_s`` without a request and after
``absolute_s`` whatever happens. Failed logins are counted per user name and per client
address; past ``max_failures`` in ``window_s`` that key is locked out for ``lockout_s``
(and the lockout is logged), so guessing costs the attacker time, not the user.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from hhu_sync.safetext import escape_controls
from hhu_sync.store.accounts import AccountStore, WebSessionRecord

log = logging.getLogger(__name__)

TOUCH_EVERY_S = 30.0      # a session's last-seen time is written at most this often


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True)
class Session:
    token: str
    user: str
    csrf: str


class Sessions:
    def __init__(self, store: AccountStore, clock: Callable[[], float], *,
                 idle_s: float = 1800.0, absolute_s: float = 12 * 3600.0) -> None:
        self.store, self.clock = store, clock
        self.idle_s, self.absolute_s = idle_s, absolute_s

    def start(self, user: str) -> Session:
        now = self.clock()
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.store.add_web_session(WebSessionRecord(token_hash(token), user, csrf, now, now))
        self.store.end_web_sessions(older_than=now - self.idle_s)   # sweep the stale
        return Session(token, user, csrf)

    def find(self, token: str | None) -> Session | None:
        """The live session of ``token``, or None (unknown, idle too long, too old)."""
        if not token or len(token) > 128:
            return None
        key = token_hash(token)
        record = self.store.web_session(key)
        if record is None:
            return None
        now = self.clock()
        if now - record.seen > self.idle_s or now - record.created > self.absolute_s:
            self.store.end_web_sessions(token_sha256=key)
            return None
        if now - record.seen > TOUCH_EVERY_S:
            self.store.touch_web_session(key, now)
        return Session(token, record.user, record.csrf)

    def end(self, token: str) -> None:
        self.store.end_web_sessions(token_sha256=token_hash(token))


class LoginThrottle:
    """Failure counts per key (``user:NAME``, ``addr:IP``), in memory: a restart forgets
    them, which costs an attacker a restart of the depot's service, not less.

    A user name is locked after ``max_failures``; an address only after
    ``max_address_failures`` (across names): on loopback or behind a proxy every depot
    user comes from one address, and one person's typos must not lock out the others,
    while one address trying many names is still stopped."""

    def __init__(self, clock: Callable[[], float], *, max_failures: int = 5,
                 max_address_failures: int = 50, window_s: float = 900.0,
                 lockout_s: float = 900.0, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_failures, self.window_s, self.lockout_s = max_failures, window_s, lockout_s
        self.max_address_failures = max_address_failures
        self.max_keys = max_keys
        self._failures: dict[str, list[float]] = {}
        self._locked: dict[str, float] = {}

    def locked(self, *keys: str) -> bool:
        now = self.clock()
        for key in keys:
            until = self._locked.get(key)
            if until is not None:
                if now < until:
                    return True
                del self._locked[key]
        return False

    def failed(self, *keys: str) -> None:
        now = self.clock()
        if len(self._failures) >= self.max_keys:      # bounded memory under a flood
            self._failures.clear()
        for key in keys:
            recent = [t for t in self._failures.get(key, []) if now - t < self.window_s]
            recent.append(now)
            limit = self.max_address_failures if key.startswith("addr:") else \
                self.max_failures
            if len(recent) >= limit:
                self._locked[key] = now + self.lockout_s
                self._failures.pop(key, None)
                log.warning("web login: %s locked out for %g s after %d failures",
                            escape_controls(key), self.lockout_s, len(recent))
            else:
                self._failures[key] = recent

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
