"""Per-meter claims of remote runs (:mod:`hhu_sync.store.claim_rules`), the statements
both backends share.

A claim is taken in one transaction that first locks the run's delivery row (PostgreSQL
``FOR UPDATE``; SQLite's write transaction holds the database), so two daemons claiming
meters of one run are served one after the other: the port check and the claim see the
same rows. The claim itself is ``INSERT ... ON CONFLICT DO NOTHING`` (a new meter) or an
``UPDATE`` of the row read (a renewal, a take-over of a lapsed lease).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from hhu_sync.store.claim_rules import (
    SETTLED,
    ClaimState,
    ClaimStep,
    ClaimVerdict,
    HeldClaim,
    MeterClaim,
    RemoteRunSummary,
    decide,
)

_CLAIM_COLUMNS = ("delivery_id, seq, serial, port, runner, state, lease_until, claimed_at, "
                  "takeovers, outcome, attempts, upload_id, notes, finished_at")


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


class RemoteClaims:
    _rows: Callable[..., list[tuple]]
    _tx: Callable[[], AbstractContextManager[Any]]
    _LOCK_ROWS: str
    #: a statement taking a lock on one port's name until the transaction ends (two
    #: depots claiming on one port in two runs lock two different delivery rows), or
    #: "" where transactions are serial already (SQLite: one writer)
    _LOCK_PORT: str = ""

    def claim_remote_meter(self, delivery_id: int, seq: int, *, serial: str, port: str,
                           runner: str, at: float, lease_s: float) -> ClaimVerdict:
        """Claim entry ``seq`` of run ``delivery_id`` for ``runner`` until ``at +
        lease_s`` (unix seconds): CLAIMED (the caller reads it), BUSY (another runner
        has it or its port), SETTLED (done already, or no such run)."""
        with self._tx() as db:
            if db.execute("SELECT delivery_id FROM deliveries WHERE delivery_id=?"
                          + self._LOCK_ROWS, (delivery_id,)).fetchone() is None:
                return ClaimVerdict.SETTLED
            row = db.execute("SELECT runner, state, lease_until FROM remote_claims "
                             "WHERE delivery_id=? AND seq=?", (delivery_id, seq)).fetchone()
            held = HeldClaim(row[0], row[1], float(row[2])) if row else None
            if self._LOCK_PORT:
                db.execute(self._LOCK_PORT, (port,))
            # the port another runner talks to now: in this run or any other (two
            # depots, two lists, one gateway); a lapsed claim holds nothing
            busy = db.execute(
                "SELECT 1 FROM remote_claims WHERE port=? AND state=? AND lease_until>? "
                "AND runner<>? AND NOT (delivery_id=? AND seq=?) LIMIT 1",
                (port, ClaimState.CLAIMED, at, runner, delivery_id, seq)).fetchone()
            verdict, step = decide(held, runner, at, port_busy=busy is not None)
            until = at + lease_s
            if step == ClaimStep.NEW:
                inserted = db.execute(f"INSERT INTO remote_claims ({_CLAIM_COLUMNS}) VALUES "
                           "(?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, 0, NULL, '', NULL) "
                           "ON CONFLICT (delivery_id, seq) DO NOTHING",
                           (delivery_id, seq, serial, port, runner, ClaimState.CLAIMED,
                            until, _iso(at))).rowcount
                if not inserted:            # taken meanwhile (the lock makes it rare)
                    return ClaimVerdict.BUSY
            elif step == ClaimStep.RENEW:
                db.execute("UPDATE remote_claims SET lease_until=? WHERE delivery_id=? "
                           "AND seq=?", (until, delivery_id, seq))
            elif step == ClaimStep.TAKE_OVER:
                db.execute("UPDATE remote_claims SET runner=?, lease_until=?, claimed_at=?, "
                           "takeovers=takeovers+1 WHERE delivery_id=? AND seq=?",
                           (runner, until, _iso(at), delivery_id, seq))
            return verdict

    def renew_remote_claims(self, runner: str, at: float, lease_s: float) -> int:
        """A fresh lease on every meter ``runner`` holds (any run): the daemon is alive.
        How many it holds. A lease that lapsed or was released is not brought back: the
        meter is free for any runner from then (this one claims it again as another
        would), so a released claim (a program task waiting for its window) or one
        another depot may be taking over stays free."""
        with self._tx() as db:
            return int(db.execute("UPDATE remote_claims SET lease_until=? WHERE runner=? "
                                  "AND state=? AND lease_until>?",
                                  (at + lease_s, runner, ClaimState.CLAIMED, at)).rowcount)

    def settle_remote_meter(self, delivery_id: int, seq: int, runner: str, *, state: str,
                            outcome: str, attempts: int, upload_id: str | None, notes: str,
                            at: float) -> bool:
        """A claimed meter is over (``state`` done or skipped), settled by ``runner``
        (whoever holds its claim now: the first to settle it is its reader); False when
        it was settled already."""
        if state not in SETTLED:
            raise ValueError(f"a meter is settled done or skipped, not {state!r}")
        with self._tx() as db:
            return int(db.execute(
                "UPDATE remote_claims SET state=?, runner=?, outcome=?, attempts=?, "
                "upload_id=?, notes=?, finished_at=? WHERE delivery_id=? AND seq=? "
                "AND state=?", (state, runner, outcome, attempts, upload_id, notes[:2000],
                                _iso(at), delivery_id, seq, ClaimState.CLAIMED)).rowcount) > 0

    def release_remote_claims(self, delivery_id: int, runner: str) -> int:
        """``runner`` stops: its meters of the run not settled are free at once (their
        leases end now) for another runner, or itself at its next start."""
        with self._tx() as db:
            return int(db.execute("UPDATE remote_claims SET lease_until=0 WHERE "
                                  "delivery_id=? AND runner=? AND state=?",
                                  (delivery_id, runner, ClaimState.CLAIMED)).rowcount)

    def remote_claims(self, delivery_id: int) -> list[MeterClaim]:
        """Every claimed or settled meter of a run, in list order."""
        return [MeterClaim(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], float(r[6]), r[7],
                           int(r[8]), r[9], int(r[10]), r[11], r[12], r[13])
                for r in self._rows(f"SELECT {_CLAIM_COLUMNS} FROM remote_claims "
                                    "WHERE delivery_id=? ORDER BY seq", (delivery_id,))]

    def remote_run_summaries(self, limit: int = 100, delivery_id: int | None = None
                             ) -> list[RemoteRunSummary]:
        """The runs of remote lists, newest first (or the one ``delivery_id``): each
        list's state for its latest run, its meters settled and claimed, its readers."""
        one = "" if delivery_id is None else " AND d.delivery_id=?"
        rows = self._rows(
            "SELECT d.delivery_id, d.ref, l.name, l.state, d.delivery_id = (SELECT "
            "MAX(e.delivery_id) FROM deliveries e WHERE e.kind='meter_list' AND "
            "e.ref=d.ref), d.created_at, d.delivered_at, d.target_hhu, l.entries, "
            "(SELECT COUNT(*) FROM remote_claims c WHERE c.delivery_id=d.delivery_id AND "
            "c.state<>?), (SELECT COUNT(*) FROM remote_claims c WHERE "
            "c.delivery_id=d.delivery_id AND c.state=?) FROM deliveries d JOIN lists l ON "
            "l.list_id=d.ref WHERE d.kind='meter_list' AND l.hhu IS NULL AND l.crew IS NULL"
            + one + " ORDER BY d.delivery_id DESC LIMIT ?",
            (ClaimState.CLAIMED, ClaimState.CLAIMED,
             *(() if delivery_id is None else (delivery_id,)), max(1, limit)))
        readers: dict[int, set[str]] = {}
        if rows:
            marks = ", ".join("?" * len(rows))
            for did, runner in self._rows(
                    f"SELECT DISTINCT delivery_id, runner FROM remote_claims WHERE "
                    f"delivery_id IN ({marks})", tuple(r[0] for r in rows)):
                readers.setdefault(int(did), set()).add(runner)
        return [RemoteRunSummary(int(r[0]), r[1], r[2], r[3] if r[4] else "ended", r[5],
                                 r[6], r[7], int(r[8]), int(r[9]), int(r[10]),
                                 tuple(sorted(readers.get(int(r[0]), ()))))
                for r in rows]
