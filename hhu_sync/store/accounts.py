"""The accounts part of the store contract: users, browser sessions, the audit log.

Typed values in and out; the rules (who may, how long a session lives, what a password
must be) live in :mod:`hhu_sync.web`, above every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class UserRecord:
    name: str
    role: str
    pw_hash: str
    disabled: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class WebSessionRecord:
    token_sha256: str
    user: str
    csrf: str
    created: float
    seen: float


@dataclass(frozen=True)
class AuditEntry:
    audit_id: int
    at: str
    user: str
    action: str
    target: str
    before: str
    after: str
    depot: str = ""     # where it was recorded ('' before schema version 2)


@dataclass(frozen=True)
class Change:
    """One audited state change: written in the same transaction as the change."""

    user: str
    action: str
    target: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AccountStore(Protocol):
    def add_user(self, name: str, role: str, pw_hash: str, now: str, change: Change) -> None: ...
    def user(self, name: str) -> UserRecord | None: ...
    def users(self) -> list[UserRecord]: ...
    def update_user(self, name: str, now: str, change: Change, *, pw_hash: str | None = None,
                    role: str | None = None, disabled: bool | None = None) -> None: ...
    def add_web_session(self, record: WebSessionRecord) -> None: ...
    def web_session(self, token_sha256: str) -> WebSessionRecord | None: ...
    def touch_web_session(self, token_sha256: str, seen: float) -> None: ...
    def end_web_sessions(self, *, token_sha256: str | None = None, user: str | None = None,
                         older_than: float | None = None) -> int: ...
    def record_audit(self, change: Change, now: str) -> None: ...
    def audit_log(self, limit: int = 200, before_id: int | None = None) -> list[AuditEntry]: ...
