"""Remote lists' runs (:mod:`hhu_sync.remote`), the statements both backends share.

A remote list (target "remote") has neither hhu nor crew, so its delivery targets
neither and no HHU is ever given it; the remote runner begins it (the delivery is then
delivered to the runner, which the visits' uploads name as their hhu_id, so the ingest's
checks hold as for an HHU) and ends it, which settles the list. The host class supplies
``_rows``, ``_tx`` and ``_settle_lists``; the statements are portable SQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from hhu_sync.model.meterlist import TIMEZONE
from hhu_sync.model.window import DEFAULT_ZONE
from hhu_sync.store.base import ListState, RemoteRun


class RemoteRuns:
    _rows: Callable[..., list[tuple]]
    _tx: Callable[[], AbstractContextManager[Any]]
    _settle_lists: Callable[..., None]
    #: appended to the statement that reads a delivery before taking it: PostgreSQL
    #: locks the rows (two daemons must not both begin one run); SQLite's write
    #: transaction already holds the database.
    _LOCK_ROWS = ""

    # A remote list (target "remote") has neither hhu nor crew, so its delivery targets
    # neither and no HHU is ever given it; the remote runner begins it (the delivery is
    # then delivered to the runner, which the visits' uploads name as their hhu_id, so
    # the ingest's checks hold as for an HHU) and ends it, which settles the list.

    def remote_runs(self) -> list[RemoteRun]:
        """Remote lists to run: queued ones, and ones begun and never ended (resumed)."""
        rows = self._rows(
            "SELECT d.delivery_id, d.ref, l.state, d.target_hhu, d.delivery_id = (SELECT "
            "MIN(f.delivery_id) FROM deliveries f WHERE f.kind='meter_list' AND "
            "f.ref=d.ref) AND l.state=?, l.data FROM deliveries d "
            "JOIN lists l ON l.list_id = d.ref WHERE d.kind='meter_list' "
            "AND l.hhu IS NULL AND l.crew IS NULL AND ((d.state='queued' AND l.state=?) "
            "OR (d.state='delivered' AND l.state=? AND d.delivery_id = (SELECT "
            "MAX(e.delivery_id) FROM deliveries e WHERE e.kind='meter_list' "
            "AND e.ref=d.ref))) ORDER BY l.due, d.delivery_id",
            (ListState.QUEUED, ListState.QUEUED, ListState.RUNNING))
        # a scheduled list's first delivery waits for its first fire (which requeues it)
        return [RemoteRun(r[0], r[1], r[2], r[3],
                          waits=bool(r[4]) and bool(json.loads(r[5]).get("schedule")))
                for r in rows]

    def remote_schedules(self) -> list[tuple[str, str, str, str, str]]:
        """Each remote list with a schedule, not cancelled: (list id, cron expression,
        state, when its latest run was queued: the last fire a schedule served, the IANA
        zone the cron is written in: UTC for a list that names none)."""
        out = []
        for list_id, data, state, queued in self._rows(
                "SELECT l.list_id, l.data, l.state, (SELECT MAX(d.created_at) FROM "
                "deliveries d WHERE d.kind='meter_list' AND d.ref=l.list_id) FROM lists l "
                "WHERE l.hhu IS NULL AND l.crew IS NULL AND l.state != ? ORDER BY l.list_id",
                (ListState.CANCELLED,)):
            held = json.loads(data)
            if held.get("schedule"):
                out.append((list_id, held["schedule"], state, queued or "",
                            held.get(TIMEZONE) or DEFAULT_ZONE))
        return out

    def begin_remote_run(self, delivery_id: int, runner: str, now: str) -> str | None:
        """Take a queued remote list's delivery, or join its run: the list is running,
        its delivery delivered to the runner that began it (whose id every visit's upload
        of the run carries, whoever reads the meter: the ingest's checks hold as for one
        HHU). That runner's id; None when the run is gone (cancelled, requeued, ended).
        Several runners work one run meter by meter (``claim_remote_meter``)."""
        with self._tx() as db:
            row = db.execute("SELECT d.ref, d.state, d.target_hhu, l.state FROM deliveries d "
                             "JOIN lists l ON l.list_id = d.ref WHERE d.delivery_id=? "
                             "AND d.kind='meter_list' AND l.hhu IS NULL AND l.crew IS NULL"
                             + self._LOCK_ROWS, (delivery_id,)).fetchone()
            if row is None:
                return None
            list_id, state, target, list_state = row
            if state == "delivered":
                latest = db.execute("SELECT MAX(delivery_id) FROM deliveries WHERE "
                                    "kind='meter_list' AND ref=?", (list_id,)).fetchone()[0]
                running = list_state == ListState.RUNNING and latest == delivery_id
                return str(target) if running and target else None
            if state != "queued" or list_state != ListState.QUEUED:
                return None
            db.execute("UPDATE deliveries SET state='delivered', target_hhu=?, "
                       "delivered_at=?, attempts=attempts+1 WHERE delivery_id=?",
                       (runner, now, delivery_id))
            db.execute("UPDATE lists SET state=?, delivered_to=?, updated_at=? "
                       "WHERE list_id=?", (ListState.RUNNING, runner, now, list_id))
            return runner

    def end_remote_run(self, list_id: str, now: str) -> str | None:
        """A running list's run is over: settled complete or partial, as an upload
        settles an HHU's list; its state (None: no such list)."""
        with self._tx() as db:
            db.execute("UPDATE lists SET state=?, updated_at=? WHERE list_id=? AND state=?",
                       (ListState.UPLOADED, now, list_id, ListState.RUNNING))
            self._settle_lists(db, [list_id], now)
            row = db.execute("SELECT state FROM lists WHERE list_id=?", (list_id,)).fetchone()
        return row[0] if row else None
