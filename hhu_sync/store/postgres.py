"""PostgreSQL backend: the shared store when several depots report to one database.

The same contract as :class:`~hhu_sync.store.sqlite.SqliteStore` and the same rules: the
ingest checks (duplicate, conflict, not on the list, already read, list settlement), the
interval and VEE rules and the export's joins are the backend-neutral functions the
SQLite backend runs too, given this backend's connection adapter (``?`` parameters).
What differs is how rows get in and how depots are kept apart:

* readings and intervals are copied (``COPY``) into a temporary staging table and merged
  with ``INSERT ... ON CONFLICT DO NOTHING`` in key order: the keys' unique constraints,
  not a look-up first, decide what is new, and two depots merging overlapping uploads
  wait on each other's rows instead of both storing them. Readings are first tried as
  one COPY straight into their table under a savepoint: an upload of new readings (the
  common case) costs what a plain COPY does; one with a key already held fails on the
  key's constraint (or gives up waiting for another depot's, at most 200 ms), is rolled
  back to the savepoint (with the upload's visits, made under it too and copied again)
  and merged;
* an upload is claimed by inserting its ``uploads`` row first: the same upload ingested
  by two depots at once is stored by one, and the other finds it held;
* an upload is few round trips to the server: the transaction's BEGIN, the claim, the
  lists' locks, what the checks ask of each list and the first try's savepoint go in one
  pipeline; the visits in COPY's text format (the checks run here while the server
  stores them), the readings in blocks of it; the savepoint's release, the upload's
  count, its lists' settlement and the COMMIT in another pipeline;
* the meter lists an upload names are locked (``FOR UPDATE``, in id order) before its
  visits are checked, so "already read by another HHU" and the list's settlement see
  every other depot's committed visits of those lists;
* a crew's delivery goes to the first HHU bound to it by a conditional ``UPDATE`` (the
  second waits for the first's commit and then finds it taken), and
  :meth:`PostgresStore.pending_deliveries` skips deliveries another depot is binding
  (``FOR UPDATE SKIP LOCKED``).

Storage faults (server gone, connection lost, pool exhausted) raise
:class:`StorageUnavailable`, as a full disk does on SQLite; the pool replaces broken
connections, so the store works again when the server is back. The password is never
in the URL's configuration: libpq finds it (``PGPASSFILE``, ``~/.pgpass``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from functools import cache
from importlib import resources
from itertools import chain, groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from hhu_sync.export.rows import ExportRow
from hhu_sync.failpoints import failpoint
from hhu_sync.ingest import IngestReport, ReadingStatus, Upload
from hhu_sync.ingest.flatrows import FlatRows
from hhu_sync.model.meterlist import MeterList
from hhu_sync.model.scheme import Scheme
from hhu_sync.model.versions import HeldScheme
from hhu_sync.profile.held import series_from_held
from hhu_sync.profile.series import ChannelSeries
from hhu_sync.store.base import (
    Delivery,
    ListState,
    StorageUnavailable,
    Store,
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
from hhu_sync.store.schema_version import SCHEMA_VERSION, SCHEMA_VERSION_KEY, version_refusal
from hhu_sync.store.sql import Rows
from hhu_sync.store.sqlite import (
    _READING_COLUMNS,
    _VISIT_COLUMNS,
    _VISIT_FIELDS,
    _VISIT_WIDTH,
    LIST_GIVEN_SQL,
    LIST_HELD_SQL,
    LIST_READ_BY_SQL,
    LIST_SERIALS_SQL,
    SqliteStore,
    _statuses,
    export_rows,
    held_upload_report,
    upload_findings,
)
from hhu_sync.store.sqlite_accounts import SqliteAccounts
from hhu_sync.store.sqlite_exceptions import SqliteExceptions
from hhu_sync.store.sqlite_paging import SqlitePaging

log = logging.getLogger("hhu_sync.store")
# The pool logs every failed reconnection (two lines, every few seconds while a server
# is down); this store says once that it is unusable and once that it is usable again.
if logging.getLogger("psycopg.pool").level == logging.NOTSET:
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)

#: the advisory lock (any constant) that depots opening one database at once take while
#: one of them makes its schema
_SCHEMA_LOCK = 0x68687573   # "hhus"
#: seconds a call waits for a connection while the store is failing (see _wait)
FAILING_WAIT_S = 2.0
#: seconds the pool retries a lost connection before it waits for the next call
RECONNECT_S = 10.0
_EXCEPTIONS_ONCE_LOCK = 0x68687565
_INTERVAL_SELECT = ", ".join(INTERVAL_COLUMNS)
#: how long an upload's first try (a COPY straight into readings) waits for a key another
#: depot holds uncommitted before it gives up for the merge in key order
_FAST_COPY_WAIT = "200ms"
#: the savepoint that first try is made under
_FAST_COPY = "fast_copy"
#: the statements that open it (and set its wait) and that close it (the wait ended
#: first: released, a SET LOCAL would last to the commit)
_FAST_COPY_OPEN = (f"SAVEPOINT {_FAST_COPY}", f"SET LOCAL lock_timeout = '{_FAST_COPY_WAIT}'")
_FAST_COPY_CLOSE = ("SET LOCAL lock_timeout TO DEFAULT", f"RELEASE SAVEPOINT {_FAST_COPY}")
_IDLE = psycopg.pq.TransactionStatus.IDLE
_DELIVERY_SELECT = ("delivery_id, kind, ref, target_hhu, target_crew, state, bundle_id, "
                    "bundle IS NOT NULL, attempts")
_EXCEPTION_COLUMNS = "upload_id, kind, meter, obis, time, value, detail, created_at"
#: staging tables: one a connection, emptied at every commit (the readings' and
#: intervals' own columns after an ordinal n, which keeps an upload's order among rows
#: of one key: the first is the one stored, as on SQLite)
_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS readings_in (n bigint, LIKE readings) "
    "ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS intervals_in (n bigint, LIKE intervals) "
    "ON COMMIT DELETE ROWS",
)


#: set while :meth:`PostgresStore.ingest` takes a connection from the pool: the pool's
#: check (an empty query, a round trip) is skipped, and an ingest whose first pipeline
#: finds the connection dropped while idle (a restart) is made again on a checked one
_UNCHECKED = threading.local()


def _checked_unless_asked(conn: psycopg.Connection) -> None:
    """The pool's check of a connection it hands out, unless the taker asked to do
    without (:data:`_UNCHECKED`)."""
    if not getattr(_UNCHECKED, "on", False):
        ConnectionPool.check_connection(conn)


class _DroppedIdle(Exception):
    """An unchecked connection was found dropped before anything was sent on it."""


class _RolledBack(Exception):
    """The server ended an ingest's transaction to break a deadlock (or as a
    serialization failure): nothing of it was stored, and it can be made again."""

    def __init__(self, cause: psycopg.Error) -> None:
        super().__init__(str(cause))
        self.cause = cause


#: what the server says when it rolls a transaction back to let another go on
_ROLLED_BACK = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
#: how many times an ingest is made in all when the server keeps rolling it back to break
#: deadlocks (then it is StorageUnavailable: the upload stays on the HHU)
INGEST_TRIES = 3


def is_postgres_url(url: str | Path) -> bool:
    """Whether a store's name is a PostgreSQL URL (else a SQLite path or URL)."""
    return isinstance(url, str) and url.startswith(("postgresql://", "postgres://"))


def shown_url(url: str) -> str:
    """The URL as messages show it: user, host, port and database, never a password."""
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://?"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@cache
def _pg(sql: str) -> str:
    """A shared statement (``?`` parameters, SQLite's and the standard's) as psycopg takes
    it (``%s``; a literal ``%`` doubled). No statement here has ``?`` in a literal."""
    return sql.replace("%", "%%").replace("?", "%s")


#: what a NUL character in text (a visit's notes, operator, serial, list, scheme; a
#: profile's channel; a list's site) is held as: PostgreSQL's text cannot hold NUL,
#: SQLite's can. The field was flagged (``control_chars``, ``bad_meter``) and its
#: exception keeps the text as written, escaped.
NUL_HELD_AS = "\ufffd"

#: rows a store-wide export fetches from its server-side cursor at a time
EXPORT_FETCH = 2000


def _without_nul(row: tuple) -> tuple:
    """``row`` with every NUL of its text values replaced, in a list value too (a
    statement's ``= ANY(?)``); a row without one as it is."""
    if not any(map(_has_nul, row)):
        return row
    return tuple(map(_nul_held, row))


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    return isinstance(value, list) and any(map(_has_nul, value))


def _nul_held(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", NUL_HELD_AS)
    return list(map(_nul_held, value)) if isinstance(value, list) else value


def copy_text(rows: FlatRows, nulls: int = 0) -> bytes | None:
    """``rows`` in COPY's text format (a tab between values, a newline after each row),
    made by two joins rather than a ``write_row`` a row (a third of the committer's CPU
    an upload); None unless every value is text that needs no escape (no backslash, tab,
    newline, carriage return or NUL), when ``write_row`` escapes (or refuses) it as
    ever. An upload's checked readings are such text: serials, codes, UTC times,
    decimals, units, statuses, identifiers and the visit's number. ``nulls``: how many
    values are ``\\N`` already (:func:`visit_copy`'s NULLs), the only backslashes let by."""
    w = rows.width
    try:
        text = "\n".join(map("\t".join, zip(*[iter(rows.flat)] * w, strict=True)))
    except TypeError:                # a value that is not text (None, a number)
        return None
    n = len(rows)
    # every NULL brings one backslash: any other is a value's (as is a value "\N")
    if (text.count("\t") != n * (w - 1) or text.count("\n") != n - 1
            or text.count("\\") != nulls or "\r" in text or "\x00" in text):
        return None
    return (text + "\n").encode()


def _visit_rows(upload_id: str, visits: Sequence[Any]) -> list[tuple]:
    """The visits table's rows of an upload's visits, NULs replaced (a text with none is
    told by one search of every value, not one test a value)."""
    rows = [(upload_id, *_VISIT_FIELDS(v)) for v in visits]
    if "\x00" in "".join(map(str, chain.from_iterable(rows))):
        return [_without_nul(row) for row in rows]
    return rows


#: how COPY's text format writes a NULL
_COPY_NULL = "\\N"


def visit_copy(upload_id: str, visits: Sequence[Any]) -> bytes | list[tuple]:
    """The visits table's rows of an upload's visits for its COPY: COPY's text format,
    made by :func:`copy_text` as the readings' are (0.5 ms for 1,000 visits,
    where :func:`_visit_rows` alone took 0.9 ms before ``write_row`` escaped each row,
    on the committer's thread); the rows of :func:`_visit_rows` (escaped by ``write_row``)
    when a value is not text nor a number, or holds a backslash, tab, newline,
    carriage return or NUL."""
    if not visits:
        return []
    w = _VISIT_WIDTH
    flat = [x for v in visits for x in (upload_id, *_VISIT_FIELDS(v))]
    nulls = flat.count(None)
    flat = [_COPY_NULL if x is None else x for x in flat]
    seqs = flat[1::w]
    if all(type(n) is int for n in seqs):
        flat[1::w] = map(str, seqs)
    text = copy_text(FlatRows(flat, w), nulls)
    return _visit_rows(upload_id, visits) if text is None else text


#: rows a block of :func:`write_flat` holds (about 100 kB of readings: under psycopg's
#: largest single write, and the server stores one block while the next is made)
COPY_BLOCK_ROWS = 1000


def write_flat(copy: psycopg.Copy, rows: FlatRows) -> None:
    """``rows`` written to a ``COPY ... FROM STDIN``: blocks of :data:`COPY_BLOCK_ROWS`
    rows in COPY's text format (:func:`copy_text`); from a block that needs escapes (or
    holds a value that is not text) on, row by row (``write_row``, which escapes: it
    holds rows back until its buffer fills, so no block may follow, or the rows would
    arrive out of their order)."""
    flat, w = rows.flat, rows.width
    step = COPY_BLOCK_ROWS * w
    for start in range(0, len(flat), step):
        block = copy_text(FlatRows(flat[start:start + step], w))
        if block is None:
            for row in FlatRows(flat[start:], w):
                copy.write_row(_without_nul(row))
            return
        copy.write(block)


class _Answered:
    """A statement's rows, read already (what :class:`_ListFacts` answers with)."""

    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows

    @property
    def rowcount(self) -> int:
        return len(self.rows)

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Any]:
        return list(self.rows)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)


class _ListFacts:
    """A connection whose answers to the statements an ingest's checks ask of each list
    (:data:`~hhu_sync.store.sqlite.LIST_HELD_SQL` and the rest) were asked together,
    in the pipeline that claims the upload and locks its lists; any other statement
    runs on the connection as ever."""

    def __init__(self, db: PgConnection, answers: dict[tuple[str, tuple], Any]) -> None:
        self.db, self.answers = db, answers

    @classmethod
    def asked(cls, db: PgConnection, lists: list[str], hhu_id: str) -> _ListFacts:
        """The statements sent (in a pipeline, answered at its end), for every list."""
        answers: dict[tuple[str, tuple], Any] = {}
        for list_id in lists:
            for sql, args in ((LIST_HELD_SQL, (list_id,)), (LIST_GIVEN_SQL, (list_id,)),
                              (LIST_SERIALS_SQL, (list_id,)),
                              (LIST_READ_BY_SQL, (list_id, hhu_id))):
                answers[sql, args] = db.execute(sql, args)
        return cls(db, answers)

    def execute(self, sql: str, parameters: Any = (), /) -> Rows:
        asked = self.answers.pop((sql, tuple(parameters)), None)
        if asked is None:
            return self.db.execute(sql, parameters)
        return _Answered(asked.fetchall())

    def executemany(self, sql: str, parameters: Any, /) -> Rows:
        return self.db.executemany(sql, parameters)


class PgConnection:
    """A psycopg connection that runs the backend-neutral statements (``?`` parameters):
    what :class:`~hhu_sync.store.sql.SqlConnection` asks for. A NUL in a text parameter
    or a row copied one by one is sent as :data:`NUL_HELD_AS` (the server refuses NUL
    in text): a checked upload's serial, list, scheme or channel with one is stored and
    looked up as SQLite holds it, not refused by the server."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Any = (), /) -> Rows:
        if not parameters:
            return self.conn.execute(sql)
        return self.conn.execute(_pg(sql), _without_nul(parameters))

    def executemany(self, sql: str, parameters: Any, /) -> Rows:
        cur = self.conn.cursor()
        cur.executemany(_pg(sql), map(_without_nul, parameters))
        return cur

    def pipeline(self) -> AbstractContextManager[Any]:
        """Statements sent without waiting for each one's answer, all answered (and any
        error raised) on leaving: for statements whose results are not read."""
        return self.conn.pipeline()

    def savepoint(self) -> AbstractContextManager[Any]:
        """A savepoint in the transaction: what fails inside is undone, the rest kept."""
        return self.conn.transaction()

    @contextmanager
    def copying(self, table: str, columns: str, data: bytes | Sequence[tuple]
                ) -> Iterator[None]:
        """``COPY table (columns) FROM STDIN`` of ``data`` (COPY's text, or rows
        ``write_row`` escapes), sent to the server at once; what the caller does inside
        is done while the server stores them, and their end is waited for on leaving.
        No data: no COPY (what is inside is done all the same)."""
        if not data:
            yield
            return
        cursor = self.conn.cursor()
        # flushed at every write (not each megabyte): all of it is with the server before
        # the caller's work starts
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN",
                         writer=psycopg.copy.LibpqWriter(cursor, flush_threshold=0)) as copy:
            if isinstance(data, bytes):
                copy.write(data)
            else:
                for row in data:
                    copy.write_row(_without_nul(row))
            yield

    def copy_rows(self, table: str, columns: str, rows: Iterator[tuple] | Sequence[tuple]
                  ) -> None:
        """``COPY table (columns) FROM STDIN`` of ``rows``: an upload's readings (text
        values needing no escape) as one block of COPY's text format
        (:func:`copy_text`), other rows one by one (``write_row``). No rows: no COPY."""
        if isinstance(rows, Sequence) and not rows:
            return
        with self.conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            if isinstance(rows, FlatRows):
                write_flat(copy, rows)
                return
            for row in rows:
                copy.write_row(_without_nul(row))


class PostgresStore(PortableStatements, SqliteAccounts, SqliteExceptions, SqlitePaging,
                    ReadingsStatements, RemoteRuns, RemoteClaims, DepotReads):
    """The shared store. Safe to share between threads (a pool of connections). Its
    accounts, audit, exception and paged statements are the SQLite backend's (portable
    SQL, run through :class:`PgConnection`)."""

    _INSERTION_ORDER = "seq"
    _LOCK_ROWS = " FOR UPDATE"
    _LOCK_PORT = "SELECT pg_advisory_xact_lock(hashtextextended(?, 5))"
    # the readings view (hhu_sync.store.readings_statements says why each differs)
    _SITE_FROM = ('lower(site) >= lower(? COLLATE "C") AND '
                  'lower(site) < lower(? COLLATE "C")')
    _NEWEST_LIST = "l.created_at DESC, l.list_id DESC"
    _UNION_MERGES = False

    def __init__(self, url: str, *, min_connections: int = 1, max_connections: int = 8,
                 timeout_s: float = 30.0, depot: str = DEFAULT_DEPOT,
                 open_wait_s: float | None = None) -> None:
        """``timeout_s``: how long a call waits for a connection; ``open_wait_s`` (else
        ``timeout_s``): how long the opening waits for the server to answer; ``depot``:
        the depot its writes name."""
        self.url = url
        #: the depot written into every session, upload, audit entry and HHU sighting
        #: (the depots sharing this database are told apart by it)
        self.depot = depot
        self.where = shown_url(url)
        self._failing = False
        self._lock = threading.Lock()
        self._pool = ConnectionPool(url, min_size=min_connections, max_size=max_connections,
                                    timeout=timeout_s, kwargs={"autocommit": True},
                                    open=False, name="hhu-sync",
                                    # a server away: the pool's own retries (1, 2, 4,
                                    # 8 s) end here, and the next call starts them anew,
                                    # so one that is back is found within seconds
                                    reconnect_timeout=RECONNECT_S,
                                    # a connection the server dropped while it was idle
                                    # (a restart) is replaced at checkout, not failed
                                    check=_checked_unless_asked)
        wait = timeout_s if open_wait_s is None else open_wait_s
        self._probe(wait)
        try:
            self._pool.open(wait=True, timeout=wait)
        except PoolTimeout:
            self._pool.close()
            raise StorageUnavailable(f"{self.where}: the server does not answer "
                                     f"(in {wait:g} s)") from None
        try:
            self._set_up()
        except BaseException:
            self._pool.close()
            raise

    def _probe(self, wait: float) -> None:
        """One connection first, so that a server that refuses (down, or no such
        database) is told at once and in its own words; the pool alone would retry
        quietly until ``wait`` is over."""
        try:
            psycopg.connect(self.url, connect_timeout=max(2, round(wait))).close()
        except psycopg.Error as exc:
            raise StorageUnavailable(f"{self.where}: {_first_line(exc)}") from None

    def _set_up(self) -> None:
        """Make the schema on an empty database; refuse one of another version (newer or
        older) before writing anything to it."""
        with self._tx() as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
            found = None
            if db.execute("SELECT to_regclass('meta')").fetchone()[0] is not None:
                row = db.execute("SELECT value FROM meta WHERE key=?",
                                 (SCHEMA_VERSION_KEY,)).fetchone()
                found = row[0] if row else None
            refused = version_refusal(self.where, found)
            if refused is not None:
                raise refused
            if found is None:
                db.execute(resources.files("hhu_sync.store")
                           .joinpath("postgres_schema.sql").read_text())
                db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT DO NOTHING",
                           (SCHEMA_VERSION_KEY, SCHEMA_VERSION))

    # -- connections and transactions -------------------------------------------------
    def _fault(self, exc: BaseException) -> StoreError:
        """The error a driver's exception becomes: a refusal for what the data did (a
        constraint, a value the server cannot hold), else the storage is unavailable."""
        if isinstance(exc, psycopg.IntegrityError | psycopg.DataError):
            return StoreError(f"{self.where}: {exc}")
        with self._lock:
            first, self._failing = not self._failing, True
        if first:
            log.warning("storage: %s unusable (%s); broken connections are replaced",
                        self.where, str(exc).strip())
        return StorageUnavailable(f"{self.where}: {str(exc).strip()}")

    @property
    def failing(self) -> bool:
        """Whether its latest storage operation failed (until one succeeds again)."""
        return self._failing

    def _wait(self) -> float | None:
        """How long a call waits for a connection: the pool's timeout, or only
        :data:`FAILING_WAIT_S` while the server is known to be away (a call then fails
        soon, and the daemon's outbox, cradles and web pages are not held up)."""
        return FAILING_WAIT_S if self._failing else None

    def _storage_ok(self) -> None:
        if not self._failing:
            return
        with self._lock:
            recovered, self._failing = self._failing, False
        if recovered:
            log.info("storage: %s usable again", self.where)

    @contextmanager
    def _tx(self) -> Iterator[PgConnection]:
        """One write transaction (committed on leaving, rolled back on any error)."""
        try:
            with self._pool.connection(timeout=self._wait()) as conn, conn.transaction():
                yield PgConnection(conn)
                failpoint("store.commit", StorageUnavailable(
                    f"{self.where}: could not commit (injected)"))
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._fault(exc) from None
        self._storage_ok()

    @contextmanager
    def _reading(self) -> Iterator[PgConnection]:
        """Reads, each statement on its own snapshot (autocommit), faults mapped."""
        try:
            with self._pool.connection(timeout=self._wait()) as conn:
                yield PgConnection(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._fault(exc) from None
        self._storage_ok()

    def _rows(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        with self._reading() as db:
            return db.execute(sql, args).fetchall()

    def _one(self, sql: str, args: tuple | list = ()) -> Any:
        with self._reading() as db:
            row = db.execute(sql, args).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self._pool.close()

    # -- outbox -------------------------------------------------------------------------
    _INPUT_COLUMNS = ("name", "kind", "status", "reason", "moved_to", "received_at")
    _PUT_INPUT = (
        "INSERT INTO inputs (sha256, name, kind, status, reason, moved_to, received_at) "
        "VALUES (?,?,?,?,?,?,?) ON CONFLICT (sha256) DO UPDATE SET name=excluded.name, "
        "kind=excluded.kind, status=excluded.status, reason=excluded.reason, "
        "moved_to=excluded.moved_to, received_at=excluded.received_at")

    def inputs_seen(self, shas: list[str]) -> dict[str, dict[str, Any]]:
        """The inputs already received among ``shas`` (one query for an outbox batch)."""
        rows = self._rows("SELECT sha256, " + ", ".join(self._INPUT_COLUMNS) +
                          " FROM inputs WHERE sha256 = ANY(?)", (list(shas),))
        return {row[0]: dict(zip(self._INPUT_COLUMNS, row[1:], strict=True)) for row in rows}

    def record_input(self, sha256: str, name: str, kind: str, status: str, reason: str,
                     moved_to: str, now: str = "") -> None:
        with self._tx() as db:
            db.execute(self._PUT_INPUT, (sha256, name, kind, status, reason, moved_to, now))

    def accept_inputs(self, items: list[dict[str, Any]]) -> list[int | None]:
        """Several outbox files in one transaction. The schemes' ids are locked first
        (in order), so two depots taking versions of one scheme at once judge them one
        after the other, by the same version rule (:mod:`hhu_sync.model.versions`)."""
        with self._tx() as db:
            ids = sorted({item["scheme"].id for item in items if item.get("scheme") is not None})
            for scheme_id in ids:
                db.execute("SELECT pg_advisory_xact_lock(hashtext(?))",
                           (f"scheme:{scheme_id}",))
            held: dict[str, HeldScheme] = SqliteStore._held_schemes(db, ids)
            schemes: list[tuple] = []
            inputs: list[tuple] = []
            out: list[int | None] = []
            for item in items:
                scheme, mlist, now = item.get("scheme"), item.get("mlist"), item["now"]
                hhu, bundle = item.get("quick_send_hhu"), item.get("bundle")
                delivery = None
                if scheme is not None:
                    SqliteStore._check_version(scheme, held, item)
                    schemes.append((scheme.id, scheme.model, scheme.version, scheme.json,
                                    item["sha256"], now))
                    if hhu:
                        bound = bundle if bundle is not None and bundle[0] == hhu else None
                        delivery = db.execute(
                            "INSERT INTO deliveries (kind, ref, target_hhu, state, created_at, "
                            "bundle_id, bundle) VALUES ('quick_send', ?, ?, 'queued', ?, ?, ?) "
                            "RETURNING delivery_id",
                            (scheme.id, hhu, now, bound[1] if bound else None,
                             bound[2] if bound else None)).fetchone()[0]
                if mlist is not None:
                    delivery = self._add_meter_list(db, mlist, now)
                    if bundle is not None:
                        SqliteStore._bind(db, delivery, *bundle)
                inputs.append((item["sha256"], item["name"], item["kind"], "accepted", "",
                               item["moved_to"], now))
                out.append(delivery)
            if schemes:
                db.executemany(
                    "INSERT INTO schemes VALUES (?,?,?,?,?,?) ON CONFLICT (scheme_id) DO UPDATE "
                    "SET model=excluded.model, version=excluded.version, data=excluded.data, "
                    "sha256=excluded.sha256, updated_at=excluded.updated_at", schemes)
            if inputs:
                db.executemany(self._PUT_INPUT, inputs)
            return out

    # -- scheme library and queue -------------------------------------------------------
    def library(self) -> Mapping[str, Scheme]:
        """The scheme library as a lazy mapping: only the ids asked for are read."""
        return _Library(self)

    @staticmethod
    def _add_meter_list(db: PgConnection, mlist: MeterList, now: str) -> int:
        """The list, its entries and its delivery. A held list is replaced only when it
        was cancelled: decided by the insert itself (``ON CONFLICT ... WHERE``), so two
        depots taking one list at once queue it once."""
        taken = db.execute(
            "INSERT INTO lists VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (list_id) DO UPDATE "
            "SET name=excluded.name, hhu=excluded.hhu, crew=excluded.crew, due=excluded.due, "
            "state=excluded.state, entries=excluded.entries, data=excluded.data, "
            "delivered_to=excluded.delivered_to, created_at=excluded.created_at, "
            "updated_at=excluded.updated_at WHERE lists.state = ? RETURNING list_id",
            (mlist.id, mlist.name, mlist.hhu, mlist.crew, mlist.due, ListState.QUEUED,
             len(mlist.meters), json.dumps(mlist.to_dict()), None, now, now,
             ListState.CANCELLED)).fetchone()
        if taken is None:
            state = db.execute("SELECT state FROM lists WHERE list_id=?",
                               (mlist.id,)).fetchone()
            raise StoreError(f"meter list {mlist.id!r} is already held "
                             f"({state[0] if state else '?'}); cancel it first to replace it")
        db.execute("DELETE FROM list_entries WHERE list_id=?", (mlist.id,))
        db.copy_rows("list_entries", "list_id, seq, serial, task, scheme, site",
                     [_without_nul((mlist.id, n, m.serial, m.task, m.scheme, m.site))
                      for n, m in enumerate(mlist.meters)])
        return int(db.execute(
            "INSERT INTO deliveries (kind, ref, target_hhu, target_crew, state, created_at) "
            "VALUES ('meter_list', ?, ?, ?, 'queued', ?) RETURNING delivery_id",
            (mlist.id, mlist.hhu, None if mlist.hhu else mlist.crew, now)).fetchone()[0])

    def delivery(self, delivery_id: int) -> Delivery | None:
        rows = self._rows(f"SELECT {_DELIVERY_SELECT} FROM deliveries WHERE delivery_id=?",
                          (delivery_id,))
        return Delivery(*rows[0]) if rows else None

    def pending_deliveries(self, hhu_id: str, crew: str | None, now: str) -> list[Delivery]:
        """What is queued for this HHU or its crew. A delivery another depot is binding
        at this moment (its row locked) is left out: it is that depot's HHU's."""
        with self._tx() as db:
            rows = db.execute(
                f"SELECT {_DELIVERY_SELECT} FROM deliveries WHERE state='queued' "
                "AND (not_before IS NULL OR not_before <= ?) "
                "AND (target_hhu = ? OR (target_hhu IS NULL AND target_crew = ?)) "
                "ORDER BY delivery_id FOR UPDATE SKIP LOCKED", (now, hhu_id, crew)).fetchall()
        return [Delivery(*r) for r in rows]

    def bind_delivery(self, delivery_id: int, hhu_id: str, bundle_id: str,
                      bundle: bytes) -> bool:
        """Give a queued delivery to one HHU; False if another HHU (at this depot or any
        other) took it first: the conditional update waits for the other's commit."""
        with self._tx() as db:
            return SqliteStore._bind(db, delivery_id, hhu_id, bundle_id, bundle)

    # -- handhelds and sessions ---------------------------------------------------------
    def start_session(self, dock: str, now: str, *, hhu_id: str | None = None) -> int:
        with self._tx() as db:
            return int(db.execute("INSERT INTO sessions (dock, hhu_id, started_at, depot) "
                                  "VALUES (?, ?, ?, ?) RETURNING session_id",
                                  (dock, hhu_id, now, self.depot)).fetchone()[0])

    # -- readings -------------------------------------------------------------------------
    @contextmanager
    def _own_tx(self, *, checked: bool = True) -> Iterator[PgConnection]:
        """A write transaction whose ``BEGIN`` and ``COMMIT`` the caller sends, each in a
        pipeline with its first and last statements (two round trips fewer than
        :meth:`_tx`; each costs most when the cores are busy, as the daemon's check
        workers keep them: docs/benchmarks.md, 2026-12-04); rolled back on any error,
        or on leaving without a commit. Not
        ``checked``: the connection is handed out without the pool's check (a third
        round trip), and the caller tells a dropped one (:class:`_DroppedIdle`)."""
        try:
            _UNCHECKED.on = not checked
            try:
                conn = self._pool.getconn(timeout=self._wait())
            finally:
                _UNCHECKED.on = False
            try:
                with conn:                     # what the pool's connection() does
                    try:
                        yield PgConnection(conn)
                    finally:
                        if not conn.closed and conn.info.transaction_status != _IDLE:
                            with suppress(psycopg.Error):  # the error that got here is told
                                conn.rollback()
            finally:
                self._pool.putconn(conn)       # a broken one is replaced
        except _ROLLED_BACK as exc:       # not a fault of the storage: made again
            raise _RolledBack(exc) from None
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._fault(exc) from None
        self._storage_ok()

    def ingest(self, upload: Upload, now: str) -> IngestReport:
        """Store an upload in one transaction, by the rules :meth:`SqliteStore.ingest`
        follows (the same functions); idempotent by upload id and reading key, also when
        several depots ingest at once (see the module's docstring).

        Round trips: the connection is taken without the pool's check; the first
        pipeline begins, claims, locks the lists, asks what the checks ask and opens
        the fast copy's savepoint (the visits' COPY text is made while the server
        answers); the visits are copied while the checks run here; the readings are
        copied; the last pipeline releases the savepoint, counts, settles the lists and
        commits. A connection the first pipeline finds dropped (nothing sent on it
        reached a commit) is replaced and the upload stored on the new one.

        Two ingests at once (the daemon's two committers, or two depots) take their
        rows' locks in key order, table after table; one the server still rolls back to
        break a deadlock (its keys in an order no rule here foresaw) is made again
        (:data:`INGEST_TRIES`), not told as a storage fault."""
        for _ in range(INGEST_TRIES - 1):
            try:
                return self._ingest_once(upload, now)
            except _RolledBack as exc:
                log.info("storage: upload %s rolled back by the server (%s); made again",
                         upload.upload_id, _first_line(exc.cause))
        try:
            return self._ingest_once(upload, now)
        except _RolledBack as exc:
            raise self._fault(exc.cause) from None

    def _ingest_once(self, upload: Upload, now: str) -> IngestReport:
        try:
            return self._ingest(upload, now, checked=False)
        except _DroppedIdle:
            return self._ingest(upload, now, checked=True)

    def _ingest(self, upload: Upload, now: str, *, checked: bool) -> IngestReport:
        report = IngestReport(upload_id=upload.upload_id, hhu_id=upload.hhu_id,
                              visits=len(upload.visits))
        uid = upload.upload_id
        with self._own_tx(checked=checked) as db:
            lists = sorted({v.list_id for v in upload.visits if v.list_id})
            try:
                first = self._first_pipeline(db, upload, now, lists)
            except psycopg.OperationalError:
                if checked or not db.conn.broken:
                    raise
                raise _DroppedIdle from None
            claim, facts, visits = first
            if claim.fetchone() is None:
                held = db.execute("SELECT hhu_id, sha256 FROM uploads WHERE upload_id=?",
                                  (uid,)).fetchone()
                report = held_upload_report(upload, report, held[0], held[1])
                self._commit(db, ())
                return report
            exceptions: list[tuple] = []
            columns = _READING_COLUMNS.replace(",", ", ")
            rows: Sequence[tuple] | None = None

            def checked_rows() -> Sequence[tuple]:
                SqliteStore._findings(upload, report, exceptions, now)
                changes = SqliteStore._check_visits(facts, upload, report, exceptions, now)
                return SqliteStore._rows_to_store(upload, changes)

            # The fast copy: the visits, then the readings straight into their tables,
            # under the savepoint; the checks run while the server stores the visits.
            # When every key is new, the common case, that is all, at the cost of a
            # plain COPY. A reading's key already held (another upload's, another
            # depot's, or twice in this one) fails it on the primary key, not on a
            # look-up first; a key another depot is storing at this moment makes it wait
            # at most _FAST_COPY_WAIT (its rows come in the upload's order, not in key
            # order, so two such waits could be a deadlock). Either way the savepoint is
            # rolled back (the visits with it, copied again) and the readings merged in
            # key order (_merge_staged).
            try:
                with db.copying("visits", _VISIT_COLUMNS, visits):
                    rows = checked_rows()
                db.copy_rows("readings", columns, rows)
                stored, pending = len(rows), True
            except (psycopg.errors.UniqueViolation, psycopg.errors.LockNotAvailable):
                db.execute(f"ROLLBACK TO SAVEPOINT {_FAST_COPY}; RELEASE SAVEPOINT {_FAST_COPY}")
                with db.copying("visits", _VISIT_COLUMNS, visits):
                    if rows is None:      # the visits' COPY waited in vain: not checked yet
                        rows = checked_rows()
                stored, pending = self._merge_staged(db, columns, rows), False
            report.readings_not_billable = len(rows) - _statuses(rows).count(
                ReadingStatus.OK.value)
            report.readings_stored = stored
            if stored < len(rows):
                SqliteStore._duplicates(db, upload, report, exceptions, now)
            # what follows waits for locks as ever: the savepoint's wait ends first
            if upload.profiles or upload.events or any(
                    v.ratios is not None for v in upload.visits):
                pending = self._release(db, pending)
            SqliteStore._check_ratios(db, upload, exceptions, now)
            if upload.profiles:
                SqliteStore._validate_intervals(db, upload, report, exceptions, now)
                self._store_intervals(db, upload, report, exceptions, now)
            if upload.events:
                self._store_events(db, upload, report)
            if exceptions:
                pending = self._release(db, pending)
                db.copy_rows("exceptions", _EXCEPTION_COLUMNS, exceptions)
            failpoint("ingest.before_commit")
            self._commit(db, (
                *(_FAST_COPY_CLOSE if pending else ()),
                ("UPDATE uploads SET stored=? WHERE upload_id=?", (stored, uid)),
                *self._settlements(report.lists_touched, now)))
        return report

    def _first_pipeline(self, db: PgConnection, upload: Upload, now: str, lists: list[str]
                        ) -> tuple[Rows, _ListFacts, bytes | list[tuple]]:
        """The ingest's first round trip: BEGIN, the claim, the lists' locks (other
        depots' visits of these lists: committed, or waited for), what the checks ask
        of each list (answered from here: _ListFacts) and the fast copy's savepoint; the
        visits' COPY data, made while the server answers."""
        uid = upload.upload_id
        with db.pipeline():
            db.execute("BEGIN")
            claim = db.execute(
                "INSERT INTO uploads (upload_id, hhu_id, received_at, visits, readings, "
                "stored, sha256, depot) VALUES (?,?,?,?,?,0,?,?) ON CONFLICT (upload_id) "
                "DO NOTHING RETURNING 1",
                (uid, upload.hhu_id, now, len(upload.visits), len(upload.readings),
                 upload.sha256, self.depot))
            if lists:
                db.execute("SELECT 1 FROM lists WHERE list_id = ANY(?) ORDER BY list_id "
                           "FOR UPDATE", (lists,))
            facts = _ListFacts.asked(db, lists, upload.hhu_id)
            for sql in _FAST_COPY_OPEN:
                db.execute(sql)
            visits = visit_copy(uid, upload.visits)
        return claim, facts, visits

    @staticmethod
    def _release(db: PgConnection, pending: bool) -> bool:
        """The fast copy's savepoint released and its wait ended, if still pending."""
        if pending:
            db.execute("; ".join(_FAST_COPY_CLOSE))
        return False

    def _commit(self, db: PgConnection, statements: Sequence[str | tuple[str, tuple]]
                ) -> None:
        """``statements`` and the ``COMMIT`` of :meth:`_own_tx`'s transaction, in one
        pipeline (one round trip); any error raised here, after it."""
        failpoint("store.commit", StorageUnavailable(
            f"{self.where}: could not commit (injected)"))
        with db.pipeline():
            for statement in statements:
                if isinstance(statement, str):
                    db.execute(statement)
                else:
                    db.execute(*statement)
            db.execute("COMMIT")

    @staticmethod
    def _merge_staged(db: PgConnection, columns: str, rows: Sequence[tuple]) -> int:
        """COPY the rows into the staging table, merge them in key order (two depots'
        overlapping uploads take the keys' locks in one order: no deadlock); how many
        were new."""
        for sql in _STAGING:
            db.execute(sql)
        source = rows.__iter__() if isinstance(rows, FlatRows) else iter(rows)
        db.copy_rows("readings_in", "n, " + columns,
                     ((n, *row) for n, row in enumerate(source)))
        return int(db.execute(
            f"INSERT INTO readings ({columns}) SELECT {columns} FROM readings_in "
            "ORDER BY meter, obis, time, n ON CONFLICT DO NOTHING").rowcount)

    @staticmethod
    def _store_intervals(db: PgConnection, upload: Upload, report: IngestReport,
                         out: list, now: str) -> None:
        """Every series' intervals merged as the readings are; where a series stored
        fewer than it brought, the rules say already held or conflict."""
        for sql in _STAGING:
            db.execute(sql)
        series_of: list[tuple[int, Any]] = []

        def staged() -> Iterator[tuple]:
            n = 0
            for seq, series, rows in interval_rows(upload):
                series_of.append((seq, series))
                for row in rows:
                    yield (n, *row)
                    n += 1

        db.copy_rows("intervals_in", "n, " + _INTERVAL_SELECT, staged())
        stored = Counter({(seq, channel): count for seq, channel, count in db.execute(
            f"WITH merged AS (INSERT INTO intervals ({_INTERVAL_SELECT}) "
            f"SELECT {_INTERVAL_SELECT} FROM intervals_in ORDER BY meter, channel, "
            "interval_end, n ON CONFLICT DO NOTHING RETURNING visit_seq, channel) "
            "SELECT visit_seq, channel, COUNT(*) FROM merged GROUP BY 1, 2")})
        for seq, series in series_of:
            count = stored[seq, _nul_held(series.channel.code)]   # as the server holds it
            report.intervals_stored += count
            if count == series.count():
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
    def _store_events(db: PgConnection, upload: Upload, report: IngestReport) -> None:
        rows = event_rows(upload)
        stored = 0
        # in key order (meter, time; stable: one time's events in upload order, their
        # ids as SQLite's): two uploads of one meter's log visited in other orders wait
        # for each other's rows instead of each holding the row the other wants next
        for row in sorted(rows, key=itemgetter(0, 1)):   # a few a visit; each counted
            stored += db.execute(
                f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "
                f"({','.join('?' * len(EVENT_COLUMNS))}) ON CONFLICT DO NOTHING", row).rowcount
        report.events_stored = stored
        report.events_already_held = len(rows) - stored

    @staticmethod
    def _settle_lists(db: PgConnection, list_ids: list[str], now: str) -> None:
        """As SQLite's: complete when every entry's latest visit is done, else partial
        (the lists' rows are locked by this ingest already)."""
        for statement in PostgresStore._settlements(list_ids, now):
            db.execute(*statement)

    @staticmethod
    def _settlements(list_ids: list[str], now: str) -> list[tuple[str, tuple]]:
        """:meth:`_settle_lists`'s statements (an ingest sends them in its last pipeline).
        Each entry's latest visit of the list is found for all entries in one pass
        (DISTINCT ON) rather than a look-up an entry, and the list's state set from the
        count in the same statement (no round trip between the two); a running remote
        list is settled when its run ends (end_remote_run)."""
        return [(
            "UPDATE lists SET state = CASE WHEN settled.done >= settled.total THEN ? "
            "ELSE ? END, updated_at=? FROM (SELECT COUNT(*) AS total, COUNT(*) FILTER "
            "(WHERE latest.outcome = 'done') AS done "
            "FROM list_entries e LEFT JOIN (SELECT DISTINCT ON (v.meter) v.meter, "
            "v.outcome FROM visits v JOIN uploads u ON u.upload_id = v.upload_id "
            "WHERE v.list_id = ? ORDER BY v.meter, v.time DESC, u.seq DESC, v.seq DESC"
            ") latest ON latest.meter = e.serial WHERE e.list_id = ?) settled "
            "WHERE lists.list_id=? AND lists.state NOT IN (?, ?)",
            (ListState.COMPLETE, ListState.PARTIAL, now, list_id, list_id, list_id,
             ListState.CANCELLED, ListState.RUNNING)) for list_id in list_ids]

    def readings(self, since: str | None = None, upload_id: str | None = None,
                 catalog: str | Path | None = None) -> Iterator[ExportRow]:
        """Export rows ordered by meter, obis, time (the export's shared query), in one
        transaction's snapshot. The store-wide statement runs on a server-side cursor,
        fetched ``EXPORT_FETCH`` rows at a time: a client-side one would hold every
        reading of the store in this process before the first row was written."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                db = PgConnection(conn)

                def stream(sql: str, args: tuple) -> Iterator[tuple]:
                    with conn.cursor(name="hhu_sync_export") as cur:
                        cur.itersize = EXPORT_FETCH
                        cur.execute(_pg(sql), args)
                        yield from cur

                yield from export_rows(db, since=since, upload_id=upload_id,
                                       catalog=catalog, stream=stream)
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._fault(exc) from None
        self._storage_ok()

    # -- intervals and events, read back --------------------------------------------------
    def interval_meters(self) -> list[str]:
        return [m for (m,) in self._rows("SELECT DISTINCT meter FROM intervals ORDER BY meter")]

    def scheme_in_force(self, meter: str, at: str) -> str | None:
        return self._one("SELECT scheme FROM visits WHERE meter=? AND time<=? AND "
                         "outcome='done' AND verify='ok' AND scheme IS NOT NULL "
                         "ORDER BY time DESC LIMIT 1", (meter, at))

    def add_exceptions_once(self, rows: Sequence[tuple]) -> int:
        """Exceptions not already held under their kind and key; checks run at once by
        several depots take turns (an advisory lock), so none is recorded twice."""
        added = 0
        with self._tx() as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", (_EXCEPTIONS_ONCE_LOCK,))
            for row in rows:
                added += db.execute(
                    f"INSERT INTO exceptions ({_EXCEPTION_COLUMNS}) SELECT ?,?,?,?,?,?,?,? "
                    "WHERE NOT EXISTS (SELECT 1 FROM exceptions WHERE kind=? AND meter=? "
                    "AND obis IS NOT DISTINCT FROM ?::text AND time IS NOT DISTINCT FROM "
                    "?::text)", (*row, row[1], row[2], row[3], row[4])).rowcount
        return added

    # -- status ---------------------------------------------------------------------------
    # status's queries of one row a group (SqliteStore's say why they differ), with
    # DISTINCT ON: PostgreSQL has no bare columns beside GROUP BY
    _FAILED_VISITS = (
        "SELECT list_id, meter, outcome, notes, time, hhu FROM (SELECT DISTINCT ON "
        "(e.list_id, e.serial) e.list_id, e.serial AS meter, v.outcome, v.notes, v.time, "
        "u.hhu_id AS hhu, l.due, e.seq FROM lists l "
        "JOIN list_entries e ON e.list_id = l.list_id "
        "LEFT JOIN visits v ON v.list_id = e.list_id AND v.meter = e.serial "
        "AND v.time = (SELECT MAX(w.time) FROM visits w WHERE w.list_id = e.list_id "
        "AND w.meter = e.serial) "
        "LEFT JOIN uploads u ON u.upload_id = v.upload_id "
        "WHERE l.state = 'partial' AND NOT EXISTS (SELECT 1 FROM visits d WHERE "
        "d.list_id = e.list_id AND d.meter = e.serial AND d.outcome = 'done') "
        "ORDER BY e.list_id, e.serial) f ORDER BY due, list_id, seq LIMIT 50")
    _METER_FLAGS = (
        "SELECT DISTINCT ON (v.meter) v.meter, v.error_flags, v.time, v.list_id, "
        "u.hhu_id AS hhu FROM (SELECT meter, MAX(time) AS last FROM visits GROUP BY meter) m "
        "JOIN visits v ON v.meter = m.meter AND v.time = m.last "
        "JOIN uploads u ON u.upload_id = v.upload_id "
        "WHERE v.error_flags IS NOT NULL AND v.error_flags != '' "
        "AND ltrim(v.error_flags, '0') != '' ORDER BY v.meter LIMIT 50")


#: the export worker's reads of one upload: one read-only transaction (one snapshot, so
#: the rows, their visits and lists, the intervals and the findings are of one moment of
#: committed data), opened in one round trip with the planner's setting for it: one
#: upload's statements each have an index (its readings, its visits, its lists; the
#: partial indexes of the few visits that programmed a scheme or proved ratios; each
#: meter's intervals by the key's meter prefix): without the tables' statistics
#: (autovacuum off, or not yet run) the planner would scan every visit the store holds
#: for those few, twice an export, a cost growing with the store and taken from the
#: commits
_UPLOAD_SNAPSHOT = ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
                    "SET LOCAL enable_seqscan = off")
#: an upload's stored intervals in one statement (they were a statement a meter the
#: upload visited: hundreds of round trips an upload, most of them for meters without a
#: profile), each meter's found by the key's meter prefix, in meter, channel, end order
#: (ctext sorts byte-wise: SQLite's order)
_UPLOAD_INTERVALS_SQL = (
    f"SELECT {', '.join('i.' + c for c in INTERVAL_COLUMNS)} FROM (SELECT DISTINCT meter "
    "FROM visits WHERE upload_id = %s) m JOIN intervals i ON i.meter = m.meter "
    "AND i.upload_id = %s ORDER BY i.meter, i.channel, i.interval_end")
#: intervals a fetch of that statement brings (a route's profiles, a million intervals,
#: are never held in this process at once: only a meter's, as series)
INTERVALS_FETCH = 5000
_FIRST = itemgetter(0)      # a row's meter


@contextmanager
def _own_connection(url: str) -> Iterator[PgConnection]:
    """One connection of the caller's own (no pool: a worker process reads once in a
    while), read-only, faults as :class:`StorageUnavailable` naming the server."""
    where = shown_url(url)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=30) as conn:
            conn.read_only = True
            yield PgConnection(conn)
    except psycopg.Error as exc:
        raise StorageUnavailable(f"{where}: {str(exc).strip()}") from None


class UploadReads:
    """The export worker's reads of one upload, on one connection in one snapshot
    (:func:`upload_reads`): its export rows, then its intervals as series."""

    def __init__(self, db: PgConnection) -> None:
        self.db = db

    def export_rows(self, upload_id: str, *, catalog: str | Path | None = None
                    ) -> list[ExportRow]:
        return list(export_rows(self.db, upload_id=upload_id, catalog=catalog))

    def interval_series(self, upload_id: str
                        ) -> tuple[list[tuple[str, ChannelSeries]], list[tuple]]:
        series: list[tuple[str, ChannelSeries]] = []
        found = self.db.conn.cursor().stream(_UPLOAD_INTERVALS_SQL, (upload_id, upload_id),
                                             size=INTERVALS_FETCH)
        for meter, same in groupby(found, key=_FIRST):
            series.extend((meter, one) for one in series_from_held(
                [HeldInterval(*row) for row in same]))
        return series, upload_findings(self.db, upload_id)


#: the connection an export worker keeps between uploads, a thread, by URL: a connection
#: is a backend the server starts (several milliseconds of the server's CPU, on the
#: cores the ingest shares), once a process, not once an export
_KEPT = threading.local()


def _kept_connection(url: str) -> psycopg.Connection:
    kept: dict[str, psycopg.Connection] = _KEPT.__dict__.setdefault("by_url", {})
    conn = kept.get(url)
    if conn is None or conn.closed or conn.broken:
        conn = kept[url] = psycopg.connect(url, autocommit=True, connect_timeout=30)
    return conn


def _drop_kept(url: str) -> None:
    conn = _KEPT.__dict__.get("by_url", {}).pop(url, None)
    if conn is not None:
        conn.close()


@contextmanager
def upload_reads(url: str) -> Iterator[UploadReads]:
    """:class:`UploadReads` in a read-only transaction of its own, on the connection this
    thread keeps for ``url`` (:data:`_KEPT`); faults as :class:`StorageUnavailable`.
    A kept connection the server has dropped since (a restart, an idle timeout) is
    replaced once; one that fails the export otherwise is closed, not kept."""
    try:
        conn = _kept_connection(url)
        try:
            conn.execute(_UPLOAD_SNAPSHOT)
        except psycopg.OperationalError:     # lost while kept: once more, a new one
            _drop_kept(url)
            conn = _kept_connection(url)
            conn.execute(_UPLOAD_SNAPSHOT)
    except psycopg.Error as exc:
        _drop_kept(url)
        raise StorageUnavailable(f"{shown_url(url)}: {str(exc).strip()}") from None
    try:
        yield UploadReads(PgConnection(conn))
        conn.execute("COMMIT")
    except psycopg.Error as exc:
        _drop_kept(url)
        raise StorageUnavailable(f"{shown_url(url)}: {str(exc).strip()}") from None
    except BaseException:
        _drop_kept(url)                      # its transaction is not left open
        raise


def read_export_rows(url: str, *, upload_id: str | None = None,
                     catalog: str | Path | None = None) -> list[ExportRow]:
    """:func:`hhu_sync.store.sqlite.read_export_rows` on PostgreSQL: the export's shared
    query on a connection of the export worker's own (one upload's: in one snapshot)."""
    if upload_id is not None:
        with upload_reads(url) as reads:
            return reads.export_rows(upload_id, catalog=catalog)
    with _own_connection(url) as db:
        return list(export_rows(db, catalog=catalog))


def read_upload_interval_series(url: str, upload_id: str
                                ) -> tuple[list[tuple[str, ChannelSeries]], list[tuple]]:
    """:func:`hhu_sync.store.sqlite.read_upload_interval_series` on PostgreSQL."""
    with upload_reads(url) as reads:
        return reads.interval_series(upload_id)


class _Library(Mapping[str, Scheme]):
    """Read-through mapping of scheme id → Scheme, cached for the mapping's life."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._cache: dict[str, Scheme | None] = {}

    def __getitem__(self, scheme_id: str) -> Scheme:
        if scheme_id not in self._cache:
            self._cache[scheme_id] = self._store.scheme(scheme_id)
        found = self._cache[scheme_id]
        if found is None:
            raise KeyError(scheme_id)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter([r[0] for r in self._store._rows("SELECT scheme_id FROM schemes "
                                                     "ORDER BY scheme_id")])

    def __len__(self) -> int:
        return int(self._store._one("SELECT COUNT(*) FROM schemes"))


def _conforms(store: PostgresStore, other: SqliteStore) -> tuple[Store, Store]:
    """Never called: mypy checks here that both backends keep the one contract (a
    method changed in one and not the other fails the type check, not a depot)."""
    return store, other
