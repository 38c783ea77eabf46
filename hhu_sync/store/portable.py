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
from hhu_sync.profile.vee import VeeCode
from hhu_sync.store.accounts import Change
from hhu_sync.store.base import CANCEL_REFUSED, LibraryEntry, ListState, StoreError
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
#: a handheld's row, in the order ``touch_hhu`` writes and ``status`` reads it
HHU_COLUMNS = "hhu_id, crew, firmware, battery, free_flash, dock, last_seen, depot"


def _list_change(db: Any, change: Change | None, before: str, after: str, now: str,
                 depot: str) -> None:
    """Audit a list's change in its own transaction: its ``state`` as found and as left,
    over whatever else the change's before and after hold."""
    if change is not None:
        _audit(db, replace(change, before={**(change.before or {}), "state": before},
                           after={**(change.after or {}), "state": after}), now, depot)


def dict_rows(cur: Any) -> list[dict[str, Any]]:
    """A cursor's rows as dicts by column name (both drivers' ``description``)."""
    names = [d[0] for d in cur.description or ()]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


class PortableStatements:
    _tx: Callable[[], AbstractContextManager[Any]]
    _reading: Callable[[], AbstractContextManager[Any]]
    _one: Callable[..., Any]
    _rows: Callable[..., list[tuple]]
    depot: str
    _add_meter_list: Callable[..., int]
    accept_inputs: Callable[[list[dict[str, Any]]], list[int | None]]
    #: appended to a SELECT whose row the transaction then changes: `` FOR UPDATE`` on
    #: PostgreSQL (another depot waits), nothing on SQLite (one writer at a time already)
    _LOCK_ROWS: str
    #: the column that orders rows as they were inserted (``rowid``, or a sequence)
    _INSERTION_ORDER: str
    #: ``status``'s queries of one row a group, in each backend's dialect
    _FAILED_VISITS: str
    _METER_FLAGS: str
    _depot_status: Callable[[dict[str, Any], str | None], dict[str, Any]]

    def status(self, depot: str | None = None) -> dict[str, Any]:
        """What the store holds, for ``hhu-sync status`` and scripts: every depot's, or
        one depot's handhelds, sessions and uploads (:meth:`DepotReads._depot_status`).
        Keys are only added, never renamed: scripts read ``status --json``."""
        with self._reading() as db:
            status = self._status(db)
        return self._depot_status(status, depot)

    def _status(self, db: Any) -> dict[str, Any]:
        def rows(sql: str) -> list[dict[str, Any]]:
            return dict_rows(db.execute(sql))

        def one(sql: str) -> Any:
            return db.execute(sql).fetchone()[0]

        hhus = rows(f"SELECT {HHU_COLUMNS} FROM hhus ORDER BY hhu_id")
        # The last sign of each HHU in a cradle: its handshake (last_seen), and what its
        # sessions commit while it stays there (uploads, deliveries, the session's end).
        activity: dict[str, str] = {}
        for sql in ("SELECT hhu_id, MAX(received_at) FROM uploads GROUP BY hhu_id",
                    "SELECT target_hhu, MAX(delivered_at) FROM deliveries "
                    "WHERE delivered_at IS NOT NULL GROUP BY target_hhu",
                    "SELECT hhu_id, MAX(ended_at) FROM sessions WHERE hhu_id IS NOT NULL "
                    "GROUP BY hhu_id"):
            for hhu_id, when in db.execute(sql):
                if hhu_id and when and when > activity.get(hhu_id, ""):
                    activity[hhu_id] = when
        # A session recorded at its start and not ended: the HHU is in its cradle however
        # long its transfer takes. Only the newest running one after the HHU's last ended
        # session counts (an older one was cut short by a daemon that stopped).
        running: dict[str, str] = dict(db.execute(
            "SELECT s.hhu_id, MAX(s.started_at) FROM sessions s WHERE s.ended_at IS NULL "
            "AND s.hhu_id IS NOT NULL AND s.started_at > COALESCE((SELECT MAX(e.started_at) "
            "FROM sessions e WHERE e.hhu_id = s.hhu_id AND e.ended_at IS NOT NULL), '') "
            "GROUP BY s.hhu_id").fetchall())
        for hhu in hhus:
            hhu["last_activity"] = max(hhu["last_seen"] or "", activity.get(hhu["hhu_id"], ""))
            hhu["session_running_since"] = running.get(hhu["hhu_id"])
        return {
            "hhus": hhus,
            "queue": rows("SELECT target_hhu, target_crew, kind, COUNT(*) AS n FROM deliveries "
                          "WHERE state='queued' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"),
            "lists": rows("SELECT list_id, name, hhu, crew, due, state, entries, delivered_to "
                          "FROM lists ORDER BY due, list_id"),
            "lists_by_state": {r[0]: r[1] for r in db.execute(
                "SELECT state, COUNT(*) FROM lists GROUP BY state")},
            "sessions": rows("SELECT session_id, depot, hhu_id, dock, started_at, ended_at, "
                             "outcome, pushed, pulled FROM sessions "
                             "ORDER BY session_id DESC LIMIT 10"),
            "exceptions": rows("SELECT kind, COUNT(*) AS n FROM exceptions GROUP BY kind "
                               "ORDER BY kind"),
            "readings": one("SELECT COUNT(*) FROM readings"),
            "uploads": one("SELECT COUNT(*) FROM uploads"),
            "failed_deliveries": rows("SELECT delivery_id, kind, ref, target_hhu, attempts, "
                                      "last_error FROM deliveries WHERE state='failed' "
                                      "ORDER BY delivery_id"),
            "inputs_by_status": {r[0]: r[1] for r in db.execute(
                "SELECT status, COUNT(*) FROM inputs GROUP BY status")},
            "rejected_inputs": [
                {**r, "reason": (r["reason"] or "").splitlines()[0][:300] if r["reason"]
                 else "", "reason_lines": len((r["reason"] or "").splitlines())}
                for r in rows("SELECT name, kind, reason, moved_to, received_at FROM inputs "
                              "WHERE status='rejected' ORDER BY received_at DESC, "
                              f"{self._INSERTION_ORDER} DESC LIMIT 5")],
            # Meters of partial lists without a done visit, with their last visit's outcome
            # and note (none: not visited at all).
            "failed_visits": rows(self._FAILED_VISITS),
            # Meters whose latest visit read error flags (F.F) other than all zeros.
            "meter_flags": rows(self._METER_FLAGS),
        }

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

    def delivery_done(self, delivery_id: int, hhu_id: str, now: str) -> None:
        """The HHU has the delivery; a meter list it carried is then on that HHU."""
        with self._tx() as db:
            found = db.execute("UPDATE deliveries SET state='delivered', delivered_at=?, "
                               "attempts=attempts+1 WHERE delivery_id=? RETURNING kind, ref",
                               (now, delivery_id)).fetchall()
            row = found[0] if found else None
            if row and row[0] == "meter_list":
                db.execute("UPDATE lists SET state=?, delivered_to=?, updated_at=? "
                           "WHERE list_id=? AND state=?",
                           (ListState.ON_HHU, hhu_id, now, row[1], ListState.QUEUED))

    def requeue_list(self, list_id: str, now: str = "", *,
                     change: Change | None = None) -> str:
        """Send a list again (to its target, freshly packed): after a lost or wiped HHU.
        ``change``: audited in this transaction (see :func:`_list_change`). Returns the
        state the list was in. The list's row is locked while it changes."""
        with self._tx() as db:
            target = db.execute("SELECT hhu, crew, state FROM lists WHERE list_id=?"
                                + self._LOCK_ROWS, (list_id,)).fetchone()
            if not target:
                raise StoreError(f"no meter list {list_id!r}")
            db.execute("UPDATE deliveries SET state='cancelled' WHERE kind='meter_list' "
                       "AND ref=? AND state IN ('queued', 'failed')", (list_id,))
            db.execute(
                "INSERT INTO deliveries (kind, ref, target_hhu, target_crew, state, created_at)"
                " VALUES ('meter_list', ?, ?, ?, 'queued', ?)",
                (list_id, target[0], None if target[0] else target[1], now))
            db.execute("UPDATE lists SET state=?, updated_at=? WHERE list_id=?",
                       (ListState.QUEUED, now, list_id))
            _list_change(db, change, target[2], ListState.QUEUED, now, self.depot)
        return str(target[2])

    def cancel_list(self, list_id: str, now: str = "", *,
                    change: Change | None = None) -> str:
        """Withdraw a list; ``change`` and the result as for :meth:`requeue_list`."""
        with self._tx() as db:
            row = db.execute("SELECT state FROM lists WHERE list_id=?" + self._LOCK_ROWS,
                             (list_id,)).fetchone()
            if not row:
                raise StoreError(f"no meter list {list_id!r}")
            refused = CANCEL_REFUSED.get(row[0])
            if refused is not None:
                raise StoreError(f"meter list {list_id} is {row[0]}: {refused}")
            db.execute("UPDATE deliveries SET state='cancelled' WHERE kind='meter_list' "
                       "AND ref=? AND state IN ('queued', 'failed')", (list_id,))
            db.execute("UPDATE lists SET state=?, updated_at=? WHERE list_id=?",
                       (ListState.CANCELLED, now, list_id))
            _list_change(db, change, row[0], ListState.CANCELLED, now, self.depot)
        return str(row[0])

    def list_view(self, list_id: str) -> dict[str, Any] | None:
        """One meter list for a person: its row (no entries), its deliveries (no transfer
        file), and every visit to it (oldest first, then in upload order) with the HHU
        that uploaded it; None when the store does not hold it. Entries: :meth:`get_list`."""
        with self._reading() as db:

            def rows(sql: str) -> list[dict[str, Any]]:
                return dict_rows(db.execute(sql, (list_id,)))

            head = rows("SELECT list_id, name, hhu, crew, due, state, entries, delivered_to, "
                        "created_at, updated_at FROM lists WHERE list_id=?")
            if not head:
                return None
            return {
                "list": head[0],
                "deliveries": rows(
                    "SELECT delivery_id, target_hhu, target_crew, state, attempts, "
                    "last_error, created_at, delivered_at FROM deliveries "
                    "WHERE kind='meter_list' AND ref=? ORDER BY delivery_id"),
                "visits": rows(
                    "SELECT v.meter, v.time, v.outcome, v.notes, v.operator, v.error_flags, "
                    "v.verify, v.upload_id, u.hhu_id AS hhu FROM visits v "
                    "JOIN uploads u ON u.upload_id = v.upload_id WHERE v.list_id=? "
                    f"ORDER BY v.time, u.{self._INSERTION_ORDER}, v.seq"),
            }

    def touch_hhu(self, hhu_id: str, *, dock: str, firmware: str, battery: int | None,
                  free_flash: int | None, now: str, crew: str | None = None) -> None:
        """A handheld seen docked: its row made or brought up to date (a crew it does not
        name keeps the one held)."""
        with self._tx() as db:
            db.execute(
                f"INSERT INTO hhus ({HHU_COLUMNS}) VALUES (?,?,?,?,?,?,?,?) "
                "ON CONFLICT (hhu_id) DO UPDATE SET "
                "crew=COALESCE(excluded.crew, hhus.crew), firmware=excluded.firmware, "
                "battery=excluded.battery, free_flash=excluded.free_flash, "
                "dock=excluded.dock, last_seen=excluded.last_seen, depot=excluded.depot",
                (hhu_id, crew, firmware, battery, free_flash, dock, now, self.depot))

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

    def future_spans(self, meter: str, *, since: int, until: int
                     ) -> list[tuple[str, str, int, int]]:
        """A meter's ``future_interval`` findings overlapping [since, until]: (upload
        id, channel, first end, last end), every one (billing leaves those intervals
        out: they end after the meter was read)."""
        return self._rows(
            "SELECT upload_id, channel, first_end, last_end FROM vee_findings WHERE meter=? "
            "AND code=? AND last_end>=? AND first_end<=? ORDER BY finding_id",
            (meter, VeeCode.FUTURE.value, since, until))

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
