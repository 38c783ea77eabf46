"""Accounts: the rules above the store for adding, changing and checking users.

Used by ``hhu-sync user ...`` and by the web app's login, so both hash, check and audit
alike. Names follow the project's identifier rule; a role is a :class:`Role`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from hhu_sync.errors import HhuSyncError
from hhu_sync.ids import check_name
from hhu_sync.store.accounts import AccountStore, Change, UserRecord
from hhu_sync.web.passwords import hash_password, verify
from hhu_sync.web.roles import Role


class AccountError(HhuSyncError):
    """An account operation was refused (unknown user, bad name or role)."""


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Accounts:
    def __init__(self, store: AccountStore, now: Callable[[], str] = _utc_now) -> None:
        self.store = store
        self.now = now

    def add(self, name: str, role: str, password: str, *, actor: str) -> UserRecord:
        try:
            check_name(name, "user name")
            role = Role(role)
        except ValueError as exc:
            raise AccountError(str(exc)) from None
        pw_hash = hash_password(password)
        self.store.add_user(name, role, pw_hash, self.now(),
                            Change(actor, "user.add", name, None, {"role": role}))
        user = self.store.user(name)
        assert user is not None
        return user

    def _held(self, name: str) -> UserRecord:
        user = self.store.user(name)
        if user is None:
            raise AccountError(f"no user {name!r}")
        return user

    def set_password(self, name: str, password: str, *, actor: str) -> None:
        self._held(name)
        self.store.update_user(name, self.now(), Change(actor, "user.passwd", name),
                               pw_hash=hash_password(password))

    def set_disabled(self, name: str, disabled: bool, *, actor: str) -> None:
        user = self._held(name)
        self.store.update_user(
            name, self.now(),
            Change(actor, "user.disable" if disabled else "user.enable", name,
                   {"disabled": user.disabled}, {"disabled": disabled}),
            disabled=disabled)

    def authenticate(self, name: str, password: str) -> UserRecord | None:
        """The user if the password is theirs and the account enabled, else None; the
        same work (one argon2 check) whether or not the name is known."""
        user = self.store.user(name) if len(name) <= 256 else None
        ok = verify(user.pw_hash if user else None, password)
        return user if ok and user is not None and not user.disabled else None
