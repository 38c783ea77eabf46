"""The readings view's statements (:mod:`hhu_sync.store.readings_view`), written once for
both backends and mixed into each store.

Every statement is a range of an index: the readings primary key (meter, obis, time)
for a meter's registers and readings (a register's newest first is the key walked
backwards), ``visits_meter`` for its visits, the list entries' primary key for a list's
meters, ``list_entries_site`` for a site. What the backends do differently is named by
the host class, not branched on here:

* ``_SITE_FROM``: a site prefix ignoring case. SQLite's ``site`` column is ``NOCASE``
  (ASCII letters fold); PostgreSQL's is byte-wise text, compared through ``lower()``,
  which folds the same ASCII letters under the "C" collation, on an index of
  ``lower(site)``.
* ``_NEWEST_LIST``: newest list first; of two made in the same second, SQLite takes
  the later inserted (its rowid), PostgreSQL the greater list id (its lists keep no
  insertion order).
* :meth:`_meters_with_data`: every meter with readings or visits, one page. SQLite
  merges the two index-ordered streams itself (``UNION`` as a merge, stopped at the
  LIMIT); PostgreSQL would gather every reading's meter before the first row, so it
  walks each index one distinct meter at a time (a recursive skip scan) and the two
  pages are merged here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from heapq import merge
from itertools import groupby
from pathlib import Path
from typing import Any

from hhu_sync.export.rows import ExportRow
from hhu_sync.store.readings_view import (
    MAX_PAGE,
    MeterPlace,
    MeterSummary,
    MeterVisit,
    ReadingRow,
    RegisterSummary,
)

#: above every character a serial or site can hold: ``prefix + TOP`` bounds a prefix range
TOP = "\U0010ffff"


def _row(r: ExportRow) -> ReadingRow:
    return ReadingRow(r.obis, r.time, r.value, r.unit, r.status, r.upload_id, r.hhu,
                      r.multiplier, r.value_basis, r.value_primary, r.scheme)


def _clamp(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def key_range(column: str, prefix: str, after: str | None) -> tuple[str, list[str]]:
    """The range of ``column`` for a prefix and a keyset cursor: one lower bound (two
    would leave the planner one to start the index search at and the other to filter
    by)."""
    clauses, args = [], []
    if after is not None and after >= prefix:
        clauses.append(f"{column} > ?")
        args.append(after)
    elif prefix:
        clauses.append(f"{column} >= ?")
        args.append(prefix)
    if prefix:
        clauses.append(f"{column} < ?")
        args.append(prefix + TOP)
    return " AND ".join(clauses) or "1=1", args


def skip_scan_sql(table: str, column: str, where: str) -> str:
    """The distinct values of an indexed ``column`` in ``where``, ascending, one index
    search each (a recursive CTE: PostgreSQL has no skip scan of its own); parameters:
    ``where``'s twice, then the limit."""
    return (f"WITH RECURSIVE d(v) AS ((SELECT {column} FROM {table} WHERE {where} "
            f"ORDER BY {column} LIMIT 1) UNION ALL SELECT (SELECT t.{column} FROM {table} t "
            f"WHERE t.{column} > d.v AND {where} ORDER BY t.{column} LIMIT 1) FROM d "
            "WHERE d.v IS NOT NULL) SELECT v FROM d WHERE v IS NOT NULL LIMIT ?")


class ReadingsStatements:
    """The readings view's statements; the host class supplies ``_reading`` (a read
    connection taking ``?`` parameters) and the backend's clauses."""

    _reading: Callable[[], AbstractContextManager[Any]]
    #: a site prefix ignoring case, given ``site`` and ``site + TOP``
    _SITE_FROM = "site >= ? AND site < ?"
    #: the order of a meter's lists (``l``), newest first
    _NEWEST_LIST = "l.created_at DESC, l.rowid DESC"
    #: whether every meter's page is one merged UNION statement (else two skip scans)
    _UNION_MERGES = True

    def _meters_with_data(self, db: Any, prefix: str, after: str | None,
                          limit: int) -> list[str]:
        """Serials with readings or visits in the prefix and cursor's range, ascending."""
        where, args = key_range("meter", prefix, after)
        if self._UNION_MERGES:
            # two index-ordered streams merged (MERGE (UNION): each a coroutine, the
            # duplicates dropped as they meet, stopped at the LIMIT). No GROUP BY in
            # either: it would sort every meter's readings before the first row
            return [serial for (serial,) in db.execute(
                f"SELECT meter FROM readings WHERE {where} "
                f"UNION SELECT meter FROM visits WHERE {where} "
                "ORDER BY 1 LIMIT ?", (*args, *args, limit)).fetchall()]
        pages = [[serial for (serial,) in db.execute(
            skip_scan_sql(table, "meter", where), (*args, *args, limit)).fetchall()]
            for table in ("readings", "visits")]
        return [serial for serial, _ in groupby(merge(*pages))][:limit]

    def find_meters(self, *, prefix: str = "", site: str | None = None,
                    list_id: str | None = None, after: str | None = None,
                    limit: int = 50) -> list[MeterSummary]:
        limit = _clamp(limit)
        with self._reading() as db:
            if list_id is not None or site is not None:
                serials, args = key_range("serial", prefix, after)
                where, wargs = [serials], list(args)
                if list_id is not None:
                    where.append("list_id = ?")
                    wargs.append(list_id)
                if site:
                    where.append(self._SITE_FROM)
                    wargs += [site, site + TOP]
                # by list: its primary key, in serial order; by site: list_entries_site,
                # then the matching entries sorted by serial
                found = db.execute(
                    f"SELECT serial, MIN(site) FROM list_entries WHERE {' AND '.join(where)} "
                    "GROUP BY serial ORDER BY serial LIMIT ?", (*wargs, limit)).fetchall()
                meters: list[tuple[str, str | None]] = [(s, place) for s, place in found]
            else:
                meters = [(s, None) for s in self._meters_with_data(db, prefix, after, limit)]
            out = []
            for serial, place in meters:
                count, latest = db.execute(
                    "SELECT COUNT(*), MAX(time) FROM readings WHERE meter = ?",
                    (serial,)).fetchone()
                if place is None:
                    row = db.execute(
                        "SELECT e.site FROM list_entries e JOIN lists l ON l.list_id = "
                        f"e.list_id WHERE e.serial = ? ORDER BY {self._NEWEST_LIST} LIMIT 1",
                        (serial,)).fetchone()
                    place = row[0] if row else ""
                out.append(MeterSummary(serial, place, count, latest))
            return out

    def meter_places(self, serial: str, limit: int = 100) -> list[MeterPlace]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT e.list_id, l.name, e.site, l.due, l.state FROM list_entries e "
                "JOIN lists l ON l.list_id = e.list_id WHERE e.serial = ? "
                f"ORDER BY {self._NEWEST_LIST} LIMIT ?", (serial, _clamp(limit))).fetchall()
        return [MeterPlace(*r) for r in rows]

    def meter_registers(self, serial: str, limit: int = MAX_PAGE) -> list[RegisterSummary]:
        with self._reading() as db:
            heads = db.execute(
                "SELECT obis, COUNT(*), MIN(time), MAX(time) FROM readings WHERE meter = ? "
                "GROUP BY obis ORDER BY obis LIMIT ?", (serial, _clamp(limit))).fetchall()
            out = []
            for obis, count, first, latest in heads:
                value, unit, status = db.execute(
                    "SELECT value, unit, status FROM readings WHERE meter = ? AND obis = ? "
                    "AND time = ?", (serial, obis, latest)).fetchone()
                out.append(RegisterSummary(obis, count, first, latest, value, unit, status))
            return out

    def register_readings(self, serial: str, obis: str, *, before: str | None = None,
                          limit: int = 50, catalog: str | Path | None = None
                          ) -> list[ReadingRow]:
        # the export's own rows (its join and its Enricher): the page says what the
        # billing file says. Imported here: hhu_sync.store.sqlite mixes this class in
        from hhu_sync.store.sqlite import register_export_rows

        with self._reading() as db:
            rows = register_export_rows(db, serial, obis, before=before,
                                        limit=_clamp(limit), catalog=catalog)
        return [_row(r) for r in rows]

    def registers_readings(self, serial: str, wanted: list[tuple[str, int]], *,
                           catalog: str | Path | None = None) -> list[list[ReadingRow]]:
        from hhu_sync.store.sqlite import export_enricher, register_export_rows

        with self._reading() as db:
            enrich = export_enricher(db, catalog=catalog, meter=serial)
            return [[_row(r) for r in register_export_rows(
                db, serial, obis, limit=_clamp(limit), enrich=enrich)]
                for obis, limit in wanted[:MAX_PAGE]]

    def meter_visits(self, serial: str, limit: int = 100) -> list[MeterVisit]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT v.time, v.list_id, v.outcome, v.notes, v.operator, "
                "COALESCE(u.hhu_id, ''), v.upload_id FROM visits v "
                "LEFT JOIN uploads u ON u.upload_id = v.upload_id WHERE v.meter = ? "
                "ORDER BY v.time DESC, v.upload_id, v.seq LIMIT ?",
                (serial, _clamp(limit))).fetchall()
        return [MeterVisit(*r) for r in rows]
