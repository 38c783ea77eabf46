"""SQLite statements for the exceptions contract (:mod:`hhu_sync.store.exceptions`), mixed
into :class:`~hhu_sync.store.sqlite.SqliteStore`: its transactions, its connections. What
a decision does is :func:`hhu_sync.store.exception_rules.remedy`'s; this applies it."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import Any

from hhu_sync.ingest.status import OUTCOME_STATUS, ExceptionKind, ReadingStatus
from hhu_sync.store.accounts import Change
from hhu_sync.store.exception_rules import remedy
from hhu_sync.store.exceptions import (
    DEFAULT_PAGE,
    MAX_PAGE,
    AlreadyResolved,
    Decision,
    ExceptionEvidence,
    ExceptionFilter,
    ExceptionPage,
    ExceptionRow,
    HeldReading,
    Resolution,
    ResolutionRefused,
    State,
    UnknownException,
    UploadEvidence,
    VisitEvidence,
)
from hhu_sync.store.sql import SqlConnection
from hhu_sync.store.sqlite_accounts import _audit

_ROW = ("SELECT e.exception_id, e.upload_id, e.kind, e.meter, e.obis, e.time, e.value, "
        "e.detail, e.created_at, r.decision FROM exceptions e "
        "LEFT JOIN exception_resolutions r ON r.exception_id = e.exception_id ")
_HELD = ("SELECT meter, obis, time, value, unit, status, upload_id, hhu, accepted_by "
         "FROM readings ")
_VISIT = ("SELECT upload_id, seq, meter, list_id, time, outcome, operator, notes FROM visits "
          "WHERE upload_id=? ")
_RESOLUTION = ('SELECT exception_id, decision, value, replaced, reason, "user", at, readings '
               "FROM exception_resolutions WHERE exception_id=?")
#: the visit a finding names in its detail (``visits[3].time: ...``)
_SEQ = re.compile(r"visits\[(\d+)\]")
#: the most readings of one visit shown as evidence
_MAX_VISIT_READINGS = 200
_CONFLICT = ExceptionKind.CONFLICT.value


def _where(where: ExceptionFilter, *, kind: bool = True) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for clause, value in (("e.kind=?", where.kind if kind else None),
                          ("e.meter=?", where.meter), ("e.upload_id=?", where.upload_id)):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    if where.state == State.OPEN:
        clauses.append("r.exception_id IS NULL")
    elif where.state == State.RESOLVED:
        clauses.append("r.exception_id IS NOT NULL")
    return clauses, args


def _sql(head: str, clauses: list[str]) -> str:
    return head + (f"WHERE {' AND '.join(clauses)} " if clauses else "")


def _visit_seq(db: SqlConnection, row: ExceptionRow) -> int | None:
    """The visit of the exception's upload it is about: the one its detail names, else
    the meter's visit at its time, else the meter's visit nearest to it."""
    found = _SEQ.match(row.detail)
    if found and db.execute("SELECT 1 FROM visits WHERE upload_id=? AND seq=? AND meter=?",
                            (row.upload_id, int(found[1]), row.meter)).fetchone():
        return int(found[1])
    visits = db.execute("SELECT seq, time FROM visits WHERE upload_id=? AND meter=? "
                        "ORDER BY seq", (row.upload_id, row.meter)).fetchall()
    for seq, when in visits:
        if when == row.time:
            return int(seq)

    def distance(visit: tuple) -> float:
        try:
            return abs((datetime.fromisoformat(visit[1])
                        - datetime.fromisoformat(row.time or "")).total_seconds())
        except (TypeError, ValueError):
            return float("inf")

    return int(min(visits, key=distance)[0]) if visits else None


def _visit_readings(seq_clause: bool) -> str:
    return ("WHERE upload_id=? AND (visit_seq=? OR (visit_seq IS NULL AND meter=?)) "
            if seq_clause else "WHERE upload_id=? AND visit_seq IS NULL AND meter=? ")


class SqliteExceptions:
    """The exceptions statements; the host class supplies ``_tx`` and ``_reading``."""

    _tx: Callable[[], AbstractContextManager[SqlConnection]]
    depot: str
    _reading: Callable[[], AbstractContextManager[SqlConnection]]

    def exceptions(self, where: ExceptionFilter, *, before: int | None = None,
                   limit: int = DEFAULT_PAGE) -> ExceptionPage:
        """A page of exceptions matching ``where``, newest first, below id ``before``;
        at most :data:`MAX_PAGE`. ``counts``: the matches of every kind."""
        limit = max(1, min(limit, MAX_PAGE))
        clauses, args = _where(where)
        if before is not None:
            clauses, args = [*clauses, "e.exception_id < ?"], [*args, before]
        by_kind, kind_args = _where(where, kind=False)
        with self._reading() as db:
            rows = [ExceptionRow(*r) for r in db.execute(
                _sql(_ROW, clauses) + "ORDER BY e.exception_id DESC LIMIT ?",
                (*args, limit + 1))]
            counts = dict(db.execute(_sql(
                "SELECT e.kind, COUNT(*) FROM exceptions e LEFT JOIN exception_resolutions r "
                "ON r.exception_id = e.exception_id ", by_kind) + "GROUP BY e.kind "
                "ORDER BY e.kind", kind_args).fetchall())
        more = len(rows) > limit
        rows = rows[:limit]
        return ExceptionPage(rows, rows[-1].exception_id if more else None, counts)

    def exception(self, exception_id: int) -> ExceptionEvidence | None:
        """One exception with its evidence (see :class:`ExceptionEvidence`)."""
        with self._reading() as db:
            found = db.execute(_ROW + "WHERE e.exception_id=?", (exception_id,)).fetchone()
            if found is None:
                return None
            row = ExceptionRow(*found)
            upload = db.execute("SELECT upload_id, hhu_id, received_at, visits, readings "
                                "FROM uploads WHERE upload_id=?", (row.upload_id,)).fetchone()
            seq = _visit_seq(db, row)
            visit = db.execute(_VISIT + "AND seq=?", (row.upload_id, seq)).fetchone() \
                if seq is not None else None
            rule = remedy(row.kind, row.obis)
            siblings: list[ExceptionRow] = []
            if row.obis is not None:          # about one reading: what is held under its key
                key = (row.meter, row.obis, row.time)
                held = [HeldReading(*r) for r in db.execute(
                    _HELD + "WHERE meter=? AND obis=? AND time=?", key)]
                siblings = [ExceptionRow(*r) for r in db.execute(
                    _ROW + "WHERE e.meter=? AND e.obis=? AND e.time=? AND e.exception_id!=? "
                    "ORDER BY e.exception_id LIMIT 50", (*key, exception_id))]
            else:                             # about a visit: the readings it brought
                held = [HeldReading(*r) for r in db.execute(
                    _HELD + _visit_readings(seq is not None)
                    + f"ORDER BY obis, time LIMIT {_MAX_VISIT_READINGS}",
                    (row.upload_id, seq, row.meter) if seq is not None
                    else (row.upload_id, row.meter))]
                siblings = [ExceptionRow(*r) for r in db.execute(
                    _ROW + "WHERE e.upload_id=? AND e.meter=? AND e.obis IS NULL "
                    "AND e.exception_id!=? ORDER BY e.exception_id LIMIT 50",
                    (row.upload_id, row.meter, exception_id))]
            choices: list[str] = []
            if rule.accept == "value" and held:
                choices.append(held[0].value)
                for other in [row, *siblings]:
                    if other.kind == _CONFLICT and other.decision is None and \
                            other.value is not None and other.value not in choices:
                        choices.append(other.value)
            resolved = db.execute(_RESOLUTION, (exception_id,)).fetchone()
        return ExceptionEvidence(
            exception=row, upload=UploadEvidence(*upload) if upload else None,
            visit=VisitEvidence(*visit) if visit else None, held=held, brought=row.value,
            choices=choices,
            may_accept=resolved is None and bool(rule.accept)
            and (rule.accept != "value" or bool(held)),
            effect=rule.effect, siblings=siblings,
            resolution=Resolution(*resolved) if resolved else None)

    def resolve_exception(self, exception_id: int, decision: Decision, now: str, *,
                          value: str | None, reason: str, change: Change) -> Resolution:
        """Record ``decision`` on the exception and apply it to the readings, with
        ``change`` in the audit log, in one transaction; a second resolution is refused
        (:class:`AlreadyResolved`), as is a decision the exception does not allow."""
        with self._tx() as db:
            found = db.execute(_ROW + "WHERE e.exception_id=?", (exception_id,)).fetchone()
            if found is None:
                raise UnknownException(exception_id)
            row = ExceptionRow(*found)
            done = db.execute(_RESOLUTION, (exception_id,)).fetchone()
            if done is not None:
                raise AlreadyResolved(exception_id, done[1], done[5], done[6])
            rule = remedy(row.kind, row.obis)
            if decision == Decision.ACCEPT and not rule.accept:
                raise ResolutionRefused(f"exception {exception_id} ({row.kind}) can only be "
                                        f"dismissed: {rule.effect}")
            if value is not None and not (decision == Decision.ACCEPT
                                          and rule.accept == "value"):
                raise ResolutionRefused(f"value: only accepting a conflict takes a value, "
                                        f"exception {exception_id} is {row.kind}",
                                        field="value")
            if decision == Decision.ACCEPT and rule.accept == "value":
                before, after, also, changed, replaced = self._accept_value(db, row, value)
            else:
                before, after, changed = self._set_statuses(db, row, decision, rule)
                also, replaced = [], None
            out = Resolution(exception_id, decision.value, value, replaced, reason,
                             change.user, now, changed)
            db.execute("INSERT INTO exception_resolutions (exception_id, decision, value, "
                       'replaced, reason, "user", at, readings) VALUES (?,?,?,?,?,?,?,?)',
                       (exception_id, decision.value, value, replaced, reason, change.user,
                        now, changed))
            db.executemany(
                "INSERT INTO exception_resolutions (exception_id, decision, value, replaced, "
                'reason, "user", at, readings) VALUES (?,?,?,?,?,?,?,0)',
                [(other, decision.value, value, replaced,
                  f"with exception {exception_id}", change.user, now) for other in also])
            _audit(db, replace(change, before={**(change.before or {}), **before},
                               after={**(change.after or {}), **after,
                                      "decision": decision.value, "reason": reason,
                                      **({"also_resolved": also} if also else {})}), now,
                   self.depot)
        return out

    @staticmethod
    def _accept_value(db: SqlConnection, row: ExceptionRow, value: str | None
                      ) -> tuple[dict[str, Any], dict[str, Any], list[int], int, str | None]:
        """A conflict's chosen value becomes the reading under its key; every open conflict
        under the key is resolved with it (its value, if not chosen, is never billed)."""
        if value is None:
            raise ResolutionRefused("value: accepting a conflict names the value to bill",
                                    field="value")
        key = (row.meter, row.obis, row.time)
        held = db.execute("SELECT value, status, upload_id, hhu FROM readings WHERE meter=? "
                          "AND obis=? AND time=?", key).fetchone()
        if held is None:
            raise ResolutionRefused(f"no reading is held under {row.meter} {row.obis} "
                                    f"{row.time} any more")
        open_conflicts = db.execute(
            "SELECT e.exception_id, e.upload_id, e.value FROM exceptions e "
            "LEFT JOIN exception_resolutions r ON r.exception_id = e.exception_id "
            "WHERE e.kind=? AND e.meter=? AND e.obis=? AND e.time=? "
            "AND r.exception_id IS NULL ORDER BY e.exception_id", (_CONFLICT, *key)).fetchall()
        before = {"value": held[0], "status": held[1], "upload_id": held[2]}
        conflict = ReadingStatus.CONFLICT.value
        status = ReadingStatus.OK.value if held[1] == conflict else held[1]
        if value == held[0]:
            db.execute("UPDATE readings SET status=? WHERE meter=? AND obis=? AND time=?",
                       (status, *key))
            upload_id, replaced = held[2], None
        else:
            source = next((c for c in open_conflicts if c[2] == value), None)
            if source is None:
                seen = ", ".join(repr(v) for v in dict.fromkeys(
                    [held[0], *(c[2] for c in open_conflicts)]))
                raise ResolutionRefused(f"value: {value!r} is not a value seen under this "
                                        f"key (one of {seen})", field="value")
            upload_id, replaced = source[1], held[0]
            brought = replace(row, upload_id=upload_id, detail="")
            seq = _visit_seq(db, brought)
            outcome = db.execute("SELECT outcome FROM visits WHERE upload_id=? AND seq=?",
                                 (upload_id, seq)).fetchone() if seq is not None else None
            if held[1] == conflict and outcome and outcome[0] in OUTCOME_STATUS:
                status = OUTCOME_STATUS[outcome[0]].value
            hhu = db.execute("SELECT hhu_id FROM uploads WHERE upload_id=?",
                             (upload_id,)).fetchone()
            # the value's own and reset times were the held reading's: unknown for this one
            db.execute("UPDATE readings SET value=?, status=?, upload_id=?, hhu=?, "
                       "visit_seq=?, value_time='', reset_time='' "
                       "WHERE meter=? AND obis=? AND time=?",
                       (value, status, upload_id, hhu[0] if hhu else held[3], seq, *key))
        after = {"value": value, "status": status, "upload_id": upload_id}
        also = [c[0] for c in open_conflicts if c[0] != row.exception_id]
        return before, after, also, 1, replaced

    @staticmethod
    def _set_statuses(db: SqlConnection, row: ExceptionRow, decision: Decision,
                      rule: Any) -> tuple[dict[str, Any], dict[str, Any], int]:
        """The visit's readings whose status the remedy names: ``ok`` (marked accepted by
        this exception) for accept, ``dismissed`` for dismiss; others are left alone."""
        if decision == Decision.ACCEPT:
            statuses, to, by = rule.accept_from, ReadingStatus.OK.value, row.exception_id
        else:
            statuses, to, by = rule.dismiss_from, ReadingStatus.DISMISSED.value, None
        seq = _visit_seq(db, row) if row.obis is None else None
        changed = 0
        if statuses and row.obis is None:
            marks = ",".join("?" * len(statuses))
            where = _visit_readings(seq is not None)
            args = (row.upload_id, seq, row.meter) if seq is not None \
                else (row.upload_id, row.meter)
            changed = db.execute(f"UPDATE readings SET status=?, accepted_by=? {where}"
                                 f"AND status IN ({marks})", (to, by, *args, *statuses)
                                 ).rowcount
        return ({"statuses": list(statuses), "visit": seq},
                {"status": to if changed else None, "readings": changed}, changed)
