"""SQLite statements for the readings view (:mod:`hhu_sync.store.readings_view`), mixed
into :class:`~hhu_sync.store.sqlite.SqliteStore`.

Every statement is a range of an index: the readings primary key (meter, obis, time)
for a meter's registers and readings (a register's newest first is the key walked
backwards), ``visits_meter`` for its visits, the list entries' primary key for a list's
meters. Finding meters by site and a meter's lists need ``list_entries.site`` and two
indexes on list entries (:func:`add_list_entry_sites`): written only when a list is
taken, never by the ingest, whose path stays as fast as it was.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

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


def add_list_entry_sites(db: sqlite3.Connection) -> None:
    """Give an older database ``list_entries.site`` (filled from each list's JSON, once)
    and the two indexes the readings search uses."""
    def missing() -> bool:
        return "site" not in {row[1] for row in db.execute("PRAGMA table_info(list_entries)")}

    if missing():
        db.execute("BEGIN IMMEDIATE")      # and again inside: another process may be here
        try:
            if missing():
                _fill_sites(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    # here, not in schema.sql: an older database has no site column until just now
    db.execute("CREATE INDEX IF NOT EXISTS list_entries_site ON list_entries (site, serial)")
    db.execute("CREATE INDEX IF NOT EXISTS list_entries_serial ON list_entries (serial)")


def _fill_sites(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE list_entries ADD COLUMN site TEXT NOT NULL DEFAULT '' "
               "COLLATE NOCASE")
    for list_id, data in db.execute("SELECT list_id, data FROM lists").fetchall():
        try:
            meters = json.loads(data)["meters"]
            sites = [(m["site"], list_id, m["serial"]) for m in meters if m["site"]]
        except (ValueError, KeyError, TypeError):
            continue          # a list this version cannot read keeps no sites
        db.executemany("UPDATE list_entries SET site=? WHERE list_id=? AND serial=?", sites)


def _row(r: ExportRow) -> ReadingRow:
    return ReadingRow(r.obis, r.time, r.value, r.unit, r.status, r.upload_id, r.hhu,
                      r.multiplier, r.value_basis, r.value_primary, r.scheme)


def _clamp(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def _from(column: str, prefix: str, after: str | None) -> tuple[str, list[str]]:
    """The range of ``column`` for a prefix and a keyset cursor: one lower bound (two
    would leave SQLite one to start the index search at and the other to filter by)."""
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
    return " AND ".join(clauses) or "1", args


class SqliteReadingsView:
    """The readings view's statements; the host class supplies ``_reading``."""

    _reading: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def find_meters(self, *, prefix: str = "", site: str | None = None,
                    list_id: str | None = None, after: str | None = None,
                    limit: int = 50) -> list[MeterSummary]:
        limit = _clamp(limit)
        serials, args = _from("serial", prefix, after)
        with self._reading() as db:
            if list_id is not None or site is not None:
                where, wargs = [serials], list(args)
                if list_id is not None:
                    where.append("list_id = ?")
                    wargs.append(list_id)
                if site:
                    where.append("site >= ? AND site < ?")
                    wargs += [site, site + TOP]
                # by list: its primary key, in serial order; by site: list_entries_site,
                # then the matching entries sorted by serial
                found = db.execute(
                    f"SELECT serial, MIN(site) FROM list_entries WHERE {' AND '.join(where)} "
                    "GROUP BY serial ORDER BY serial LIMIT ?", (*wargs, limit)).fetchall()
                meters = [(serial, place) for serial, place in found]
            else:
                meter, args = _from("meter", prefix, after)
                # two index-ordered streams merged (MERGE (UNION): each a coroutine, the
                # duplicates dropped as they meet, stopped at the LIMIT). No GROUP BY in
                # either: it would sort every meter's readings before the first row
                found = db.execute(
                    f"SELECT meter FROM readings WHERE {meter} "
                    f"UNION SELECT meter FROM visits WHERE {meter} "
                    "ORDER BY 1 LIMIT ?", (*args, *args, limit)).fetchall()
                meters = [(serial, None) for (serial,) in found]
            out = []
            for serial, place in meters:
                count, latest = db.execute(
                    "SELECT COUNT(*), MAX(time) FROM readings WHERE meter = ?",
                    (serial,)).fetchone()
                if place is None:
                    row = db.execute(
                        "SELECT e.site FROM list_entries e JOIN lists l ON l.list_id = "
                        "e.list_id WHERE e.serial = ? ORDER BY l.created_at DESC, "
                        "l.rowid DESC LIMIT 1", (serial,)).fetchone()
                    place = row[0] if row else ""
                out.append(MeterSummary(serial, place, count, latest))
            return out

    def meter_places(self, serial: str, limit: int = 100) -> list[MeterPlace]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT e.list_id, l.name, e.site, l.due, l.state FROM list_entries e "
                "JOIN lists l ON l.list_id = e.list_id WHERE e.serial = ? "
                "ORDER BY l.created_at DESC, l.rowid DESC LIMIT ?",
                (serial, _clamp(limit))).fetchall()
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
