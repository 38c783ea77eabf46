"""The store's statements that are the same on both backends (portable SQL with ``?``
parameters, which :class:`~hhu_sync.store.postgres.PgConnection` runs on PostgreSQL):
written once, so a rule changed here holds on both. The host class supplies ``_tx``,
``_reading``, ``_one``, ``_add_meter_list`` and ``accept_inputs``."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from hhu_sync.model.meterlist import MeterList, meter_list_from_dict
from hhu_sync.model.scheme import Scheme, SchemeRecord, scheme_from_dict
from hhu_sync.store.accounts import Change
from hhu_sync.store.base import ListState
from hhu_sync.store.sqlite_accounts import _audit


class PortableStatements:
    _tx: Callable[[], AbstractContextManager[Any]]
    _reading: Callable[[], AbstractContextManager[Any]]
    _one: Callable[..., Any]
    _add_meter_list: Callable[..., int]
    accept_inputs: Callable[[list[dict[str, Any]]], list[int | None]]

    def scheme(self, scheme_id: str) -> Scheme | None:
        data = self._one("SELECT data FROM schemes WHERE scheme_id=?", (scheme_id,))
        return scheme_from_dict(json.loads(data)) if data else None

    def accept_input(self, *, sha256: str, name: str, kind: str, moved_to: str, now: str,
                     scheme: Scheme | SchemeRecord | None = None, mlist: MeterList | None = None,
                     quick_send_hhu: str | None = None,
                     bundle: tuple[str, str, bytes] | None = None,
                     force: bool = False) -> int | None:
        """Record an accepted outbox file and what it queues, in one transaction.

        Returns the new delivery id, if the file queued one. ``bundle`` (HHU id, bundle
        id, sealed transfer file) is bound to that delivery in the same transaction. A
        crash before the file is moved leaves the input recorded, so a restart finishes
        the move and queues nothing twice. A scheme older than (or changed under the
        version of) the library's is refused with :class:`SchemeVersionRefused` unless
        ``force``.
        """
        return self.accept_inputs([dict(
            sha256=sha256, name=name, kind=kind, moved_to=moved_to, now=now, scheme=scheme,
            mlist=mlist, quick_send_hhu=quick_send_hhu, bundle=bundle, force=force)])[0]

    def add_meter_list(self, mlist: MeterList, now: str = "") -> int:
        with self._tx() as db:
            return self._add_meter_list(db, mlist, now)

    def get_list(self, list_id: str) -> MeterList | None:
        data = self._one("SELECT data FROM lists WHERE list_id=?", (list_id,))
        return meter_list_from_dict(json.loads(data)) if data else None

    def list_state(self, list_id: str) -> str | None:
        return self._one("SELECT state FROM lists WHERE list_id=?", (list_id,))

    def delivery_failed(self, delivery_id: int, error: str, not_before: str,
                        max_attempts: int) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET attempts=attempts+1, last_error=?, not_before=?, "
                "state=CASE WHEN attempts+1 >= ? THEN 'failed' ELSE state END "
                "WHERE delivery_id=?", (error[:500], not_before, max_attempts, delivery_id))

    def revoke_hhu(self, hhu_id: str, now: str = "", *,
                   change: Change | None = None) -> dict[str, int]:
        """Stop all work for a revoked HHU: its own deliveries are cancelled; crew
        deliveries it had been given go back to the crew (packed afresh for another).
        ``change``: audited in this transaction, with the dock before and the counts."""
        with self._tx() as db:
            row = db.execute("SELECT dock FROM hhus WHERE hhu_id=?", (hhu_id,)).fetchone()
            own = db.execute(
                "UPDATE deliveries SET state='cancelled', last_error='HHU revoked' "
                "WHERE state='queued' AND target_hhu=? AND target_crew IS NULL",
                (hhu_id,)).rowcount
            crew = db.execute(
                "UPDATE deliveries SET target_hhu=NULL, bundle_id=NULL, bundle=NULL "
                "WHERE state='queued' AND target_hhu=? AND target_crew IS NOT NULL",
                (hhu_id,)).rowcount
            on_hhu = db.execute("SELECT COUNT(*) FROM lists WHERE state=? AND delivered_to=?",
                                (ListState.ON_HHU, hhu_id)).fetchone()[0]
            db.execute("UPDATE hhus SET dock='revoked', last_seen=? WHERE hhu_id=?",
                       (now, hhu_id))
            counts = {"cancelled": own, "returned_to_crew": crew, "lists_on_hhu": on_hhu}
            if change is not None:
                _audit(db, replace(
                    change, before={**(change.before or {}), "dock": row[0] if row else None},
                    after={**(change.after or {}), "dock": "revoked", **counts}), now)
        return counts

    def end_session(self, session_id: int, *, hhu_id: str | None, outcome: str, pushed: int,
                    pulled: int, report: dict[str, Any], now: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE sessions SET hhu_id=?, ended_at=?, outcome=?, pushed=?, "
                       "pulled=?, report=? WHERE session_id=?",
                       (hhu_id, now, outcome, pushed, pulled, json.dumps(report), session_id))

    def upload_held(self, upload_id: str) -> bool:
        return self._one("SELECT 1 FROM uploads WHERE upload_id=?", (upload_id,)) is not None

    def mark_cleared(self, upload_id: str, now: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE uploads SET cleared_at=? WHERE upload_id=?", (now, upload_id))
