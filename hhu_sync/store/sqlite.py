"""SQLite backend: WAL, synchronous=FULL, one connection per thread, short transactions.

Only what is committed here is acknowledged to a handheld, so commits are durable
(``synchronous=FULL``) and every write path is one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from importlib import resources
from itertools import chain, groupby, islice
from operator import itemgetter
from pathlib import Path
from typing import Any

from hhu_sync.export.cells import is_plain_number
from hhu_sync.export.enrich import Enricher, ratios_agree
from hhu_sync.export.rows import ExportRow
from hhu_sync.failpoints import failpoint
from hhu_sync.ingest import (
    DEFAULT_LIMITS,
    ExceptionKind,
    FindingCode,
    IngestReport,
    ReadingStatus,
    Upload,
    escape,
)
from hhu_sync.ingest.flatrows import FlatRows
from hhu_sync.ingest.upload import RefusalReason, UploadRefused, Visit
from hhu_sync.model.catalog import model_takes_ratios
from hhu_sync.model.meterlist import MeterList, meter_entries_from_dict, meter_list_from_dict
from hhu_sync.model.scheme import Scheme, SchemeRecord, scheme_from_dict
from hhu_sync.model.versions import REFUSED, HeldScheme, judge, refusal
from hhu_sync.profile.events import MeterEvent
from hhu_sync.profile.held import series_from_held
from hhu_sync.profile.series import ChannelSeries
from hhu_sync.profile.vee import Shape
from hhu_sync.store.base import (
    Delivery,
    ListState,
    SchemeVersionRefused,
    StorageUnavailable,
    StoreError,
)
from hhu_sync.store.depots import DEFAULT_DEPOT, DepotReads
from hhu_sync.store.interval_rules import (
    EVENT_COLUMNS,
    INTERVAL_COLUMNS,
    HeldInterval,
    event_rows,
    interval_rows,
    judge_overlap,
    series_span,
)
from hhu_sync.store.portable import PortableStatements
from hhu_sync.store.readings_statements import ReadingsStatements
from hhu_sync.store.remote_claims import RemoteClaims
from hhu_sync.store.remote_runs import RemoteRuns
from hhu_sync.store.schema_version import SCHEMA_VERSION, version_refusal
from hhu_sync.store.sql import SqlConnection
from hhu_sync.store.sqlite_accounts import SqliteAccounts
from hhu_sync.store.sqlite_exceptions import SqliteExceptions
from hhu_sync.store.sqlite_paging import SqlitePaging
from hhu_sync.store.sqlite_upgrades import (
    add_depot_columns,
    add_list_entry_sites,
    give_readings_a_rowid,
)
from hhu_sync.store.vee_rules import (
    COMPARED_REGISTERS,
    FINDING_COLUMNS,
    Before,
    exception_rows,
    finding_rows,
    visit_findings,
)

log = logging.getLogger("hhu_sync.store")

_INTERVAL_SELECT = ", ".join(INTERVAL_COLUMNS)
_INSERT_INTERVAL = (f"INSERT INTO intervals ({_INTERVAL_SELECT}) VALUES "
                    f"({','.join('?' * len(INTERVAL_COLUMNS))}) ON CONFLICT DO NOTHING")
#: an HHU's row, as status() shows it (depot: where it was last seen, schema version 2)
_OPEN_LIST_STATES = (ListState.QUEUED, ListState.ON_HHU, ListState.UPLOADED,
                     ListState.PARTIAL)


_WRITERS: dict[Path, threading.Lock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer_lock(path: Path) -> threading.Lock:
    """One lock per database file for this process's writers.

    SQLite lets one writer in at a time; the others, refused, sleep in its busy handler
    (1, 2, 5 ... 100 ms) and wake long after the lock is free. With 32 HHUs committing
    at once that sleeping cost seconds. Queued on a lock of ours, the next writer starts
    the moment the last one commits; the busy handler is left for other processes.
    """
    key = path.resolve()
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(key, threading.Lock())


#: SQLite primary result codes after which a connection may stay unusable though the
#: storage has come back: a file opened while read-only stays read-only for the life of its
#: connection, a lost lock or I/O error can leave the WAL index or handle broken. After one
#: of these every connection of the store is closed and opened afresh at its next use.
_REOPEN_CODES = frozenset({
    sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_PROTOCOL,
    sqlite3.SQLITE_NOTADB})


def _connect(path: Path, timeout_s: float) -> sqlite3.Connection:
    """Open one connection (a seam: tests swap it to open the file read-only)."""
    return sqlite3.connect(path, isolation_level=None, timeout=timeout_s)


def _inserted_id(cur: sqlite3.Cursor) -> int:
    """The row id an INSERT gave (``lastrowid`` is None only before any insert)."""
    row_id = cur.lastrowid
    if row_id is None:
        raise sqlite3.InterfaceError("an INSERT gave no row id")
    return row_id


def _is_closed(db: sqlite3.Connection) -> bool:
    try:
        db.total_changes  # noqa: B018 - raises ProgrammingError on a closed connection
    except sqlite3.ProgrammingError:
        return True
    return False


def _breaks_connection(exc: BaseException, db: sqlite3.Connection | None) -> bool:
    """Whether ``exc`` may have left ``db`` unusable (by result code, never by wording)."""
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _REOPEN_CODES:
        return True
    return db is not None and _is_closed(db)


def _null(_value: None) -> None:
    """None as a statement parameter, as the sqlite3 module binds it (NULL)."""
    return None


# The sqlite3 module binds str, int, float and bytes as they are, but looks anything else
# up as a value to adapt: for None, after the registry, it asks the protocol type for
# ``__adapt__``, which raises (and formats) an AttributeError each time; 0.3 us a NULL,
# and the ingest binds five for every visit that names no list. Found in the registry,
# None is bound at once, as NULL, as before.
sqlite3.register_adapter(type(None), _null)

#: the page cache of a connection that writes, KiB (SQLite's default is 2,000)
WRITER_CACHE_KIB = 16 * 1024
ROWS_PER_STATEMENT = 128       # a power of two: the rest goes in halves of it
_STATEMENT_ROWS = tuple(ROWS_PER_STATEMENT >> k for k in range(ROWS_PER_STATEMENT.bit_length()))
_STATUS = itemgetter(5)          # a reading row's status (hhu_sync.ingest.Upload.readings)


def _statuses(rows: Sequence[tuple]) -> list[str]:
    """Every reading row's status, in order."""
    return rows.column(5) if isinstance(rows, FlatRows) else list(map(_STATUS, rows))


@cache
def _insert_sql(head: str, columns: int, rows: int) -> str:
    """``head`` with ``rows`` rows of ``columns`` parameters (built once a shape)."""
    one = "(" + ",".join("?" * columns) + ")"
    return f"{head} {','.join([one] * rows)}"


def _insert_rows(db: sqlite3.Connection, head: str, columns: int, rows: Sequence) -> None:
    """``executemany`` with many rows per statement.

    The sqlite3 module lets go of the interpreter lock around every statement step, so
    ``executemany`` of 3,000 readings hands the lock over 3,000 times; while other HHUs'
    sessions are busy, each handover waits for them, and an ingest took five times its
    own length. Here each step stores up to ``ROWS_PER_STATEMENT`` rows (and is faster
    alone too). The rest after the full statements goes in statements of 64, 32 ... 1
    rows: a handful of texts, each prepared once a connection (the sqlite3 module caches
    statements by text), where a statement of the rest's own length was prepared again
    for nearly every upload (its length differs), which cost more than running it.
    Same semantics as ``executemany`` of ``head (?, ...)``.
    """
    if isinstance(rows, FlatRows) and rows.width == columns:
        values = rows.values              # the parameters as they came, sliced
    else:
        def values(start: int, stop: int) -> list:
            return list(chain.from_iterable(rows[start:stop]))
    total, start = len(rows), 0
    for step in _STATEMENT_ROWS:
        while total - start >= step:
            db.execute(_insert_sql(head, columns, step), values(start, start + step))
            start += step


#: statement texts of :func:`_insert_columns`, by the columns bound once a statement:
#: an upload's mask is nearly always the one of the upload before, but a bound is kept
_FIXED_TEXTS = 256


def _one_value(column: Sequence, n: int) -> bool:
    """Whether every value of ``column`` is one text (or None): bound once a statement."""
    first = column[0]
    return (first is None or type(first) is str) and column.count(first) == n


@lru_cache(maxsize=_FIXED_TEXTS)
def _insert_fixed_sql(head: str, columns: int, rows: int, fixed: tuple[int, ...]) -> str:
    """``head`` with ``rows`` rows of ``columns`` values, the ``fixed`` columns bound
    once (numbered parameters after the rows' own: ``?N`` may stand many times)."""
    k = columns - len(fixed)
    shared = {i: f"?{rows * k + n + 1}" for n, i in enumerate(fixed)}
    varying = [i for i in range(columns) if i not in shared]
    parts = []
    for r in range(rows):
        own = {i: f"?{r * k + j + 1}" for j, i in enumerate(varying)}
        parts.append("(" + ",".join(shared.get(i) or own[i] for i in range(columns)) + ")")
    return f"{head} {','.join(parts)}"


def _insert_columns(db: sqlite3.Connection, head: str, columns: Sequence[Sequence],
                    n: int) -> None:
    """:func:`_insert_rows` of the ``n`` rows ``columns`` make (a sequence a column).

    A column whose every value is one text (an upload's HHU and id, the status ``ok``,
    the empty register times, a route's operator) is bound once a statement, not once
    a row: binding copies every text into SQLite, and of a reading's eleven values six
    or more are most often such. The statements are those of :func:`_insert_rows` (full
    ones, then halves), one set of texts a set of such columns. Same rows stored, in
    the same order, as ``executemany`` of ``head (?, ...)``.
    """
    if n == 0:
        return
    width = len(columns)
    fixed = tuple(i for i, column in enumerate(columns) if _one_value(column, n))
    shared = [columns[i][0] for i in fixed]
    k = width - len(fixed)
    if k == 0:                     # every row the same: a statement of each, in order
        part: list = []
    else:
        part = [None] * (n * k)    # the other columns' values, row after row
        j = 0
        for i, column in enumerate(columns):
            if i not in fixed:
                part[j::k] = column
                j += 1
    start = 0
    for step in _STATEMENT_ROWS:
        while n - start >= step:
            db.execute(_insert_fixed_sql(head, width, step, fixed),
                       part[start * k:(start + step) * k] + shared)
            start += step


def _held_readings(db: SqlConnection, keys: list[tuple]) -> dict[tuple, tuple]:
    """The readings held under ``keys`` (meter, obis, time): key → (value, upload_id, hhu,
    status). Up to ``ROWS_PER_STATEMENT`` keys a statement, looked up by the primary key,
    where a statement a key took most of an upload's time when it was sent twice."""
    held: dict[tuple, tuple] = {}
    start = 0
    for step in _STATEMENT_ROWS:
        while len(keys) - start >= step:
            for meter, obis, time, *row in db.execute(
                    _held_sql(step), list(chain.from_iterable(keys[start:start + step]))):
                held[meter, obis, time] = tuple(row)
            start += step
    return held


@cache
def _held_sql(keys: int) -> str:
    """The look-up of ``keys`` readings by their primary key (the VALUES list the outer
    loop: a search of the key each, as the query plan says; CROSS JOIN ... WHERE, not
    ... ON, which PostgreSQL runs too)."""
    return ("SELECT r.meter, r.obis, r.time, r.value, r.upload_id, r.hhu, r.status FROM "
            f"(VALUES {','.join(['(?,?,?)'] * keys)}) AS k CROSS JOIN readings r "
            "WHERE r.meter = k.column1 AND r.obis = k.column2 AND r.time = k.column3")


class SqliteStore(PortableStatements, SqliteAccounts, SqliteExceptions, ReadingsStatements,
                  SqlitePaging, RemoteRuns, RemoteClaims, DepotReads):
    """The embedded store. Safe to share between threads (a connection each)."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0,
                 depot: str = DEFAULT_DEPOT) -> None:
        self.path = Path(path)
        #: the store's name, as open_store takes it (what a worker process is given)
        self.url = "sqlite://" + str(self.path.absolute())
        #: the depot written into every session, upload, audit entry and HHU sighting
        self.depot = depot
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_ms = int(busy_timeout_s * 1000)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = _writer_lock(self.path)
        self._generation = 0     # bumped when connections must be opened afresh
        self._failing = False    # last storage operation failed (logged once per change)
        self.reopens = 0         # connections discarded and opened again after a fault
        schema = resources.files("hhu_sync.store").joinpath("schema.sql").read_text()
        db = self._db()
        try:
            # another version (older or newer) is refused before anything is written
            # to it: what it lacks is db upgrade's to add, not this open's
            found = self._schema_version(db)
            if version_refusal(str(self.path), found) is None:
                self._set_up(db, schema, found)
                found = self._schema_version(db)
        except sqlite3.Error as exc:
            self._storage_failed(exc, db)
            self.close()
            raise StorageUnavailable(f"{self.path}: cannot set up the database: {exc}") from None
        refused = version_refusal(str(self.path), found)
        if refused is not None:
            self.close()
            raise refused

    def _set_up(self, db: sqlite3.Connection, schema: str, found: str | None) -> None:
        """Tables, columns and indexes this version has and the file lacks; the version
        written on a new database (or one older than version 1, which had none)."""
        db.executescript(schema)   # CREATE ... IF NOT EXISTS: no write when present
        _add_reading_columns(db)   # ALTER only where a column is missing
        give_readings_a_rowid(db, self.path)   # once, for the first version's table
        _add_visit_columns(db)
        add_list_entry_sites(db)
        add_depot_columns(db)
        if found is None:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                       (SCHEMA_VERSION,))

    @staticmethod
    def _schema_version(db: sqlite3.Connection) -> str | None:
        """The version in meta; None for a new database (or one older than version 1,
        which had no meta)."""
        if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
                      ).fetchone() is None:
            return None
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return row[0] if row else None

    # -- connections and transactions -------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        """This thread's connection; opened afresh when closed or after a storage fault."""
        db = getattr(self._local, "db", None)
        if db is not None and (self._local.generation != self._generation or _is_closed(db)):
            self._discard(db)
            db = None
        if db is None:
            generation = self._generation
            try:
                db = _connect(self.path, self._busy_ms / 1000)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.execute(f"PRAGMA busy_timeout={self._busy_ms}")
                db.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                if db is not None:
                    db.close()
                self._storage_failed(exc, None)
                raise StorageUnavailable(
                    f"{self.path}: cannot open the database: {exc}") from None
            self._local.db = db
            self._local.generation = generation
            with self._lock:
                self._all.append(db)
        return db

    def _discard(self, db: sqlite3.Connection) -> None:
        """Close this thread's connection (it is opened again at its next use)."""
        self._local.db = None
        with self._lock:
            if db in self._all:
                self._all.remove(db)
            self.reopens += 1
        try:
            db.close()
        except sqlite3.Error:
            pass  # broken already: closing is all that was wanted

    def _storage_failed(self, exc: BaseException, db: sqlite3.Connection | None) -> None:
        """Note a storage fault: connections are renewed if it may have broken them.

        No retry here (the caller backs off and comes again); one log line when the
        storage turns unusable, one when it works again, none per attempt.
        """
        renew = db is None or _breaks_connection(exc, db)
        with self._lock:
            if renew:
                self._generation += 1
            first, self._failing = not self._failing, True
        if first:
            log.warning("storage: %s unusable (%s)%s", self.path, exc,
                        "; connections are opened afresh at the next operation" if renew else "")

    @property
    def failing(self) -> bool:
        """Whether its latest storage operation failed (until one succeeds again)."""
        return self._failing

    def _storage_ok(self) -> None:
        if not self._failing:      # the common case: no lock taken per commit
            return
        with self._lock:
            recovered, self._failing = self._failing, False
        if recovered:
            log.info("storage: %s usable again (%d connection(s) reopened so far)",
                     self.path, self.reopens)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. Storage faults (disk full, I/O error, locked too long)
        become StorageUnavailable, so callers can tell them from refusals: a file is not
        rejected, and an upload not acknowledged, because the disk is full. After a fault
        that can leave a connection unusable (read-only, I/O error, lock lost, closed),
        the next operation opens a new one: storage that comes back works without a
        restart."""
        db = self._db()
        if getattr(self._local, "writer", None) is not db:
            # A connection that writes keeps more pages in memory (filled as used): its
            # scattered index inserts find their pages here, not by a read each. Only
            # writers: the web app's many reading threads keep SQLite's default.
            try:
                db.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            except sqlite3.Error as exc:
                self._storage_failed(exc, db)
                raise StorageUnavailable(f"{self.path}: {exc}") from None
            self._local.writer = db
        with self._write_lock:
            yield from self._tx_locked(db)

    def _tx_locked(self, db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._storage_failed(exc, db)
            raise StorageUnavailable(f"{self.path}: {exc}") from None
        try:
            yield db
            failpoint("store.commit", StorageUnavailable(
                f"{self.path}: database or disk is full (injected)"))
            db.execute("COMMIT")
        except BaseException as exc:
            if not _is_closed(db) and db.in_transaction:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the connection is gone; SQLite rolls back on reopen
            if isinstance(exc, sqlite3.IntegrityError):
                raise StoreError(f"{self.path}: {exc}") from None
            if isinstance(exc, sqlite3.Error):
                self._storage_failed(exc, db)
                raise StorageUnavailable(f"{self.path}: {exc}") from None
            raise
        self._storage_ok()

    def close(self) -> None:
        with self._lock:
            for db in self._all:
                try:
                    db.close()
                except sqlite3.ProgrammingError:
                    pass  # made in another thread that has ended; closed with it
            self._all.clear()
        self._local = threading.local()

    def _one(self, sql: str, args: tuple = ()) -> Any:
        row = self._read(sql, args, all_rows=False)
        return row[0] if row else None

    def _rows(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        return self._read(sql, args, all_rows=True)

    def _read(self, sql: str, args: tuple | list, *, all_rows: bool) -> Any:
        """A read, with storage faults mapped (and connections renewed) as in ``_tx``."""
        with self._reading() as db:
            cur = db.execute(sql, args)
            return cur.fetchall() if all_rows else cur.fetchone()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """Reads of several statements (or rows fetched while the caller iterates), with
        storage faults mapped and connections renewed as in ``_tx``: no read may leave a
        raw ``sqlite3`` error to a caller, or a broken connection to the next one."""
        db = self._db()
        try:
            yield db
        except sqlite3.Error as exc:
            self._storage_failed(exc, db)
            raise StorageUnavailable(f"{self.path}: {exc}") from None
        self._storage_ok()

    # -- outbox -------------------------------------------------------------------------
    _INPUT_COLUMNS = ("name", "kind", "status", "reason", "moved_to", "received_at")

    def inputs_seen(self, shas: list[str]) -> dict[str, dict[str, Any]]:
        """The inputs already received among ``shas`` (one query for an outbox batch)."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(shas), 500):   # well under SQLite's variable limit
            chunk = shas[start:start + 500]
            rows = self._rows(
                "SELECT sha256, " + ", ".join(self._INPUT_COLUMNS) + " FROM inputs "
                f"WHERE sha256 IN ({','.join('?' * len(chunk))})", chunk)
            for row in rows:
                found[row[0]] = dict(zip(self._INPUT_COLUMNS, row[1:], strict=True))
        return found

    def record_input(self, sha256: str, name: str, kind: str, status: str, reason: str,
                     moved_to: str, now: str = "") -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO inputs VALUES (?,?,?,?,?,?,?)",
                       (sha256, name, kind, status, reason, moved_to, now))

    # -- scheme library and queue -------------------------------------------------------------
    _PUT_SCHEME = (
        "INSERT INTO schemes VALUES (?,?,?,?,?,?) ON CONFLICT(scheme_id) DO UPDATE SET "
        "model=excluded.model, version=excluded.version, data=excluded.data, "
        "sha256=excluded.sha256, updated_at=excluded.updated_at")

    def library(self) -> SchemeLibrary:
        """The scheme library as a lazy mapping: only the ids asked for are read."""
        return SchemeLibrary(self)

    @staticmethod
    def _held_schemes(db: SqlConnection, ids: list[str]) -> dict[str, HeldScheme]:
        """The library's editions of ``ids`` (one query per 500), for the version rule."""
        held: dict[str, HeldScheme] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for sid, version, data, since, source in db.execute(
                    "SELECT s.scheme_id, s.version, s.data, s.updated_at, COALESCE(i.name, '') "
                    "FROM schemes s LEFT JOIN inputs i ON i.sha256 = s.sha256 "
                    f"WHERE s.scheme_id IN ({','.join('?' * len(chunk))})", chunk):
                held[sid] = HeldScheme(version, data, since, source)
        return held

    @staticmethod
    def _check_version(scheme: Scheme | SchemeRecord, held: dict[str, HeldScheme],
                       item: dict[str, Any]) -> None:
        """Versions only move forward (see :mod:`hhu_sync.model.versions`), unless forced.

        ``held`` is updated with what this batch takes, so a batch holding version 5
        and then version 3 of one id refuses the 3 as the library would a moment later.
        """
        verdict = judge(scheme.version, scheme.json, held.get(scheme.id))
        if verdict in REFUSED and not item.get("force"):
            old = held[scheme.id]
            raise SchemeVersionRefused(
                refusal(scheme.id, scheme.version, old, verdict), code=verdict.value,
                scheme_id=scheme.id, version=scheme.version, held_version=old.version)
        held[scheme.id] = HeldScheme(scheme.version, scheme.json, item["now"], item["name"])

    def delivery(self, delivery_id: int) -> Delivery | None:
        row = self._read(
            "SELECT delivery_id, kind, ref, target_hhu, target_crew, state, bundle_id, "
            "bundle IS NOT NULL, attempts FROM deliveries WHERE delivery_id=?",
            (delivery_id,), all_rows=False)
        return Delivery(*row) if row else None

    def accept_inputs(self, items: list[dict[str, Any]]) -> list[int | None]:
        """:meth:`accept_input` for several files in one transaction (one fsync for a batch).

        Schemes, Quick sends and input rows go in with one ``executemany`` per table
        rather than three or four statements per file (the statements, not the rows,
        were most of a batch's commit); a Quick send's delivery is inserted with its
        sealed file and an id given here, in the order of ``items``, as one by one.
        """
        with self._tx() as db:
            next_id = (db.execute("SELECT MAX(delivery_id) FROM deliveries").fetchone()[0]
                       or 0) + 1
            held = self._held_schemes(db, sorted({item["scheme"].id for item in items
                                                  if item.get("scheme") is not None}))
            schemes: list[tuple] = []
            quick: list[tuple] = []
            inputs: list[tuple] = []
            out: list[int | None] = []
            for item in items:
                scheme, mlist, now = item.get("scheme"), item.get("mlist"), item["now"]
                hhu, bundle = item.get("quick_send_hhu"), item.get("bundle")
                delivery = None
                if scheme is not None:
                    self._check_version(scheme, held, item)
                    schemes.append((scheme.id, scheme.model, scheme.version, scheme.json,
                                    item["sha256"], now))
                    if hhu:
                        delivery, next_id = next_id, next_id + 1
                        bound = bundle if bundle is not None and bundle[0] == hhu else None
                        quick.append((delivery, scheme.id, hhu, now,
                                      bound[1] if bound else None, bound[2] if bound else None))
                if mlist is not None:
                    delivery = self._add_meter_list(db, mlist, now, next_id)
                    next_id = delivery + 1
                    if bundle is not None:
                        self._bind(db, delivery, *bundle)
                inputs.append((item["sha256"], item["name"], item["kind"], "accepted", "",
                               item["moved_to"], now))
                out.append(delivery)
            db.executemany(self._PUT_SCHEME, schemes)
            db.executemany("INSERT INTO deliveries (delivery_id, kind, ref, target_hhu, state, "
                           "created_at, bundle_id, bundle) "
                           "VALUES (?, 'quick_send', ?, ?, 'queued', ?, ?, ?)", quick)
            db.executemany("INSERT OR REPLACE INTO inputs VALUES (?,?,?,?,?,?,?)", inputs)
            return out

    def _add_meter_list(self, db: sqlite3.Connection, mlist: MeterList, now: str,
                        delivery_id: int | None = None) -> int:
        old = db.execute("SELECT state FROM lists WHERE list_id=?", (mlist.id,)).fetchone()
        if old and old[0] != ListState.CANCELLED:
            raise StoreError(f"meter list {mlist.id!r} is already held ({old[0]}); "
                             "cancel it first to replace it")
        db.execute("DELETE FROM list_entries WHERE list_id=?", (mlist.id,))
        db.execute("INSERT OR REPLACE INTO lists VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                   (mlist.id, mlist.name, mlist.hhu, mlist.crew, mlist.due,
                    ListState.QUEUED, len(mlist.meters), json.dumps(mlist.to_dict()), None,
                    now, now))
        db.executemany("INSERT INTO list_entries (list_id, seq, serial, task, scheme, site) "
                       "VALUES (?,?,?,?,?,?)",
                       [(mlist.id, n, m.serial, m.task, m.scheme, m.site)
                        for n, m in enumerate(mlist.meters)])
        cur = db.execute(
            "INSERT INTO deliveries (delivery_id, kind, ref, target_hhu, target_crew, state, "
            "created_at) VALUES (?, 'meter_list', ?, ?, ?, 'queued', ?)",
            (delivery_id, mlist.id, mlist.hhu, None if mlist.hhu else mlist.crew, now))
        return _inserted_id(cur)

    def pending_deliveries(self, hhu_id: str, crew: str | None, now: str) -> list[Delivery]:
        rows = self._rows(
            "SELECT delivery_id, kind, ref, target_hhu, target_crew, state, bundle_id, "
            "bundle IS NOT NULL, attempts FROM deliveries WHERE state='queued' "
            "AND (not_before IS NULL OR not_before <= ?) "
            "AND (target_hhu = ? OR (target_hhu IS NULL AND target_crew = ?)) "
            "ORDER BY delivery_id", (now, hhu_id, crew))
        return [Delivery(*r) for r in rows]

    def bind_delivery(self, delivery_id: int, hhu_id: str, bundle_id: str,
                      bundle: bytes) -> bool:
        """Give a queued delivery, sealed for one HHU, to that HHU; False if another HHU
        already took it. The transfer file is stored with the delivery, in one commit."""
        with self._tx() as db:
            return self._bind(db, delivery_id, hhu_id, bundle_id, bundle)

    @staticmethod
    def _bind(db: SqlConnection, delivery_id: int, hhu_id: str, bundle_id: str,
              bundle: bytes) -> bool:
        cur = db.execute(
            "UPDATE deliveries SET target_hhu=?, bundle_id=?, bundle=? "
            "WHERE delivery_id=? AND state='queued' AND (target_hhu IS NULL OR target_hhu=?)",
            (hhu_id, bundle_id, bundle, delivery_id, hhu_id))
        return cur.rowcount == 1

    # -- handhelds and sessions ---------------------------------------------------------
    def start_session(self, dock: str, now: str, *, hhu_id: str | None = None) -> int:
        """A running session (ended_at NULL until :meth:`end_session`): ``status`` counts
        the HHU docked while it runs, however long one transfer takes."""
        with self._tx() as db:
            return _inserted_id(db.execute(
                "INSERT INTO sessions (dock, hhu_id, started_at, depot) VALUES (?, ?, ?, ?)",
                (dock, hhu_id, now, self.depot)))

    # -- readings -------------------------------------------------------------------------
    def ingest(self, upload: Upload, now: str) -> IngestReport:
        """Store an upload in one transaction; idempotent by upload id and reading key.

        Readings that failed a field check go to the exceptions table only (kind = the
        finding code); readings of visits the list does not account for are stored with
        a status other than ``ok`` (:class:`~hhu_sync.ingest.ReadingStatus`), so no
        export can bill them. ``upload.status_changes`` says which statuses changed here.
        """
        report = IngestReport(upload_id=upload.upload_id, hhu_id=upload.hhu_id,
                              visits=len(upload.visits))
        with self._tx() as db:
            held = db.execute("SELECT hhu_id, sha256 FROM uploads WHERE upload_id=?",
                              (upload.upload_id,)).fetchone()
            if held:
                return held_upload_report(upload, report, held[0], held[1])
            exceptions: list[tuple] = []
            self._findings(upload, report, exceptions, now)
            changes = self._check_visits(db, upload, report, exceptions, now)
            rows = self._rows_to_store(upload, changes)
            report.readings_not_billable = len(rows) - _statuses(rows).count(
                ReadingStatus.OK.value)
            before = db.total_changes
            head = f"INSERT OR IGNORE INTO readings ({_READING_COLUMNS}) VALUES"
            if isinstance(rows, FlatRows) and rows.width == _READING_WIDTH:
                _insert_columns(db, head, [rows.column(i) for i in range(_READING_WIDTH)],
                                len(rows))
            else:
                _insert_rows(db, head, _READING_WIDTH, rows)
            stored = db.total_changes - before
            report.readings_stored = stored
            if stored < len(rows):
                self._duplicates(db, upload, report, exceptions, now)
            visits = upload.visits
            fields = list(zip(*visits, strict=True))        # a Visit's fields, a column each
            _insert_columns(db, f"INSERT INTO visits ({_VISIT_COLUMNS}) VALUES",
                            [(upload.upload_id,) * len(visits),
                             *(fields[i] for i in _VISIT_INDEXES)] if visits else [],
                            len(visits))
            self._check_ratios(db, upload, exceptions, now)
            if upload.profiles:
                self._validate_intervals(db, upload, report, exceptions, now)
                self._store_intervals(db, upload, report, exceptions, now)
            if upload.events:
                self._store_events(db, upload, report)
            _insert_rows(db, "INSERT INTO exceptions (upload_id, kind, meter, obis, time, "
                         "value, detail, created_at) VALUES", 8, exceptions)
            db.execute("INSERT INTO uploads (upload_id, hhu_id, received_at, visits, "
                       "readings, stored, sha256, depot) VALUES (?,?,?,?,?,?,?,?)",
                       (upload.upload_id, upload.hhu_id, now, len(upload.visits),
                        len(upload.readings), stored, upload.sha256, self.depot))
            self._settle_lists(db, report.lists_touched, now)
            failpoint("ingest.before_commit")
        return report

    @staticmethod
    def _validate_intervals(db: SqlConnection, upload: Upload, report: IngestReport,
                            out: list, now: str) -> None:
        """VEE on each visit's profile against what was held before this upload (the
        rules: :mod:`hhu_sync.store.vee_rules`); findings to ``vee_findings`` and, each,
        an exception. Runs before the intervals are stored: "before" means before."""
        by_visit: dict[int, list[ChannelSeries]] = {}
        for seq, series in upload.profiles:
            by_visit.setdefault(seq, []).append(series)
        events: dict[int, list[MeterEvent]] = {}
        for seq, event in upload.events:
            events.setdefault(seq, []).append(event)
        rows: list[tuple] = []
        for seq, visit_series in by_visit.items():
            visit = upload.visits[seq]
            # each channel's last end, then its interval length there, by the key: no
            # bare column beside MAX (which SQLite allows and PostgreSQL does not)
            held = [(channel, db.execute(
                "SELECT interval_s FROM intervals WHERE meter=? AND channel=? AND "
                "interval_end=?", (visit.meter, channel, last)).fetchone()[0], last)
                for channel, last in db.execute(
                    "SELECT channel, MAX(interval_end) FROM intervals WHERE meter=? "
                    "GROUP BY channel", (visit.meter,)).fetchall()]
            before = Before()
            if held:
                latest = max(held, key=lambda r: r[2])
                registers = {}
                for obis in COMPARED_REGISTERS:
                    row = db.execute("SELECT time, value FROM readings WHERE meter=? AND "
                                     "obis=? AND time<? AND status<>'conflict' ORDER BY time DESC "
                                     "LIMIT 1", (visit.meter, obis, visit.time)).fetchone()
                    if row:
                        at = datetime.fromisoformat(row[0])
                        if at.tzinfo is not None:
                            registers[obis] = (int(at.timestamp()), row[1])
                before = Before(Shape(tuple(sorted(r[0] for r in held)), latest[1]),
                                min(r[2] for r in held), registers)
            findings = visit_findings(upload, seq, visit_series, events.get(seq), before)
            rows += finding_rows(upload, seq, findings, now)
            out.extend(exception_rows(upload, seq, findings, now))
        if rows:
            db.executemany(f"INSERT INTO vee_findings ({', '.join(FINDING_COLUMNS)}) VALUES "
                           f"({','.join('?' * len(FINDING_COLUMNS))})", rows)
        report.vee_findings += len(rows)

    @staticmethod
    def _store_intervals(db: sqlite3.Connection, upload: Upload, report: IngestReport,
                         out: list, now: str) -> None:
        """Every series' intervals, those held under their key kept as they are; where a
        series stored fewer than it brought, the rules say already held or conflict."""
        insert = _INSERT_INTERVAL
        for seq, series, rows in interval_rows(upload):
            before = db.total_changes
            db.executemany(insert, rows)
            stored = db.total_changes - before
            report.intervals_stored += stored
            if stored == series.count():
                continue
            first, last = series_span(series)
            held = [HeldInterval(*row) for row in db.execute(
                f"SELECT {_INTERVAL_SELECT} FROM intervals WHERE meter=? AND channel=? "
                "AND interval_end BETWEEN ? AND ? AND NOT (upload_id=? AND visit_seq=?)",
                (upload.visits[seq].meter, series.channel.code, first, last,
                 upload.upload_id, seq))]
            found = judge_overlap(upload, seq, series, held, now)
            report.intervals_already_held += found.already_held
            report.interval_conflicts += len(found.conflicts)
            out.extend(found.conflicts)

    @staticmethod
    def _store_events(db: sqlite3.Connection, upload: Upload, report: IngestReport) -> None:
        rows = event_rows(upload)
        before = db.total_changes
        db.executemany(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "
                       f"({','.join('?' * len(EVENT_COLUMNS))}) ON CONFLICT DO NOTHING", rows)
        report.events_stored = db.total_changes - before
        report.events_already_held = len(rows) - report.events_stored

    # -- intervals and events, read back --------------------------------------------------
    def interval_meters(self) -> list[str]:
        """Every meter the store holds intervals of, in order."""
        return [m for (m,) in self._rows("SELECT DISTINCT meter FROM intervals ORDER BY meter",
                                         ())]

    def add_exceptions_once(self, rows: Sequence[tuple]) -> int:
        """Exceptions (upload_id, kind, meter, obis, time, value, detail, created_at)
        not already held under their kind and key (meter, obis, time): a check run again
        over the same data records nothing new. How many were added."""
        added = 0
        with self._tx() as db:
            for row in rows:
                if db.execute("SELECT 1 FROM exceptions WHERE kind=? AND meter=? AND "
                              "obis IS ? AND time IS ?", (row[1], row[2], row[3], row[4])
                              ).fetchone() is None:
                    db.execute("INSERT INTO exceptions (upload_id, kind, meter, obis, time, "
                               "value, detail, created_at) VALUES (?,?,?,?,?,?,?,?)", row)
                    added += 1
        return added

    def scheme_in_force(self, meter: str, at: str) -> str | None:
        """The scheme last programmed into ``meter`` and verified, at or before ``at``
        (ISO UTC): the calendar its registers count by."""
        rows = self._rows("SELECT scheme FROM visits WHERE meter=? AND time<=? AND "
                          "outcome='done' AND verify='ok' AND scheme IS NOT NULL "
                          "ORDER BY time DESC LIMIT 1", (meter, at))
        return rows[0][0] if rows else None

    @staticmethod
    def _check_ratios(db: SqlConnection, upload: Upload, out: list, now: str) -> None:
        """A ``ratios_mismatch`` exception for each visit whose ratio proof is not the
        scheme's: the one it programmed, else the one in force (the last programmed and
        verified before it, else its list entry's). Its readings' export then says
        ``unknown``: a clerk must find which ratios the meter counts with."""
        for v in upload.visits:
            if v.ratios is None or v.outcome not in _PROOF_OUTCOMES:
                continue
            scheme_id = v.scheme
            if scheme_id is None:
                row = db.execute(
                    "SELECT scheme FROM visits WHERE meter=? AND time<? AND outcome='done' "
                    "AND verify='ok' AND scheme IS NOT NULL ORDER BY time DESC LIMIT 1",
                    (v.meter, v.time)).fetchone() or db.execute(
                    "SELECT scheme FROM list_entries WHERE list_id=? AND serial=?",
                    (v.list_id, v.meter)).fetchone()
                scheme_id = row[0] if row else None
            data = db.execute("SELECT data FROM schemes WHERE scheme_id=?",
                              (scheme_id,)).fetchone() if scheme_id else None
            try:
                scheme = scheme_from_dict(json.loads(data[0])) if data else None
            except (ValueError, KeyError, TypeError):
                scheme = None
            if scheme is None or ratios_agree(scheme, v.ratios) is not False:
                continue
            held = json.loads(v.ratios)
            out.append((upload.upload_id, ExceptionKind.RATIOS_MISMATCH.value,
                        escape(v.meter), None, escape(v.time), None,
                        f"visits[{v.seq}].ratios: the meter holds CT {held['ct']} VT "
                        f"{held['vt']}, scheme {escape(scheme.id)} says "
                        f"CT {_ratio(scheme.ct_ratio)} VT {_ratio(scheme.vt_ratio)}: "
                        "its readings' value_basis is unknown", now))

    @staticmethod
    def _findings(upload: Upload, report: IngestReport, out: list, now: str) -> None:
        """One exception per rejected reading (every reason in its detail) and one per
        visit field flagged; rejected readings are never stored as readings."""
        by_reading: dict[int, list] = {}
        for f in upload.findings:
            if f.index is None:
                v = upload.visits[f.seq]
                out.append((upload.upload_id, f.code.value, escape(v.meter), None,
                            escape(v.time), None, f"{f.field}: {f.message}", now))
            else:
                by_reading.setdefault(f.index, []).append(f)
        for index, found in by_reading.items():
            meter, obis, time, value = upload.readings[index][:4]
            upload.not_stored.add(index)
            out.append((upload.upload_id, found[0].code.value, escape(meter), escape(obis),
                        escape(time), escape(value),
                        "; ".join(f"{f.field}: {f.message}" for f in found), now))
        report.readings_rejected = len(by_reading)
        report.findings = len(out)

    @staticmethod
    def _rows_to_store(upload: Upload, changes: dict[int, str]) -> Sequence[tuple]:
        rejected = ReadingStatus.REJECTED.value
        readings = upload.readings
        upload.status_changes = changes
        parsed = _statuses(readings)
        if not changes and rejected not in parsed:
            return readings                   # every reading as parsed: the common case
        if isinstance(readings, FlatRows):    # from a check worker: patch the flat values
            w = readings.width
            flat = readings.flat.copy()
            if changes:
                statuses = parsed.copy()
                for i, changed in changes.items():
                    statuses[i] = changed
                flat[5::w] = statuses         # the status column, in one slice
            if rejected in parsed:            # rejected by the check: never stored
                flat = [v for i, st in enumerate(parsed) if st != rejected
                        for v in flat[i * w:(i + 1) * w]]
            return FlatRows(flat, w)
        rows: list[tuple] = []
        for i, r in enumerate(readings):
            if r[5] == rejected:
                continue
            status = changes.get(i)
            rows.append(r if status is None else (*r[:5], status, *r[6:]))
        return rows

    @staticmethod
    def _duplicates(db: SqlConnection, upload: Upload, report: IngestReport, out: list,
                    now: str) -> None:
        """Readings not stored: same key already held. Same value (as a number: ``12.5`` and
        ``012.50`` are one): duplicate. Another value: conflict, and the held reading is
        no longer billable either (status ``conflict``): which of two values is right is a
        clerk's decision, not the order the uploads came in."""
        seen: dict[tuple[str, str, str], int] = {}
        ok, conflict = ReadingStatus.OK.value, ReadingStatus.CONFLICT.value
        duplicate_kind, conflict_kind = (ExceptionKind.DUPLICATE.value,
                                         ExceptionKind.CONFLICT.value)
        readings = [(index, reading) for index, reading in enumerate(upload.readings)
                    if index not in upload.not_stored]    # not rejected (an exception already)
        held = _held_readings(db, [reading[:3] for _, reading in readings])
        for index, reading in readings:
            meter, obis, time, value, uid = (reading[0], reading[1], reading[2], reading[3],
                                             reading[7])
            key = (meter, obis, time)
            row = held.get(key)
            if row is None:
                continue
            if row[1] == uid and key not in seen:
                seen[key] = index  # the copy this upload stored
                continue
            upload.not_stored.add(index)
            if _same_value(row[0], value):
                report.readings_already_held += 1
                kind = duplicate_kind
                detail = f"already held from upload {row[1]} ({row[2]})"
                if row[3] != ok and upload.status_changes.get(index, reading[5]) == ok:
                    detail += f", held as {row[3]}: this reading is not billed either"
            else:
                report.conflicts += 1
                kind = conflict_kind
                detail = (f"held value {escape(row[0])} from upload {row[1]} ({row[2]}) "
                          "differs: neither is billed")
                if row[3] == ok:
                    db.execute("UPDATE readings SET status=? WHERE meter=? AND obis=? "
                               "AND time=?", (conflict, *key))
                    held[key] = (*row[:3], conflict)
                    if row[1] == uid:
                        upload.status_changes[seen[key]] = conflict
                        report.readings_not_billable += 1
            out.append((upload.upload_id, kind, meter, obis, time, value, detail, now))

    @staticmethod
    def _check_visits(db: SqlConnection, upload: Upload, report: IngestReport, out: list,
                      now: str) -> dict[int, str]:
        """Visits against the lists held; the reading statuses that change (index → status):
        a meter not on its list, no list named, an unknown list, a visit before its list.

        What a list is to this upload (held, cancelled, given to another HHU, its meters,
        the time before which a visit is early) is found at the first visit of it that
        asks, with the statements asked in the order the checks ask them, and kept for
        the list's other visits: the loop runs once a visit, the statements once a list."""
        touched: dict[str, None] = {}
        changes: dict[int, str] = {}
        lists: dict[str, tuple] = {}         # list → (verdict, held, meters on it, early)
        read_by: dict[str, dict[str, list]] = {}   # list → meter → a visit by another HHU
        times: dict[str, datetime] = {}      # a visit's time text → the instant
        markable = (ReadingStatus.OK.value, ReadingStatus.SUSPECT.value)
        parsed: list[str] = []               # the readings' statuses, taken at the first mark
        hhu_id = upload.hhu_id
        tolerance = DEFAULT_LIMITS.future_tolerance
        failed = report.failed_visits

        # mark and flag run once a visit (for every visit of a docking whose visits name no
        # list): str() of a StrEnum member is its value as plain text (the store binds no
        # str subclass) in a quarter of the time ``.value``, a property, takes.
        def mark(v, status: ReadingStatus) -> None:
            if not parsed:
                parsed.extend(_statuses(upload.readings))
            value = str(status)
            for i in v.rows:
                if parsed[i] in markable:
                    changes[i] = value

        def flag(v, kind: ExceptionKind | FindingCode, detail: str) -> None:
            out.append((upload.upload_id, str(kind), escape(v.meter), None, escape(v.time),
                        None, detail, now))

        def list_of(list_id: str) -> tuple:
            """What the list is to this upload, by the statements the checks ask."""
            row = db.execute(LIST_HELD_SQL, (list_id,)).fetchone()
            held = (_aware(row[0]), row[1]) if row else None
            if held is None:
                return (_UNKNOWN, held, None, None)
            if held[1] == ListState.CANCELLED:
                return (_CANCELLED, held, None, None)
            hhus = {r[0] for r in db.execute(LIST_GIVEN_SQL, (list_id,))}
            if hhus and hhu_id not in hhus:
                return (_NOT_DELIVERED, held, hhus, None)
            meters = {r[0] for r in db.execute(LIST_SERIALS_SQL, (list_id,))}
            return (_TAKEN, held, meters, None if held[0] is None else held[0] - tolerance)

        for v in upload.visits:
            outcome = v.outcome
            done = outcome == "done"
            if not done:
                failed[outcome] = failed.get(outcome, 0) + 1
            if v.notes:
                report.visits_with_notes += 1
            if not v.meter_ok:
                continue                       # its readings are rejected already
            if done and not v.rows:
                flag(v, ExceptionKind.NO_READINGS,
                     f"visits[{v.seq}]: done, but no register was sent")
            list_id = v.list_id
            if not list_id:
                if done:
                    report.not_on_list += 1
                    mark(v, ReadingStatus.NO_LIST)
                    flag(v, ExceptionKind.NOT_ON_LIST, "visit names no meter list")
                continue
            found = lists.get(list_id)
            if found is None:
                found = lists[list_id] = list_of(list_id)
            verdict, held, meters, early = found
            if verdict is not _TAKEN:
                if verdict is _UNKNOWN:
                    mark(v, ReadingStatus.UNKNOWN_LIST)
                    flag(v, ExceptionKind.UNKNOWN_LIST,
                         f"visit names meter list {escape(list_id)!r}, which is not held")
                elif verdict is _CANCELLED:
                    # back office withdrew the work: what was read on it is a clerk's to bill
                    mark(v, ReadingStatus.LIST_CANCELLED)
                    flag(v, ExceptionKind.LIST_CANCELLED,
                         f"visit names meter list {escape(list_id)!r}, which was cancelled")
                else:
                    # a genuine key proves who sent it, not that the list was its work
                    mark(v, ReadingStatus.NOT_DELIVERED)
                    flag(v, ExceptionKind.NOT_DELIVERED,
                         f"meter list {list_id} was given to "
                         f"{', '.join(sorted(map(str, meters)))}, not {hhu_id}")
                continue
            touched[list_id] = None
            if v.meter not in meters:
                report.not_on_list += 1
                mark(v, ReadingStatus.NOT_ON_LIST)
                flag(v, ExceptionKind.NOT_ON_LIST, f"meter is not on list {list_id}")
                continue
            if early is not None and v.time_ok:
                at = times.get(v.time)
                if at is None:
                    at = times[v.time] = datetime.fromisoformat(v.time)
                if at < early:
                    mark(v, ReadingStatus.SUSPECT)
                    flag(v, FindingCode.BEFORE_LIST,
                         f"visits[{v.seq}].time: before list {list_id} was issued "
                         f"({held[0].isoformat()})")
            if done:
                first = read_by.get(list_id)
                if first is None:
                    # each meter's first visit by another HHU (in the visits_list index's
                    # order, which the one-visit query took): one statement a list
                    first = read_by[list_id] = {}
                    for meter, *other in db.execute(LIST_READ_BY_SQL, (list_id, hhu_id)):
                        first.setdefault(meter, other)
                other = first.get(v.meter)
                if other:
                    report.already_read += 1
                    flag(v, ExceptionKind.ALREADY_READ,
                         f"already read on list {list_id} by {other[1]} (upload {other[0]})")
        report.lists_touched = list(touched)
        return changes

    def _settle_lists(self, db, list_ids: list[str], now: str) -> None:
        """complete when every entry's latest visit is done, else partial (exceptions say
        why). Counted per entry, not per visit: a requeued list has two visits an entry."""
        for list_id in list_ids:
            total, done = db.execute(
                "SELECT COUNT(*), COALESCE(SUM((SELECT v.outcome = 'done' FROM visits v "
                "JOIN uploads u ON u.upload_id = v.upload_id "
                "WHERE v.list_id = e.list_id AND v.meter = e.serial "
                "ORDER BY v.time DESC, u.rowid DESC, v.seq DESC LIMIT 1)), 0) "
                "FROM list_entries e WHERE e.list_id=?", (list_id,)).fetchone()
            state = ListState.COMPLETE if done >= total else ListState.PARTIAL
            # a running remote list is settled when its run ends (end_remote_run), not
            # by each meter's upload on the way
            db.execute("UPDATE lists SET state=?, updated_at=? WHERE list_id=? "
                       "AND state NOT IN (?, ?)",
                       (state, now, list_id, ListState.CANCELLED, ListState.RUNNING))

    def readings(self, since: str | None = None, upload_id: str | None = None,
                 catalog: str | Path | None = None) -> Iterator[ExportRow]:
        """Export rows (docs/exports.md) ordered by meter, obis, time: received since
        ``since``, or stored by one upload; ``catalog`` says which models take ratios
        (pass the configured ``paths.catalog``)."""
        with self._reading() as db:
            yield from export_rows(db, since=since, upload_id=upload_id, catalog=catalog)

    #: ``status``'s two queries that take one row a group, which SQLite writes with bare
    #: columns beside GROUP BY (the row of the MAX) and PostgreSQL with DISTINCT ON
    _FAILED_VISITS = (
        "SELECT e.list_id, e.serial AS meter, v.outcome, v.notes, v.time, "
        "u.hhu_id AS hhu FROM lists l JOIN list_entries e ON e.list_id = l.list_id "
        "LEFT JOIN visits v ON v.list_id = e.list_id AND v.meter = e.serial "
        "AND v.time = (SELECT MAX(w.time) FROM visits w WHERE w.list_id = e.list_id "
        "AND w.meter = e.serial) "
        "LEFT JOIN uploads u ON u.upload_id = v.upload_id "
        "WHERE l.state = 'partial' AND NOT EXISTS (SELECT 1 FROM visits d WHERE "
        "d.list_id = e.list_id AND d.meter = e.serial AND d.outcome = 'done') "
        "GROUP BY e.list_id, e.serial ORDER BY l.due, e.list_id, e.seq LIMIT 50")
    _METER_FLAGS = (
        "SELECT v.meter, v.error_flags, v.time, v.list_id, u.hhu_id AS hhu "
        "FROM (SELECT meter, MAX(time) AS last FROM visits GROUP BY meter) m "
        "JOIN visits v ON v.meter = m.meter AND v.time = m.last "
        "JOIN uploads u ON u.upload_id = v.upload_id "
        "WHERE v.error_flags IS NOT NULL AND v.error_flags != '' "
        "AND ltrim(v.error_flags, '0') != '' "
        "GROUP BY v.meter ORDER BY v.meter LIMIT 50")


def held_upload_report(upload: Upload, report: IngestReport, held_hhu: str,
                       held_sha256: str) -> IngestReport:
    """The report for an upload whose id is held already: everything in it is "already
    held" (the HHU may delete it), unless the bytes differ from those held."""
    if held_sha256 and upload.sha256 and held_sha256 != upload.sha256:
        # "already held" lets the HHU delete these bytes: they are not held
        raise UploadRefused(
            f"upload {upload.upload_id} from {upload.hhu_id}: already held with "
            f"other content (from {held_hhu}, sha256 {held_sha256[:12]}…; this one "
            f"{upload.sha256[:12]}…): left on the HHU for a clerk",
            reason=RefusalReason.HELD_OTHERWISE)
    report.already_held = True
    report.readings_already_held = len(upload.readings)
    report.intervals_already_held = upload.interval_count()
    report.events_already_held = len(upload.events)
    return report


def _same_value(held: str, value: str) -> bool:
    """Whether two register values are one: the same text, or the same decimal number."""
    if held == value:
        return True
    if not (is_plain_number(held) and is_plain_number(value)):
        return False
    try:
        return Decimal(held) == Decimal(value)
    except (InvalidOperation, ValueError):
        return False


def _aware(text: str) -> datetime | None:
    """A stored time as an aware datetime (naive ones are UTC); None if it is not one."""
    try:
        when = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


# -- the export query ---------------------------------------------------------------------
# The order parse_upload builds reading rows in (hhu_sync.ingest.Upload.readings).
_READING_COLUMNS = ("meter,obis,time,value,unit,status,hhu,upload_id,value_time,reset_time,"
                    "visit_seq")
_READING_WIDTH = len(_READING_COLUMNS.split(","))
_ADDED_READING_COLUMNS = (("value_time", "TEXT NOT NULL DEFAULT ''"),
                          ("reset_time", "TEXT NOT NULL DEFAULT ''"),
                          ("visit_seq", "INTEGER"), ("accepted_by", "INTEGER"))


# What a list a visit names is to an upload (SqliteStore._check_visits): not held,
# cancelled, given to other HHUs only, or taken (its visits' meters are checked on it).
_UNKNOWN, _CANCELLED, _NOT_DELIVERED, _TAKEN = "unknown", "cancelled", "not delivered", "taken"


# What an ingest's checks ask of each list its visits name (SqliteStore._check_visits),
# with the list's id (LIST_READ_BY_SQL: and the uploading HHU's); a backend may ask them
# all at once before the checks (PostgresStore.ingest: one round trip to the server).
LIST_HELD_SQL = "SELECT created_at, state FROM lists WHERE list_id=?"
LIST_GIVEN_SQL = ("SELECT DISTINCT target_hhu FROM deliveries WHERE kind='meter_list' "
                  "AND ref=? AND state='delivered'")
LIST_SERIALS_SQL = "SELECT serial FROM list_entries WHERE list_id=?"
LIST_READ_BY_SQL = ("SELECT v.meter, v.upload_id, u.hhu_id FROM visits v "
                    "JOIN uploads u ON u.upload_id = v.upload_id WHERE v.list_id=? AND "
                    "v.outcome='done' AND u.hhu_id != ? ORDER BY v.meter, v.upload_id, "
                    "v.seq")


_VISIT_COLUMNS = ("upload_id,seq,meter,list_id,time,outcome,scheme,verify,error_flags,"
                  "operator,notes,ratios")
_VISIT_WIDTH = len(_VISIT_COLUMNS.split(","))
#: a Visit's values for the visits table's columns after upload_id (named alike)
_VISIT_INDEXES = tuple(map(Visit._fields.index, _VISIT_COLUMNS.split(",")[1:]))
_VISIT_FIELDS = itemgetter(*_VISIT_INDEXES)
_ADDED_VISIT_COLUMNS = (("ratios", "TEXT"),)
#: Visit outcomes whose ratio proof counts: the HHU talked to the meter's registers.
_PROOF_OUTCOMES = ("done", "verify_failed")


def _ratio(ratio: tuple[float, float] | None) -> str:
    return "/".join(format(Decimal(str(x)).normalize(), "f") for x in ratio) if ratio \
        else "1/1"


def _add_visit_columns(db: sqlite3.Connection) -> None:
    """Bring the visits table of an older database up to schema.sql (ALTER only adds:
    the visits held keep their values; their ratios start NULL, no proof)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(visits)")}
    for name, decl in _ADDED_VISIT_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE visits ADD COLUMN {name} {decl}")
    # here, not in schema.sql: an older database has no ratios column until just now
    db.execute("CREATE INDEX IF NOT EXISTS visits_proof ON visits (meter, time) "
               "WHERE ratios IS NOT NULL")


def _add_reading_columns(db: sqlite3.Connection) -> None:
    """Bring a database made before the export columns up to schema.sql (ALTER only
    adds: every row already held keeps its values; the new columns start empty)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(readings)")}
    for name, decl in _ADDED_READING_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE readings ADD COLUMN {name} {decl}")


# A reading with its upload, its visit (by seq; rows from before visit_seq was kept: the
# upload's first visit of the meter) and its list entry. Site, rates and ratios are
# looked up in Python, once per list and scheme: the lists' JSON is not parsed per row.
_EXPORT_SQL = (
    "SELECT r.meter, r.obis, r.time, r.value, r.unit, r.status, r.hhu, r.upload_id, "
    "u.received_at, r.value_time, r.reset_time, v.list_id, v.time, v.notes, v.error_flags, "
    "l.list_id IS NOT NULL, e.serial IS NOT NULL, r.accepted_by IS NOT NULL "
    "FROM readings r JOIN uploads u ON u.upload_id = r.upload_id "
    "LEFT JOIN visits v ON v.upload_id = r.upload_id AND v.seq = COALESCE(r.visit_seq, "
    "(SELECT MIN(w.seq) FROM visits w WHERE w.upload_id = r.upload_id AND w.meter = r.meter)) "
    "LEFT JOIN lists l ON l.list_id = v.list_id "
    "LEFT JOIN list_entries e ON e.list_id = v.list_id AND e.serial = r.meter ")


# {} : nothing, or "AND meter = ? " (one meter's visits)
_PROGRAMMED_SQL = ("SELECT meter, time, scheme FROM visits WHERE scheme IS NOT NULL "
                   "AND outcome='done' AND verify='ok' {}ORDER BY meter, time")
_HELD_SQL = ("SELECT meter, time, scheme IS NOT NULL, ratios FROM visits WHERE ratios IS NOT "
             f"NULL AND outcome IN {_PROOF_OUTCOMES!r} {{}}ORDER BY meter, time")


def export_enricher(db: SqlConnection, *, catalog: str | Path | None = None,
                    meter: str | None = None) -> Enricher:
    """The :class:`Enricher` the export runs over ``db``'s readings (its lists, schemes and
    the visits that programmed or proved ratios); ``meter``: only that meter's visits are
    read (the web app's meter page, which must say what the export says)."""
    # A row the export cannot read (written by another version) leaves its site, rates
    # and ratios unknown; it must not stop every other reading's export.
    def meter_list(list_id: str) -> MeterList | None:
        row = db.execute("SELECT data FROM lists WHERE list_id=?", (list_id,)).fetchone()
        try:
            return meter_list_from_dict(json.loads(row[0])) if row else None
        except (ValueError, KeyError, TypeError):
            return None

    def entries(list_id: str) -> Any:
        """meter_list's entries by serial (an empty mapping where it gives None), each
        made when a visit asks for it."""
        row = db.execute("SELECT data FROM lists WHERE list_id=?", (list_id,)).fetchone()
        try:
            return meter_entries_from_dict(json.loads(row[0])) if row else {}
        except (ValueError, KeyError, TypeError):
            return {}

    def scheme(scheme_id: str) -> Scheme | None:
        row = db.execute("SELECT data FROM schemes WHERE scheme_id=?", (scheme_id,)).fetchone()
        try:
            return scheme_from_dict(json.loads(row[0])) if row else None
        except (ValueError, KeyError, TypeError):
            return None

    # Read in one pass each at the first meter (a query per meter is a statement per
    # meter; bench/export.py), each by a partial index that holds only the few visits
    # that programmed a scheme or brought a ratio proof, never the whole visits table.
    found: dict[str, dict[str, list]] | None = None

    def visits_of(kind: str, of: str) -> list:
        nonlocal found
        if found is None:
            found = {"programmed": {}, "held": {}}
            one, args = ("AND meter = ? ", (meter,)) if meter is not None else ("", ())
            for held_by, when, scheme_id in db.execute(_PROGRAMMED_SQL.format(one), args):
                found["programmed"].setdefault(held_by, []).append((when, scheme_id))
            for held_by, when, programs, ratios in db.execute(_HELD_SQL.format(one), args):
                found["held"].setdefault(held_by, []).append((when, programs, ratios))
        return found[kind].get(of, [])

    def programmed(of: str) -> list[tuple[str, str]]:
        return visits_of("programmed", of)

    def held(of: str) -> list[tuple[str, bool, str]]:
        return visits_of("held", of)

    def takes_ratios(model: str) -> bool:
        return model_takes_ratios(model, catalog)

    return Enricher(meter_list, scheme, programmed, takes_ratios, held, entries)


def register_export_rows(db: sqlite3.Connection, meter: str, obis: str, *,
                         before: str | None = None, limit: int = 50,
                         catalog: str | Path | None = None,
                         enrich: Enricher | None = None) -> list[ExportRow]:
    """One register's export rows, newest first, older than ``before``: what the export
    says of each reading (multiplier, value basis, primary value), one range of the
    readings primary key. ``enrich``: the meter's enricher, shared by several registers
    (its lists, schemes and visits read once)."""
    older, args = ("AND r.time < ? ", (before,)) if before is not None else ("", ())
    if enrich is None:
        enrich = export_enricher(db, catalog=catalog, meter=meter)
    rows = db.execute(_EXPORT_SQL + f"WHERE r.meter = ? AND r.obis = ? {older}"
                      "ORDER BY r.time DESC LIMIT ?", (meter, obis, *args, limit))
    return enrich.rows(rows)


def export_rows(db: SqlConnection, *, since: str | None = None,
                upload_id: str | None = None,
                catalog: str | Path | None = None,
                stream: Callable[[str, tuple], Iterable[tuple]] | None = None
                ) -> Iterator[ExportRow]:
    """The export rows of the readings held in ``db``, ordered by meter, obis, time.

    ``catalog``: the meter-model catalog whose ``takes_ratios`` decides which models
    count primary values (the configured ``paths.catalog``; None: the default one).
    ``stream``: how the store-wide statement is run, when ``db.execute`` would hold its
    whole answer at once (a PostgreSQL client-side cursor does; SQLite steps it)."""
    if upload_id is not None:
        yield from upload_export_rows(db, upload_id, catalog=catalog)
        return
    enrich = export_enricher(db, catalog=catalog)
    args: tuple[str, ...]
    sql, args = _EXPORT_SQL, ()
    if since:
        sql, args = sql + "WHERE u.received_at >= ? ", (since,)
    run = stream or db.execute
    found = iter(run(sql + "ORDER BY r.meter, r.obis, r.time", args))
    # a few rows at a time, as they come (a PostgreSQL cursor fetches slices as they are
    # taken): enriched in one loop each, never the whole store at once
    while chunk := list(islice(found, 64)):
        yield from enrich.rows(chunk)


def upload_export_rows(db: SqlConnection, upload_id: str, *,
                       catalog: str | Path | None = None) -> list[ExportRow]:
    """:func:`export_rows` of one upload, as a list (the export worker's): in meter,
    obis, time order, the rows :data:`_EXPORT_SQL`'s join gives, enriched."""
    enrich = export_enricher(db, catalog=catalog)
    found = _upload_readings(db, upload_id)
    if found is None:
        return []
    received_at, readings, visit_of = found
    return enrich.upload_rows(readings, upload_id, received_at, visit_of)


# The upload's readings, with the columns the export takes from them (the upload's id
# is the one asked for). Without ORDER BY: the rows are sorted in Python, by meter, obis
# and time (the primary key, so never a tie), a tenth of the time of SQLite's sort, and
# on PostgreSQL a sort the server (on the cores the ingest shares) does not do. The
# order is the one the statement's would be on either backend: SQLite's BINARY and
# PostgreSQL's ctext (COLLATE "C", byte-wise on UTF-8) both sort by code point, as
# Python does.
_UPLOAD_READINGS_SQL = (
    "SELECT r.meter, r.obis, r.time, r.value, r.unit, r.status, r.hhu, "
    "r.value_time, r.reset_time, r.visit_seq, r.accepted_by IS NOT NULL FROM readings r "
    "WHERE r.upload_id = ? ")
_UPLOAD_VISITS_SQL = ("SELECT seq, meter, list_id, time, notes, error_flags FROM visits "
                      "WHERE upload_id = ?")
_NO_VISIT = (None, None, None, None, 0, 0)


def _upload_readings(db: SqlConnection, upload_id: str
                     ) -> tuple[str, list[tuple], Callable[[Any, str], tuple]] | None:
    """One upload's part of :data:`_EXPORT_SQL`'s join, read here: its received time,
    its readings (:data:`_UPLOAD_READINGS_SQL`'s rows, sorted) and ``visit_of(seq,
    meter)``, a reading's visit's part of the join's row ``(list_id, visit_time, notes,
    error_flags, list_held, on_list)`` (:meth:`Enricher.upload_rows` asks it once a
    visit and meter). The upload's visits, lists and list entries are read once each,
    not looked up by three index searches a reading (half the export's time). None
    when the upload is not held (the join finds no rows). Same rows, same order, same
    NULLs as the SQL join: a reading without a visit seq is its meter's first visit's
    in the upload; on_list is the reading's meter's, on its visit's list."""
    received = db.execute("SELECT received_at FROM uploads WHERE upload_id = ?",
                          (upload_id,)).fetchone()
    if received is None:                 # the join finds no upload: no rows
        return None
    visits: dict[Any, tuple] = {}
    first_of: dict[str, Any] = {}        # meter → its first visit's seq (rows without one)
    for seq, meter, list_id, time, notes, flags in db.execute(_UPLOAD_VISITS_SQL,
                                                               (upload_id,)).fetchall():
        visits[seq] = (list_id, time, notes, flags)
        if meter not in first_of or seq < first_of[meter]:
            first_of[meter] = seq
    held: dict[str, bool] = {}
    entries: dict[str, frozenset[str]] = {}
    for list_id, _time, _notes, _flags in visits.values():
        if list_id is not None and list_id not in held:
            held[list_id] = db.execute("SELECT 1 FROM lists WHERE list_id = ?",
                                       (list_id,)).fetchone() is not None
            entries[list_id] = frozenset(row[0] for row in db.execute(
                "SELECT serial FROM list_entries WHERE list_id = ?", (list_id,)).fetchall())

    def visit_of(seq: Any, meter: str) -> tuple:
        visit = visits.get(first_of.get(meter) if seq is None else seq)
        if visit is None:
            return _NO_VISIT
        list_id, time, notes, flags = visit
        known = list_id is not None
        return (list_id, time, notes, flags, int(known and held[list_id]),
                int(known and meter in entries[list_id]))

    # fetched at once (on PostgreSQL a row a call of Python's through the cursor else)
    found = db.execute(_UPLOAD_READINGS_SQL, (upload_id,)).fetchall()
    found.sort()
    return received[0], found, visit_of


def read_export_rows(path: str | Path, *, upload_id: str | None = None,
                     catalog: str | Path | None = None) -> list[ExportRow]:
    """:func:`export_rows` over a read-only connection of its own: for a worker process
    that writes exports while the daemon keeps the database open for writing."""
    db = read_only_connection(path)
    try:
        if upload_id is not None:
            return upload_export_rows(db, upload_id, catalog=catalog)
        return list(export_rows(db, catalog=catalog))
    except sqlite3.Error as exc:
        raise StorageUnavailable(f"{path}: {exc}") from None
    finally:
        db.close()


def read_upload_intervals(path: str | Path, upload_id: str
                          ) -> tuple[list[HeldInterval], list[tuple]]:
    """The intervals an upload stored (not those it found held already) and its VEE
    findings ``(meter, channel, code, first_end, last_end)``, over a read-only
    connection of its own."""
    held: list[HeldInterval] = []
    findings = _upload_intervals(path, upload_id, held.extend)
    return held, findings


def read_upload_interval_series(path: str | Path, upload_id: str
                                ) -> tuple[list[tuple[str, ChannelSeries]], list[tuple]]:
    """:func:`read_upload_intervals` as ``(meter, series)``, each meter's rows made series
    as soon as they are read, for the export worker: a route's profiles held as one row
    object an interval took 718 MB at 1.3 million intervals, as series a tenth of it."""
    db = read_only_connection(path)
    try:
        return upload_interval_series_of(db, upload_id)
    except sqlite3.Error as exc:
        raise StorageUnavailable(f"{path}: {exc}") from None
    finally:
        db.close()


def upload_interval_series_of(db: SqlConnection, upload_id: str
                              ) -> tuple[list[tuple[str, ChannelSeries]], list[tuple]]:
    """:func:`read_upload_interval_series` on ``db``."""
    series: list[tuple[str, ChannelSeries]] = []

    def add(rows: list[HeldInterval]) -> None:
        series.extend((rows[0].meter, one) for one in series_from_held(rows))

    findings = upload_intervals_of(db, upload_id, add)
    return series, findings


def read_only_connection(path: str | Path) -> sqlite3.Connection:
    """A read-only connection of the caller's own (a worker's, while the daemon keeps the
    database open for writing); one that cannot be opened as :class:`StoreError`."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True, timeout=30.0)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the database: {exc}") from None


def _upload_intervals(path: str | Path, upload_id: str,
                      take: Callable[[list[HeldInterval]], None]) -> list[tuple]:
    """Hand ``take`` the upload's stored intervals a meter at a time (in meter, channel,
    end order); the upload's VEE findings."""
    db = read_only_connection(path)
    try:
        return upload_intervals_of(db, upload_id, take)
    except sqlite3.Error as exc:
        raise StorageUnavailable(f"{path}: {exc}") from None
    finally:
        db.close()


def upload_intervals_of(db: SqlConnection, upload_id: str,
                        take: Callable[[list[HeldInterval]], None]) -> list[tuple]:
    """:func:`_upload_intervals` over any backend's connection (the statements are
    portable): each meter's stored intervals to ``take``; the upload's VEE findings.

    On SQLite one statement reads them all, each meter's by the key's meter prefix;
    elsewhere a statement a meter (a client that holds a statement's whole answer at
    once would hold a route's profiles). The PostgreSQL export worker reads them in one
    statement of its own, fetched in slices
    (:class:`hhu_sync.store.postgres.UploadReads`)."""
    if isinstance(db, sqlite3.Connection):
        found = db.execute(
            f"SELECT {_INTERVAL_SELECT} FROM intervals WHERE upload_id=? AND meter IN "
            "(SELECT meter FROM visits WHERE upload_id=?) "
            "ORDER BY meter, channel, interval_end", (upload_id, upload_id))
        for _meter, same in groupby(found, key=_FIRST):
            take([HeldInterval(*row) for row in same])
        return upload_findings(db, upload_id)
    meters = [m for (m,) in db.execute(
        "SELECT DISTINCT meter FROM visits WHERE upload_id=? ORDER BY meter",
        (upload_id,)).fetchall()]
    for meter in meters:     # by the key's meter prefix: this meter's rows only
        rows = [HeldInterval(*row) for row in db.execute(
            f"SELECT {_INTERVAL_SELECT} FROM intervals WHERE meter=? AND upload_id=? "
            "ORDER BY channel, interval_end", (meter, upload_id)).fetchall()]
        if rows:
            take(rows)
    return upload_findings(db, upload_id)


_FIRST = itemgetter(0)      # a row's meter


def upload_findings(db: SqlConnection, upload_id: str) -> list[tuple]:
    return [tuple(row) for row in db.execute(
        "SELECT meter, channel, code, first_end, last_end FROM "
        "vee_findings WHERE upload_id=? AND first_end IS NOT NULL",
        (upload_id,)).fetchall()]


class SchemeLibrary(Mapping):
    """Read-through mapping of scheme id → Scheme, cached for the mapping's life."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._cache: dict[str, Scheme | None] = {}

    def __getitem__(self, scheme_id: str) -> Scheme:
        if scheme_id not in self._cache:
            self._cache[scheme_id] = self._store.scheme(scheme_id)
        found = self._cache[scheme_id]
        if found is None:
            raise KeyError(scheme_id)
        return found

    def __iter__(self):
        return iter([r[0] for r in self._store._rows("SELECT scheme_id FROM schemes")])

    def __len__(self) -> int:
        return int(self._store._one("SELECT COUNT(*) FROM schemes"))


def open_store(path: str | Path) -> SqliteStore:
    return SqliteStore(path)
