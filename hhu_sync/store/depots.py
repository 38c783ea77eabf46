"""Which depot made a record: the depot id the store writes, and the reads by depot.

Many depots may share one store (PostgreSQL). Each daemon opens its store with its own
``[depot] id`` (:func:`~hhu_sync.store.open_store`'s ``depot``), and the store writes
that id into every session, upload, audit entry and HHU sighting it records, so a
record says where it was made whichever process later reads it. Rows made before the
store recorded depots (schema version 1) hold :data:`NOT_RECORDED`.

The reads here are portable SQL (``?`` parameters), written once for both backends;
the host class supplies ``_rows``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

#: the depot id of a configuration without ``[depot] id`` (hhu_sync.config)
DEFAULT_DEPOT = "depot"
#: what the depot column of a row made before schema version 3 holds: not recorded
NOT_RECORDED = ""
#: sessions a status shows (the newest)
STATUS_SESSIONS = 10

_SESSION_COLUMNS = ("session_id, depot, hhu_id, dock, started_at, ended_at, outcome, "
                    "pushed, pulled")


@dataclass(frozen=True)
class SessionRecord:
    """One docking session as recorded: where (depot, dock), which HHU, how it ended
    (``outcome`` ``running`` while it lasts), the files pushed to and pulled from it."""

    session_id: int
    depot: str
    hhu_id: str | None
    dock: str
    started_at: str
    ended_at: str | None
    outcome: str
    pushed: int
    pulled: int


@dataclass(frozen=True)
class DepotSummary:
    """One depot as the store knows it: the HHUs last seen there, its sessions and
    uploads, and its last sign (a session begun or an upload received), UTC ISO 8601."""

    depot: str
    hhus: int
    sessions: int
    uploads: int
    last_seen: str | None


class DepotReads:
    """Reads by depot, mixed into both backends."""

    _rows: Callable[..., list[tuple]]

    def sessions(self, *, depot: str | None = None, limit: int = 50,
                 before_id: int | None = None) -> list[SessionRecord]:
        """Sessions newest first (by id): of one depot, or of all (``depot`` None);
        ``before_id``: only older ones than that session (the next page)."""
        where = ["session_id < ?"]
        args: list[Any] = [before_id if before_id is not None else 1 << 62]
        if depot is not None:
            where.append("depot = ?")
            args.append(depot)
        rows = self._rows(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE "
                          f"{' AND '.join(where)} ORDER BY session_id DESC LIMIT ?",
                          [*args, max(1, min(int(limit), 1000))])
        return [SessionRecord(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]),
                              int(r[8])) for r in rows]

    def depots(self) -> list[DepotSummary]:
        """Every depot the store holds a session, an upload or an HHU of, by id (one
        made before depots were recorded is :data:`NOT_RECORDED`, first)."""
        rows = self._rows(
            "SELECT depot, SUM(h), SUM(s), SUM(u), MAX(last) FROM ("
            "SELECT depot, COUNT(*) AS h, 0 AS s, 0 AS u, NULL AS last FROM hhus "
            "GROUP BY depot "
            "UNION ALL SELECT depot, 0, COUNT(*), 0, MAX(started_at) FROM sessions "
            "GROUP BY depot "
            "UNION ALL SELECT depot, 0, 0, COUNT(*), MAX(received_at) FROM uploads "
            "GROUP BY depot) AS seen GROUP BY depot ORDER BY depot")
        return [DepotSummary(r[0], int(r[1]), int(r[2]), int(r[3]), r[4]) for r in rows]

    def _depot_status(self, status: dict[str, Any], depot: str | None) -> dict[str, Any]:
        """``status`` (every key the backend's status has) narrowed to one depot: its
        HHUs, its sessions, its uploads and the readings they stored; with ``depot``
        (the filter, None: all) and ``depots`` (every depot's summary) added. Lists,
        the queue, exceptions and inputs are the shared store's, never narrowed."""
        status["depot"] = depot
        status["depots"] = [asdict(d) for d in self.depots()]
        if depot is None:
            return status
        status["hhus"] = [h for h in status["hhus"] if h["depot"] == depot]
        status["sessions"] = [asdict(s) for s in self.sessions(depot=depot,
                                                               limit=STATUS_SESSIONS)]
        counted = self._rows("SELECT COUNT(*), COALESCE(SUM(stored), 0) FROM uploads "
                             "WHERE depot = ?", (depot,))
        status["uploads"], status["readings"] = int(counted[0][0]), int(counted[0][1])
        return status
