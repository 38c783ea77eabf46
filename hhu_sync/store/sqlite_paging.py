"""SQLite statements for the paged reads (:mod:`hhu_sync.store.paging`), mixed into
:class:`~hhu_sync.store.sqlite.SqliteStore`. Each page is one indexed range read (the
indexes are at the end of ``schema.sql``); an HHU's last activity and running session
are looked up per row of the page through their own indexes, not aggregated over every
upload, delivery and session held."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hhu_sync.store.paging import BadCursor, Page, clamp, decode_cursor, encode_cursor

_LIST_COLUMNS = ("list_id", "name", "hhu", "crew", "due", "state", "entries", "delivered_to")
_INPUT_COLUMNS = ("sha256", "name", "kind", "status", "reason", "moved_to", "received_at")
_HHU_SQL = (
    "SELECT h.hhu_id, h.crew, h.firmware, h.battery, h.free_flash, h.dock, h.last_seen, "
    "h.depot, "
    "(SELECT MAX(u.received_at) FROM uploads u WHERE u.hhu_id = h.hhu_id), "
    "(SELECT MAX(d.delivered_at) FROM deliveries d WHERE d.target_hhu = h.hhu_id "
    " AND d.delivered_at IS NOT NULL), "
    "(SELECT MAX(s.ended_at) FROM sessions s WHERE s.hhu_id = h.hhu_id), "
    # the HHU's newest session, if it has not ended: the HHU is in its cradle
    "(SELECT CASE WHEN s.ended_at IS NULL THEN s.started_at END FROM sessions s "
    " WHERE s.hhu_id = h.hhu_id ORDER BY s.started_at DESC, s.session_id DESC LIMIT 1) "
    "FROM hhus h WHERE h.hhu_id > ? {depot}ORDER BY h.hhu_id LIMIT ?")


def _page(rows: list[dict[str, Any]], limit: int, key: Callable[[dict[str, Any]], tuple]
          ) -> Page:
    """``limit + 1`` rows were read: the extra one says whether a next page exists."""
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(*key(rows[-1])) if more and rows else None)


class SqlitePaging:
    """The paged statements, in SQL both backends run; the host class supplies ``_rows``
    and may name the column that keeps the inputs' insertion order (SQLite's rowid)."""

    _rows: Callable[..., list[tuple]]
    _INSERTION_ORDER = "rowid"

    def lists_page(self, *, state: str | None = None, limit: int = 100,
                   after: str | None = None) -> Page:
        limit = clamp(limit)
        due, list_id = decode_cursor(after, 2) if after else ("", "")
        where = "(due, list_id) > (?, ?)" + (" AND state = ?" if state is not None else "")
        args: list[Any] = [due, list_id, *([state] if state is not None else []), limit + 1]
        rows = self._rows(f"SELECT {', '.join(_LIST_COLUMNS)} FROM lists WHERE {where} "
                          "ORDER BY due, list_id LIMIT ?", args)
        return _page([dict(zip(_LIST_COLUMNS, r, strict=True)) for r in rows], limit,
                     lambda r: (r["due"], r["list_id"]))

    def lists_by_state(self) -> dict[str, int]:
        return dict(self._rows("SELECT state, COUNT(*) FROM lists GROUP BY state"))

    def hhus_page(self, *, limit: int = 100, after: str | None = None,
                  depot: str | None = None) -> Page:
        limit = clamp(limit)
        (start,) = decode_cursor(after, 1) if after else ("",)
        out = []
        sql = _HHU_SQL.format(depot="" if depot is None else "AND h.depot = ? ")
        args = (start, limit + 1) if depot is None else (start, depot, limit + 1)
        for r in self._rows(sql, args):
            hhu = dict(zip(("hhu_id", "crew", "firmware", "battery", "free_flash", "dock",
                            "last_seen", "depot"), r[:8], strict=True))
            hhu["last_activity"] = max(hhu["last_seen"] or "", *(w or "" for w in r[8:11]))
            hhu["session_running_since"] = r[11]
            out.append(hhu)
        return _page(out, limit, lambda r: (r["hhu_id"],))

    def inputs_page(self, *, status: str | None = None, limit: int = 50,
                    after: str | None = None) -> Page:
        """Newest first: by time received, then by the order recorded (the rowid, which
        every index of the table holds: a batch received in one second keeps its order),
        the files taken (inputs) and the duplicates set aside (input_duplicates) merged;
        of one second, a duplicate after the file it repeats."""
        limit = clamp(limit)
        where: list[str] = []
        args: list[Any] = []
        if after:
            at, src, row = decode_cursor(after, 3)
            if src not in ("0", "1") or not re.fullmatch(r"[0-9]{1,18}", row):
                raise BadCursor("not a cursor of this list")
            where.append("(received_at, src, rid) < (?, ?, ?)")
            args += [at, int(src), int(row)]
        if status is not None:
            where.append("status = ?")
            args.append(status)
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        taken = ", ".join(_INPUT_COLUMNS)
        rid = self._INSERTION_ORDER
        sql = (f"SELECT src, rid, {taken}, duplicate_of FROM ("
               f"SELECT 0 AS src, {rid} AS rid, {taken}, '' AS duplicate_of FROM inputs "
               f"UNION ALL SELECT 1, {rid}, sha256, name, kind, 'duplicate', reason, "
               "moved_to, received_at, duplicate_of FROM input_duplicates) AS merged "
               f"{cond} ORDER BY received_at DESC, src DESC, rid DESC LIMIT ?")
        rows = self._rows(sql, [*args, limit + 1])
        more, rows = len(rows) > limit, rows[:limit]
        last = rows[-1] if more and rows else None
        columns = (*_INPUT_COLUMNS, "duplicate_of")
        return Page([dict(zip(columns, r[2:], strict=True)) for r in rows],
                    encode_cursor(last[-2], str(last[0]), str(last[1])) if last else None)
