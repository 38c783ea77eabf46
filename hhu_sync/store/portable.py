"""The store's statements that are the same on both backends (portable SQL with ``?``
parameters, which :class:`~hhu_sync.store.postgres.PgConnection` runs on PostgreSQL):
written once, so a rule changed here holds on both. The host class supplies ``_tx``,
``_reading``, ``_one``, ``_add_meter_list`` and ``accept_inputs``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from hhu_sync.model.meterlist import MeterList, meter_list_from_dict
from hhu_sync.model.scheme import Scheme, SchemeRecord, scheme_from_dict
from hhu_sync.store.accounts import Change
from hhu_sync.store.base import LibraryEntry, ListState
from hhu_sync.store.billing_rules import RegisterRead
from hhu_sync.store.interval_rules import INTERVAL_COLUMNS, HeldEvent, HeldInterval
from hhu_sync.store.sqlite_accounts import _audit


def register_reads_query(meter: str, since: str, until: str,
                         prefixes: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The portable query of :meth:`PortableStatements.register_reads` (``?`` parameters, LIKE
    with the prefixes escaped, so ``_`` and ``%`` match themselves); both backends run it."""
    like = " OR ".join(["obis LIKE ? ESCAPE '\\'"] * len(prefixes))
    patterns = [p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                for p in prefixes]
    return ("SELECT obis, time, value, unit, value_time, status, upload_id FROM readings "
            f"WHERE meter=? AND time BETWEEN ? AND ? AND ({like}) ORDER BY time, obis",
            (meter, since, until, *patterns))


_INTERVAL_SELECT = ", ".join(INTERVAL_COLUMNS)


class PortableStatements:
    _tx: Callable[[], AbstractContextManager[Any]]
    _reading: Callable[[], AbstractContextManager[Any]]
    _one: Callable[..., Any]
    _rows: Callable[..., list[tuple]]
    depot: str
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
                    after={**(change.after or {}), "dock": "revoked", **counts}), now,
                    self.depot)
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

    def record_duplicate(self, sha256: str, name: str, kind: str, reason: str,
                         moved_to: str, duplicate_of: str, now: str = "") -> None:
        """A file set aside as a duplicate of ``duplicate_of`` (inputs keeps the first)."""
        with self._tx() as db:
            db.execute("INSERT INTO input_duplicates (sha256, name, kind, reason, moved_to, "
                       "duplicate_of, received_at) VALUES (?,?,?,?,?,?,?)",
                       (sha256, name, kind, reason, moved_to, duplicate_of, now))

    def library_entries(self) -> list[LibraryEntry]:
        """Every scheme held: id, version, model, when taken and from which file."""
        rows = self._rows(
            "SELECT s.scheme_id, s.version, s.model, s.updated_at, COALESCE(i.name, '') "
            "FROM schemes s LEFT JOIN inputs i ON i.sha256 = s.sha256 ORDER BY s.scheme_id")
        return [LibraryEntry(*r) for r in rows]

    def bundle(self, delivery_id: int) -> bytes | None:
        """The sealed transfer file held for a delivery."""
        data = self._one("SELECT bundle FROM deliveries WHERE delivery_id=?", (delivery_id,))
        return bytes(data) if data is not None else None

    def intervals(self, meter: str, channel: str | None = None, *, since: int | None = None,
                  until: int | None = None) -> list[HeldInterval]:
        """A meter's intervals (one channel's, or all) with ends in [since, until], in
        (channel, end) order."""
        sql = f"SELECT {_INTERVAL_SELECT} FROM intervals WHERE meter=?"
        args: list[Any] = [meter]
        for clause, value in (("channel=?", channel), ("interval_end>=?", since),
                              ("interval_end<=?", until)):
            if value is not None:
                sql += f" AND {clause}"
                args.append(value)
        return [HeldInterval(*row) for row in
                self._rows(sql + " ORDER BY channel, interval_end", args)]

    def last_interval_ends(self, meter: str) -> dict[str, int]:
        """Each channel's last interval end held for a meter (``since = "last"``)."""
        return dict(self._rows("SELECT channel, MAX(interval_end) FROM intervals "
                               "WHERE meter=? GROUP BY channel", (meter,)))

    def vee_findings(self, meter: str, *, since: int | None = None,
                     until: int | None = None) -> list[tuple]:
        """A meter's validation findings overlapping [since, until] (and those about
        the whole read): (code, channel, first_end, last_end, count, detail, upload_id),
        newest first."""
        sql = ("SELECT code, channel, first_end, last_end, count, detail, upload_id FROM "
               "vee_findings WHERE meter=?")
        args: list[Any] = [meter]
        if since is not None:
            sql += " AND (last_end IS NULL OR last_end>=?)"
            args.append(since)
        if until is not None:
            sql += " AND (first_end IS NULL OR first_end<=?)"
            args.append(until)
        return self._rows(sql + " ORDER BY finding_id DESC LIMIT 500", args)

    def register_reads(self, meter: str, since: str, until: str,
                       prefixes: Sequence[str]) -> list[RegisterRead]:
        """A meter's readings whose codes start with one of ``prefixes`` (billing names
        them: :data:`hhu_sync.store.billing_rules.REGISTER_PREFIXES`), with times in
        [since, until] (UTC ISO), in time order."""
        if not prefixes:
            return []
        sql, params = register_reads_query(meter, since, until, prefixes)
        return [RegisterRead(*row) for row in self._rows(sql, params)]

    def meter_events(self, meter: str, *, since: int | None = None,
                     until: int | None = None) -> list[HeldEvent]:
        """A meter's logbook entries with times in [since, until], in time order."""
        sql = "SELECT meter, at, kind, code, data, source FROM events WHERE meter=?"
        args: list[Any] = [meter]
        for clause, value in (("at>=?", since), ("at<=?", until)):
            if value is not None:
                sql += f" AND {clause}"
                args.append(value)
        return [HeldEvent(m, at, kind, code, tuple(tuple(item) for item in json.loads(data)),
                          source)
                for m, at, kind, code, data, source in
                self._rows(sql + " ORDER BY at, event_id", args)]
