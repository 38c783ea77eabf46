"""Storage that fails and comes back: the same store object works again, no restart."""

from __future__ import annotations

import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

import hhu_sync.store.sqlite as sqlite_backend
from hhu_sync.store import SqliteStore, StorageUnavailable
from hhu_sync.store.accounts import Change, WebSessionRecord
from hhu_sync.store.exceptions import Decision, ExceptionFilter, UnknownException
from tests.unit.store.helpers import meter_list, upload, visit

pytestmark = pytest.mark.sqlite_only(
    "SQLite connections reopened after disk faults (PostgreSQL: test_postgres.py)")

NOW = "2026-11-25T12:00:00+00:00"


def _touch(store: SqliteStore, hhu: str = "HHU-001") -> None:
    store.touch_hhu(hhu, dock="dock-1", firmware="1.0", battery=80, free_flash=1000, now=NOW)


def _read_only(path, timeout_s):
    """What a file without write permission gives SQLite (root ignores chmod, so: ro)."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                           timeout=timeout_s)


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "db.sqlite"
    SqliteStore(path).close()   # the database exists, as at a daemon's restart
    return path


def test_a_store_opened_read_only_writes_once_the_permission_is_back(db_path, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "_connect", _read_only)
    store = SqliteStore(db_path)
    with pytest.raises(StorageUnavailable, match="readonly"):
        _touch(store)
    with pytest.raises(StorageUnavailable):
        _touch(store)
    monkeypatch.undo()                      # permissions restored
    _touch(store)                           # the same object, no restart
    assert [h["hhu_id"] for h in store.status()["hhus"]] == ["HHU-001"]
    assert store.reopens >= 1
    store.close()


def test_every_thread_gets_a_fresh_connection_after_the_fault(db_path, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "_connect", _read_only)
    store = SqliteStore(db_path)
    with ThreadPoolExecutor(1) as worker:
        worker.submit(store.scheme, "x").result()     # the worker opens its own, read-only
        with pytest.raises(StorageUnavailable):
            _touch(store)                               # the fault is seen in this thread
        monkeypatch.undo()
        worker.submit(_touch, store, "HHU-002").result()  # the worker writes again
    _touch(store, "HHU-001")
    assert {h["hhu_id"] for h in store.status()["hhus"]} == {"HHU-001", "HHU-002"}
    store.close()


def test_a_database_that_cannot_be_opened_is_unavailable_then_opened(tmp_path, monkeypatch):
    store = SqliteStore(tmp_path / "db.sqlite")
    store.close()                                       # e.g. the volume went away
    monkeypatch.setattr(sqlite_backend, "_connect",
                        lambda path, t: sqlite3.connect(tmp_path, timeout=t))  # CANTOPEN
    with pytest.raises(StorageUnavailable, match="cannot open"):
        _touch(store)
    monkeypatch.undo()
    _touch(store)
    assert store.status()["hhus"][0]["hhu_id"] == "HHU-001"
    store.close()


def test_a_closed_connection_is_replaced(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite")
    store._db().close()                 # closed under the store (a driver or a bug did it)
    _touch(store)
    assert store.scheme("none") is None
    store.close()


def test_one_log_line_per_state_change_not_per_attempt(db_path, monkeypatch, caplog):
    monkeypatch.setattr(sqlite_backend, "_connect", _read_only)
    store = SqliteStore(db_path)
    caplog.set_level(logging.INFO, logger="hhu_sync.store")
    for _ in range(5):
        with pytest.raises(StorageUnavailable):
            _touch(store)
    monkeypatch.undo()
    _touch(store)
    _touch(store)
    lines = [r.getMessage() for r in caplog.records if r.name == "hhu_sync.store"]
    assert len(lines) == 2
    assert "unusable" in lines[0] and "usable again" in lines[1]
    store.close()


# -- every public method, through a connection whose storage fails ----------------------
class _FailingConnection:
    """A connection whose file fails every statement (the PRAGMAs of opening aside) with
    one SQLite result code, as a disk that returns I/O errors, or a file that turned
    read-only, does. It stays failing until the store opens a new one."""

    def __init__(self, db: sqlite3.Connection, code: int, name: str) -> None:
        self._real, self._code, self._name = db, code, name

    def _fail(self) -> sqlite3.OperationalError:
        exc = sqlite3.OperationalError(f"{self._name} (simulated)")
        exc.sqlite_errorcode = self._code
        exc.sqlite_errorname = self._name
        return exc

    def execute(self, sql: str, *args):
        if sql.lstrip().upper().startswith("PRAGMA"):
            return self._real.execute(sql, *args)
        raise self._fail()

    def executemany(self, *args):
        raise self._fail()

    def executescript(self, *args):
        raise self._fail()

    def __getattr__(self, name: str):
        return getattr(self._real, name)


FAULTS = {"io_error": (sqlite3.SQLITE_IOERR_READ, "SQLITE_IOERR_READ"),
          "read_only": (sqlite3.SQLITE_READONLY, "SQLITE_READONLY"),
          "lock_lost": (sqlite3.SQLITE_IOERR_LOCK, "SQLITE_IOERR_LOCK")}


def _an_upload():
    return upload("U-1", [visit("M1"), visit("M2")])


_CHANGE = Change("test", "test.change", "u1")

#: One call of every public method of the store, on a database holding list L1 (one
#: queued delivery, id 1) and HHU-001: each must fail with StorageUnavailable while the
#: storage fails, and work on the same object once it is back.
CALLS = {
    "inputs_seen": lambda s: s.inputs_seen(["a" * 64]),
    "record_duplicate": lambda s: s.record_duplicate("b" * 64, "y.csv", "meter_list", "why",
                                                     "", "x.csv", NOW),
    "record_input": lambda s: s.record_input("b" * 64, "x.csv", "meter_list", "rejected",
                                             "why", "", NOW),
    "accept_input": lambda s: s.accept_input(sha256="c" * 64, name="y.toml", kind="scheme",
                                             moved_to="", now=NOW),
    "accept_inputs": lambda s: s.accept_inputs([dict(sha256="d" * 64, name="z.toml",
                                                     kind="scheme", moved_to="", now=NOW)]),
    "scheme": lambda s: s.scheme("as230-flat"),
    "library": lambda s: (len(s.library()), list(s.library()), s.library().get("none")),
    "library_entries": lambda s: s.library_entries(),
    "add_meter_list": lambda s: s.add_meter_list(meter_list("L2"), NOW),
    "get_list": lambda s: s.get_list("L1"),
    "list_state": lambda s: s.list_state("L1"),
    "delivery": lambda s: s.delivery(1),
    "pending_deliveries": lambda s: s.pending_deliveries("HHU-001", None, NOW),
    "bind_delivery": lambda s: s.bind_delivery(1, "HHU-001", "B1", b"sealed"),
    "bundle": lambda s: s.bundle(1),
    "delivery_done": lambda s: s.delivery_done(1, "HHU-001", NOW),
    "delivery_failed": lambda s: s.delivery_failed(1, "flash full", NOW, 5),
    "requeue_list": lambda s: s.requeue_list("L1", NOW, change=_CHANGE),
    "cancel_list": lambda s: s.cancel_list("L1", NOW, change=_CHANGE),
    "list_view": lambda s: s.list_view("L1"),
    "remote_runs": lambda s: s.remote_runs(),
    "remote_schedules": lambda s: s.remote_schedules(),
    "begin_remote_run": lambda s: s.begin_remote_run(1, "remote-depot", NOW),
    "end_remote_run": lambda s: s.end_remote_run("L1", NOW),
    "claim_remote_meter": lambda s: s.claim_remote_meter(1, 0, serial="M1", port="p",
                                                         runner="remote-depot", at=1.0,
                                                         lease_s=60.0),
    "renew_remote_claims": lambda s: s.renew_remote_claims("remote-depot", 1.0, 60.0),
    "settle_remote_meter": lambda s: s.settle_remote_meter(
        1, 0, "remote-depot", state="done", outcome="done", attempts=1, upload_id="U-1",
        notes="", at=1.0),
    "release_remote_claims": lambda s: s.release_remote_claims(1, "remote-depot"),
    "remote_claims": lambda s: s.remote_claims(1),
    "remote_run_summaries": lambda s: s.remote_run_summaries(10),
    "touch_hhu": _touch,
    "revoke_hhu": lambda s: s.revoke_hhu("HHU-001", NOW),
    "start_session": lambda s: s.start_session("dock-1", NOW),
    "end_session": lambda s: s.end_session(1, hhu_id="HHU-001", outcome="done", pushed=0,
                                           pulled=0, report={}, now=NOW),
    "upload_held": lambda s: s.upload_held("U-1"),
    "ingest": lambda s: s.ingest(_an_upload(), NOW),
    "mark_cleared": lambda s: s.mark_cleared("U-1", NOW),
    "readings": lambda s: list(s.readings()),
    "intervals": lambda s: s.intervals("M1", "1.8.0", since=0, until=2**40),
    "last_interval_ends": lambda s: s.last_interval_ends("M1"),
    "meter_events": lambda s: s.meter_events("M1", since=0, until=2**40),
    "interval_meters": lambda s: s.interval_meters(),
    "scheme_in_force": lambda s: s.scheme_in_force("M1", NOW),
    "vee_findings": lambda s: s.vee_findings("M1", since=0, until=2**40),
    "future_spans": lambda s: s.future_spans("M1", since=0, until=2**40),
    "register_reads": lambda s: s.register_reads("M1", "2026-11-01", "2026-12-01", ("1.8.",)),
    "add_exceptions_once": lambda s: s.add_exceptions_once(
        [("U-1", "billing_mismatch", "M1", "1.8.0", NOW, None, "billing 2026-11: x", NOW)]),
    "status": lambda s: (s.status(), s.status(depot="depot")),
    # depots sharing the store (hhu_sync.store.depots)
    "sessions": lambda s: s.sessions(depot="depot", limit=5),
    "depots": lambda s: s.depots(),
    # the accounts part (hhu_sync.store.accounts)
    "add_user": lambda s: s.add_user("u2", "depot", "hash", NOW, _CHANGE),
    "user": lambda s: s.user("u1"),
    "users": lambda s: s.users(),
    "update_user": lambda s: s.update_user("u1", NOW, _CHANGE, role="office"),
    "add_web_session": lambda s: s.add_web_session(WebSessionRecord("t2", "u1", "c", 1.0, 1.0)),
    "web_session": lambda s: s.web_session("t1"),
    "touch_web_session": lambda s: s.touch_web_session("t1", 2.0),
    "end_web_sessions": lambda s: s.end_web_sessions(user="nobody"),
    "record_audit": lambda s: s.record_audit(_CHANGE, NOW),
    "audit_log": lambda s: s.audit_log(),
    # the exceptions part (hhu_sync.store.exceptions)
    "exceptions": lambda s: s.exceptions(ExceptionFilter(kind="conflict")),
    "exception": lambda s: s.exception(1),
    "resolve_exception": lambda s: _resolve_none(s),
    # the readings view (hhu_sync.store.readings_view)
    "find_meters": lambda s: (s.find_meters(), s.find_meters(site="a"),
                              s.find_meters(list_id="L1")),
    "meter_places": lambda s: s.meter_places("M1"),
    "meter_registers": lambda s: s.meter_registers("M1"),
    "register_readings": lambda s: s.register_readings("M1", "1.8.1"),
    "registers_readings": lambda s: s.registers_readings("M1", [("1.8.1", 5)]),
    "meter_visits": lambda s: s.meter_visits("M1"),
    # the paged part (hhu_sync.store.paging)
    "lists_page": lambda s: s.lists_page(state="queued"),
    "lists_by_state": lambda s: s.lists_by_state(),
    "hhus_page": lambda s: (s.hhus_page(), s.hhus_page(depot="depot")),
    "inputs_page": lambda s: s.inputs_page(status="rejected"),
}


def _resolve_none(store) -> None:
    """A resolution reaches the storage before it finds there is no such exception."""
    try:
        store.resolve_exception(1, Decision.DISMISS, NOW, value=None, reason="r",
                                change=_CHANGE)
    except UnknownException:
        pass


NOT_STORAGE = {"close"}     # public, but touches no storage


def test_every_public_method_of_the_store_is_driven_through_a_failing_connection():
    public = {n for n in dir(SqliteStore) if not n.startswith("_")
              and callable(getattr(SqliteStore, n))}
    assert public - NOT_STORAGE == set(CALLS)


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("method", sorted(CALLS))
def test_every_method_is_unavailable_while_storage_fails_then_works_again(
        tmp_path, monkeypatch, method, fault):
    store = SqliteStore(tmp_path / "db.sqlite")
    store.add_meter_list(meter_list("L1", ("M1", "M2")), NOW)
    _touch(store)
    store.start_session("dock-1", NOW)
    store.add_user("u1", "depot", "hash", NOW, _CHANGE)
    store.add_web_session(WebSessionRecord("t1", "u1", "c", 1.0, 1.0))
    store.close()                                       # opened afresh, on failing storage
    code, name = FAULTS[fault]
    real = sqlite_backend._connect
    monkeypatch.setattr(sqlite_backend, "_connect",
                        lambda path, t: _FailingConnection(real(path, t), code, name))
    for _ in range(2):                                  # and again: still unavailable
        with pytest.raises(StorageUnavailable):
            CALLS[method](store)
    monkeypatch.undo()                                  # the storage is back
    CALLS[method](store)                                # the same object, no restart
    assert store.reopens >= 1
    store.close()
