"""SQLite statements for the accounts contract (:mod:`hhu_sync.store.accounts`), mixed
into :class:`~hhu_sync.store.sqlite.SqliteStore`: its transactions, its connections."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from hhu_sync.store.accounts import AuditEntry, Change, UserRecord, WebSessionRecord
from hhu_sync.store.base import StoreError
from hhu_sync.store.sql import SqlConnection

_USER_COLUMNS = "name, role, pw_hash, disabled, created_at, updated_at"


def _json(value: dict[str, Any] | None) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True)


def _audit(db: SqlConnection, change: Change, now: str, depot: str) -> None:
    """One audit entry, in the caller's transaction; ``depot``: the store's (where the
    change was made, hhu_sync.store.depots)."""
    db.execute('INSERT INTO audit (at, "user", action, target, before, after, depot) '
               "VALUES (?,?,?,?,?,?,?)", (now, change.user, change.action, change.target,
                                          _json(change.before), _json(change.after), depot))


def _user(row: tuple) -> UserRecord:
    return UserRecord(row[0], row[1], row[2], bool(row[3]), row[4], row[5])


class SqliteAccounts:
    """The accounts statements, in SQL both backends run (``"user"`` quoted: a keyword
    in PostgreSQL); the host class supplies ``_tx`` and ``_rows``."""

    _tx: Callable[[], AbstractContextManager[SqlConnection]]
    _rows: Callable[..., list[tuple]]
    depot: str

    def add_user(self, name: str, role: str, pw_hash: str, now: str, change: Change) -> None:
        with self._tx() as db:
            if db.execute("SELECT 1 FROM users WHERE name=?", (name,)).fetchone():
                raise StoreError(f"user {name!r} exists already")
            db.execute(f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?,?,?,0,?,?)",
                       (name, role, pw_hash, now, now))
            _audit(db, change, now, self.depot)

    def user(self, name: str) -> UserRecord | None:
        rows = self._rows(f"SELECT {_USER_COLUMNS} FROM users WHERE name=?", (name,))
        return _user(rows[0]) if rows else None

    def users(self) -> list[UserRecord]:
        return [_user(r) for r in self._rows(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")]

    def update_user(self, name: str, now: str, change: Change, *, pw_hash: str | None = None,
                    role: str | None = None, disabled: bool | None = None) -> None:
        sets: list[str] = []
        args: list[Any] = []
        for column, value in (("pw_hash", pw_hash), ("role", role),
                              ("disabled", None if disabled is None else int(disabled))):
            if value is not None:
                sets.append(f"{column}=?")
                args.append(value)
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM users WHERE name=?", (name,)).fetchone():
                raise StoreError(f"no user {name!r}")
            db.execute(f"UPDATE users SET {', '.join([*sets, 'updated_at=?'])} WHERE name=?",
                       (*args, now, name))
            if pw_hash is not None or disabled:
                db.execute('DELETE FROM web_sessions WHERE "user"=?', (name,))  # log out
            _audit(db, change, now, self.depot)

    def add_web_session(self, record: WebSessionRecord) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO web_sessions VALUES (?,?,?,?,?)",
                       (record.token_sha256, record.user, record.csrf, record.created,
                        record.seen))

    def web_session(self, token_sha256: str) -> WebSessionRecord | None:
        rows = self._rows('SELECT token_sha256, "user", csrf, created, seen '
                          'FROM web_sessions '
                          "WHERE token_sha256=?", (token_sha256,))
        return WebSessionRecord(*rows[0]) if rows else None

    def touch_web_session(self, token_sha256: str, seen: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE web_sessions SET seen=? WHERE token_sha256=?",
                       (seen, token_sha256))

    def end_web_sessions(self, *, token_sha256: str | None = None, user: str | None = None,
                         older_than: float | None = None) -> int:
        where, args = [], []
        for clause, value in (("token_sha256=?", token_sha256), ('"user"=?', user),
                              ("seen<?", older_than)):
            if value is not None:
                where.append(clause)
                args.append(value)
        if not where:
            raise ValueError("end_web_sessions needs a token, a user or an age")
        with self._tx() as db:
            return db.execute(f"DELETE FROM web_sessions WHERE {' AND '.join(where)}",
                              args).rowcount

    def record_audit(self, change: Change, now: str) -> None:
        with self._tx() as db:
            _audit(db, change, now, self.depot)

    def audit_log(self, limit: int = 200, before_id: int | None = None) -> list[AuditEntry]:
        rows = self._rows(
            'SELECT audit_id, at, "user", action, target, before, after, depot FROM audit '
            "WHERE audit_id < ? ORDER BY audit_id DESC LIMIT ?",
            (before_id if before_id is not None else 1 << 62, max(1, min(limit, 1000))))
        return [AuditEntry(*r) for r in rows]

