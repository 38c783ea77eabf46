"""The PostgreSQL store among several depots: a crew's list goes to one HHU once, an
upload ingested by two depots at once is stored once, overlapping uploads store every
reading once and every exception once; a schema of another version is refused naming
both; a lost server is StorageUnavailable, and the store works again when it is back.

Depot A is held just before its commit (its rows locked) while depot B does the same
thing; the server's own view (pg_stat_activity) says when B waits for A's locks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any

import psycopg
import pytest

import hhu_sync.store.postgres as postgres_backend
from hhu_sync.ingest.flatrows import FlatRows
from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.store import SqliteStore, StorageUnavailable, StoreError, open_store
from hhu_sync.store.opening import committers_for
from hhu_sync.store.postgres import PostgresStore, copy_text, shown_url
from hhu_sync.store.schema_version import SCHEMA_VERSION
from tests.unit.store.conftest import empty_pg
from tests.unit.store.helpers import meter_list, upload, visit

NOW = "2026-11-25T12:00:00+00:00"
ISSUED = "2026-11-24T08:00:00+00:00"   # the lists: before the visits (10:00 on the 25th)


@pytest.fixture
def depots(pg_url) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one empty database: two depots' daemons."""
    empty_pg(pg_url)
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    yield a, b
    a.close()
    b.close()


class HeldAtCommit:
    """Holds the thread named ``depot-a`` at a failpoint until released."""

    def __init__(self, point: str) -> None:
        self.point = point
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, name: str, error: BaseException | None = None) -> None:
        if name == self.point and threading.current_thread().name == "depot-a":
            self.reached.set()
            assert self.release.wait(20), "depot A was never released"


def _run(name: str, call: Callable[[], Any], out: dict[str, Any]) -> threading.Thread:
    def target() -> None:
        try:
            out[name] = call()
        except Exception as exc:  # noqa: BLE001 - the test looks at what each depot got
            out[name] = exc
    thread = threading.Thread(target=target, name=name)
    thread.start()
    return thread


def _wait_for_a_lock_wait(url: str) -> None:
    """Until a session of this database waits for a lock (depot B behind depot A)."""
    with psycopg.connect(url, autocommit=True) as db:
        for _ in range(400):
            if db.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                          "current_database() AND wait_event_type = 'Lock'").fetchone()[0]:
                return
            time.sleep(0.025)
    raise AssertionError("depot B never waited for depot A's locks")


def _both(held: HeldAtCommit, url: str, a: Callable[[], Any], b: Callable[[], Any]
          ) -> dict[str, Any]:
    """A runs until held at its commit; B then runs and waits for A; A commits; both end."""
    out: dict[str, Any] = {}
    first = _run("depot-a", a, out)
    assert held.reached.wait(20), out.get("depot-a")
    second = _run("depot-b", b, out)
    _wait_for_a_lock_wait(url)
    held.release.set()
    first.join(20)
    second.join(20)
    return out


def test_a_crews_list_asked_for_by_two_depots_at_once_goes_to_one_hhu_once(
        depots, pg_url, monkeypatch):
    a, b = depots
    delivery = a.add_meter_list(meter_list("L-crew", hhu=None, crew="north"), NOW)
    assert [d.delivery_id for d in a.pending_deliveries("HHU-A", "north", NOW)] == [delivery]
    assert [d.delivery_id for d in b.pending_deliveries("HHU-B", "north", NOW)] == [delivery]
    held = HeldAtCommit("store.commit")
    monkeypatch.setattr(postgres_backend, "failpoint", held)
    out: dict[str, Any] = {}
    first = _run("depot-a", lambda: a.bind_delivery(delivery, "HHU-A", "BA", b"for A"), out)
    assert held.reached.wait(20)
    # while depot A binds it, depot B is not offered it (its row is locked: skipped)
    assert b.pending_deliveries("HHU-B", "north", NOW) == []
    second = _run("depot-b", lambda: b.bind_delivery(delivery, "HHU-B", "BB", b"for B"), out)
    _wait_for_a_lock_wait(pg_url)
    held.release.set()
    first.join(20)
    second.join(20)
    assert (out["depot-a"], out["depot-b"]) == (True, False)
    assert b.pending_deliveries("HHU-B", "north", NOW) == []
    got = a.pending_deliveries("HHU-A", "north", NOW)
    assert [(d.target_hhu, d.bundle_id) for d in got] == [("HHU-A", "BA")]
    assert b.bundle(delivery) == b"for A"


def test_a_remote_run_begun_by_two_depots_at_once_is_begun_by_one(depots, pg_url,
                                                                   monkeypatch):
    a, b = depots
    remote = MeterList("NIGHT", "NIGHT", None, None, "2026-12-31", "",
                       (MeterEntry("M1", "", "", "read", None, None, "",
                                   port="socket://127.0.0.1:9"),), target="remote")
    a.add_meter_list(remote, NOW)
    [run] = a.remote_runs()
    held = HeldAtCommit("store.commit")
    monkeypatch.setattr(postgres_backend, "failpoint", held)
    out = _both(held, pg_url, lambda: a.begin_remote_run(run.delivery_id, "depot-a", NOW),
                lambda: b.begin_remote_run(run.delivery_id, "depot-b", NOW))
    # B waited for A's begin and joined A's run (its meters are then claimed one by one)
    assert (out["depot-a"], out["depot-b"]) == ("depot-a", "depot-a")
    assert [(r.state, r.runner) for r in b.remote_runs()] == [("running", "depot-a")]
    assert a.delivery(run.delivery_id).attempts == 1


def test_one_upload_ingested_by_two_depots_at_once_is_stored_once(depots, pg_url, monkeypatch):
    a, b = depots
    a.add_meter_list(meter_list("L1", serials=[f"M{n}" for n in range(50)]), ISSUED)
    visits = [visit(f"M{n}", value=f"{n}.5") for n in range(50)]
    held = HeldAtCommit("ingest.before_commit")
    monkeypatch.setattr(postgres_backend, "failpoint", held)
    out = _both(held, pg_url, lambda: a.ingest(upload("U1", visits), NOW),
                lambda: b.ingest(upload("U1", visits), NOW))
    mine, theirs = out["depot-a"], out["depot-b"]
    assert (mine.readings_stored, mine.already_held) == (50, False)
    assert (theirs.readings_stored, theirs.already_held, theirs.readings_already_held) == \
        (0, True, 50)
    assert a._one("SELECT COUNT(*) FROM readings") == 50
    assert a._one("SELECT COUNT(*) FROM visits") == 50
    assert a._one("SELECT COUNT(*) FROM uploads") == 1
    assert a._rows("SELECT kind, COUNT(*) FROM exceptions GROUP BY kind") == []
    assert a.list_state("L1") == "complete"


def test_overlapping_uploads_from_two_depots_store_each_reading_once_each_exception_once(
        depots, pg_url, monkeypatch):
    a, b = depots
    serials = [f"M{n}" for n in range(40)]
    a.add_meter_list(meter_list("L1", serials=serials, hhu=None, crew="north"), ISSUED)
    held = HeldAtCommit("ingest.before_commit")
    monkeypatch.setattr(postgres_backend, "failpoint", held)
    # the same meters read by two HHUs of the crew, half of them with another value
    first = upload("U1", [visit(m, value="10.0") for m in serials], hhu="HHU-A")
    second = upload("U2", [visit(m, value="10.0" if n % 2 else "20.0")
                           for n, m in enumerate(serials)], hhu="HHU-B")
    out = _both(held, pg_url, lambda: a.ingest(first, NOW), lambda: b.ingest(second, NOW))
    assert out["depot-a"].readings_stored == 40
    assert out["depot-b"].readings_stored == 0
    assert (out["depot-b"].readings_already_held, out["depot-b"].conflicts) == (20, 20)
    assert a._one("SELECT COUNT(*) FROM readings") == 40
    kinds = dict(a._rows("SELECT kind, COUNT(*) FROM exceptions GROUP BY kind"))
    # B's check waited for A's visits of the list: every meter "already read", once
    assert kinds == {"duplicate": 20, "conflict": 20, "already_read": 40}
    assert a._one("SELECT COUNT(*) FROM readings WHERE status = 'conflict'") == 20


def _two_lists_held(store: PostgresStore, monkeypatch, hhu_a: str, hhu_b: str
                    ) -> tuple[list[str], HeldAtCommit]:
    """Lists LA (for ``hhu_a``) and LB (for ``hhu_b``) of the same 40 meters, and the
    thread named ``depot-a`` to be held at its commit."""
    serials = [f"M{n:02d}" for n in range(40)]
    store.add_meter_list(meter_list("LA", serials=serials, hhu=hhu_a), ISSUED)
    store.add_meter_list(meter_list("LB", serials=serials, hhu=hhu_b), ISSUED)
    held = HeldAtCommit("ingest.before_commit")
    monkeypatch.setattr(postgres_backend, "failpoint", held)
    return serials, held


def test_uploads_of_one_meters_readings_in_opposite_orders_store_each_once(
        depots, pg_url, monkeypatch):
    # Two lists, the same meters: neither depot waits on the other's list, so B's
    # readings meet A's uncommitted ones. A's upload brings them in one order, B's in
    # the other (a first try's COPY in upload order could deadlock): B gives up its
    # first try or fails it on the key, and merges in key order behind A's commit.
    a, b = depots
    serials, held = _two_lists_held(a, monkeypatch, "HHU-A", "HHU-B")
    first = upload("U1", [visit(m, list_id="LA") for m in serials], hhu="HHU-A")
    second = upload("U2", [visit(m, list_id="LB") for m in reversed(serials)], hhu="HHU-B")
    out = _both(held, pg_url, lambda: a.ingest(first, NOW), lambda: b.ingest(second, NOW))
    assert out["depot-a"].readings_stored == 40
    assert (out["depot-b"].readings_stored, out["depot-b"].readings_already_held) == (0, 40)
    assert a._one("SELECT COUNT(*) FROM readings") == 40
    assert a._one("SELECT COUNT(DISTINCT upload_id) FROM readings") == 1
    assert dict(a._rows("SELECT kind, COUNT(*) FROM exceptions GROUP BY kind")) == \
        {"duplicate": 40}


def test_one_depots_two_committers_store_one_hhus_overlapping_uploads_as_two_depots_do(
        depots, pg_url, monkeypatch):
    # The daemon commits into PostgreSQL on two threads of one store (committers_for):
    # one HHU's next upload is stored while its last one is held at its commit. Its
    # readings of the same meters (other lists: no list lock orders them) are each
    # stored once, the rest counted as held or in conflict, as between two depots.
    a, _ = depots
    assert committers_for(pg_url) == 2
    serials, held = _two_lists_held(a, monkeypatch, "HHU-A", "HHU-A")
    first = upload("U1", [visit(m, list_id="LA") for m in serials], hhu="HHU-A")
    second = upload("U2", [visit(m, list_id="LB", value="100.0" if n % 2 else "20.0")
                           for n, m in enumerate(reversed(serials))], hhu="HHU-A")
    out = _both(held, pg_url, lambda: a.ingest(first, NOW), lambda: a.ingest(second, NOW))
    assert out["depot-a"].readings_stored == 40
    assert (out["depot-b"].readings_stored, out["depot-b"].readings_already_held,
            out["depot-b"].conflicts) == (0, 20, 20)
    assert a._one("SELECT COUNT(*) FROM readings") == 40
    assert a._one("SELECT COUNT(*) FROM visits") == 80
    assert dict(a._rows("SELECT kind, COUNT(*) FROM exceptions GROUP BY kind")) == \
        {"duplicate": 20, "conflict": 20}
    assert (a.list_state("LA"), a.list_state("LB")) == ("complete", "complete")


def test_new_readings_are_stored_in_the_order_they_came_and_a_resend_stores_none(depots):
    a, _ = depots
    serials = [f"M{n:02d}" for n in range(30)]
    a.add_meter_list(meter_list("L1", serials=serials), ISSUED)
    report = a.ingest(upload("U1", [visit(m, value=f"{n}.5") for n, m in
                                    enumerate(reversed(serials))]), NOW)
    assert (report.readings_stored, report.readings_already_held) == (30, 0)
    # the upload's first reading first: stored in the order it came
    assert a._rows("SELECT meter, value FROM readings ORDER BY ctid LIMIT 2") == \
        [("M29", "0.5"), ("M28", "1.5")]
    again = a.ingest(upload("U2", [visit(m, value=f"{n}.5") for n, m in
                                   enumerate(reversed(serials))]), NOW)
    assert (again.readings_stored, again.readings_already_held) == (0, 30)
    assert a._one("SELECT COUNT(*) FROM readings") == 30


def test_a_schema_of_another_version_is_refused_naming_both(pg_url):
    empty_pg(pg_url)
    PostgresStore(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as db:
        try:
            # newer, the version before (until db upgrade moves it), and none ever written
            for other in (str(int(SCHEMA_VERSION) + 1), str(int(SCHEMA_VERSION) - 1), "0"):
                db.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (other,))
                with pytest.raises(StoreError) as refused:
                    PostgresStore(pg_url)
                assert not isinstance(refused.value, StorageUnavailable)
                assert f"schema version {other}, this hhu-sync uses {SCHEMA_VERSION}" in \
                    str(refused.value)
        finally:
            db.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'",
                       (SCHEMA_VERSION,))
    PostgresStore(pg_url).close()          # its own version opens again


def test_a_server_that_does_not_answer_is_storage_unavailable_naming_it():
    with pytest.raises(StorageUnavailable, match=r"postgresql://postgres@127\.0\.0\.1:1/nowhere"):
        PostgresStore("postgresql://postgres@127.0.0.1:1/nowhere", timeout_s=0.5)


def _drop_connections(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as db:
        return len(db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> "
                              "pg_backend_pid()").fetchall())


def test_connections_lost_while_idle_are_replaced_the_store_goes_on(depots, pg_url):
    a, _ = depots
    a.touch_hhu("HHU-001", dock="d1", firmware="1", battery=None, free_flash=None, now=NOW)
    assert _drop_connections(pg_url) >= 2          # a server restart, as the depots see it
    a.touch_hhu("HHU-002", dock="d1", firmware="1", battery=None, free_flash=None, now=NOW)
    assert [h["hhu_id"] for h in a.status()["hhus"]] == ["HHU-001", "HHU-002"]


def test_the_server_lost_mid_ingest_stores_nothing_and_the_retry_stores_it_once(
        depots, pg_url, monkeypatch):
    a, _ = depots
    a.add_meter_list(meter_list("L1"), ISSUED)
    held = HeldAtCommit("ingest.before_commit")
    monkeypatch.setattr(postgres_backend, "failpoint", held)
    out: dict[str, Any] = {}
    one = upload("U1", [visit("M1"), visit("M2")])
    thread = _run("depot-a", lambda: a.ingest(one, NOW), out)
    assert held.reached.wait(20)
    _drop_connections(pg_url)
    held.release.set()
    thread.join(20)
    assert isinstance(out["depot-a"], StorageUnavailable)   # not acknowledged
    assert not a.upload_held("U1")
    again = a.ingest(upload("U1", [visit("M1"), visit("M2")]), NOW)
    assert (again.readings_stored, again.already_held) == (2, False)
    assert a._one("SELECT COUNT(*) FROM readings") == 2


def test_a_store_is_named_by_url_or_path(tmp_path, pg_url):
    for name in (str(tmp_path / "a.db"), tmp_path / "b.db", f"sqlite://{tmp_path}/c.db"):
        store = open_store(name)
        assert isinstance(store, SqliteStore)
        store.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == \
        ["a.db", "b.db", "c.db"]
    store = open_store(pg_url)
    assert isinstance(store, PostgresStore)
    store.close()
    for bad in ("sqlite://relative.db", "mysql://u@h/db"):
        with pytest.raises(StoreError, match="sqlite:///path"):
            open_store(bad)


def test_messages_name_the_server_never_a_password():
    assert shown_url("postgresql://depot:s3cret@db.example:6432/hhu") == \
        "postgresql://depot@db.example:6432/hhu"


def test_a_store_wide_export_streams_from_a_server_side_cursor(pg_url, monkeypatch):
    """The export of every reading is fetched a slice at a time while it is written:
    half way through, the server is still answering FETCHes of the export's cursor,
    and the rows come in the export's order, every one of them once."""
    empty_pg(pg_url)
    monkeypatch.setattr(postgres_backend, "EXPORT_FETCH", 50)
    store = PostgresStore(pg_url)
    store.add_meter_list(meter_list("L1", [f"M{n:03d}" for n in range(100)]), ISSUED)
    store.ingest(upload("U-1", [visit(f"M{n:03d}", registers=[
        [obis, f"{n}.{k}", "kWh", "2026-11-25T10:00:00+00:00"]
        for k, obis in enumerate(("1.8.0", "1.8.1", "1.8.2"))]) for n in range(100)]), NOW)
    rows = store.readings()
    head = [next(rows) for _ in range(120)]
    with psycopg.connect(pg_url, autocommit=True) as db:
        asked = [q for (q,) in db.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")]
    assert any(q.startswith("FETCH FORWARD 50 FROM") and "hhu_sync_export" in q
               for q in asked), asked
    everything = head + list(rows)
    assert len(everything) == 300
    assert [(r.meter, r.obis) for r in everything] == sorted(
        (f"M{n:03d}", obis) for n in range(100) for obis in ("1.8.0", "1.8.1", "1.8.2"))
    store.close()


def test_copy_text_is_one_block_only_for_text_that_needs_no_escape():
    """Plain text rows become COPY's text format in one block; any value COPY would have
    to escape (backslash, tab, newline, carriage return), a NUL, a NULL or a number
    gives None: those rows are written one by one, escaped by the driver."""
    plain = FlatRows(["M1", "1.8.0", "12.5", "", "0", "M2", "1.8.1", "7", "kWh", "1"], 5)
    assert copy_text(plain) == b"M1\t1.8.0\t12.5\t\t0\nM2\t1.8.1\t7\tkWh\t1\n"
    for odd in ("a\\b", "a\tb", "a\nb", "a\rb", "a\x00b", None, 7):
        assert copy_text(FlatRows(["M1", odd, "x", "M2", "y", "z"], 3)) is None, odd


def test_rows_copied_as_a_block_or_one_by_one_arrive_as_they_were(pg_url, monkeypatch):
    """The same values arrive whichever way the rows are copied, escapes included, also
    when blocks of text and rows written one by one follow each other in one COPY."""
    monkeypatch.setattr(postgres_backend, "COPY_BLOCK_ROWS", 2)
    empty_pg(pg_url)
    PostgresStore(pg_url).close()               # the schema
    plain = ["M1", "1.8.0", "12.5", "", "3", "M2", "1.8.1", "7", "kWh", "4"]
    odd = ["M\\1", "1.8.0", "a\tb", "c\nd", "5", "M2", "1.8.1", "e\rf", "\\N", None]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE t (a text, b text, c text, d text, e bigint)")
        db = postgres_backend.PgConnection(conn)
        for values in (plain, odd, plain + odd + plain + plain + odd[:5]):
            conn.execute("TRUNCATE t")
            rows = FlatRows(values, 5)
            db.copy_rows("t", "a, b, c, d, e", rows)
            assert conn.execute("SELECT a, b, c, d, e FROM t").fetchall() == [
                (*r[:4], None if r[4] is None else int(r[4])) for r in rows]
        db.copy_rows("t", "a, b, c, d, e", [])  # nothing: no COPY at all


def test_a_nul_in_a_visits_notes_is_held_as_the_replacement_character(pg_url):
    """PostgreSQL's text holds no NUL: a visit's notes with one are stored with it
    replaced (the visits without one as they came), the upload's readings stored."""
    empty_pg(pg_url)
    store = PostgresStore(pg_url)
    store.add_meter_list(meter_list("L1", ["M1", "M2"]), ISSUED)
    report = store.ingest(upload("U-1", [visit("M1", notes="gate\x00code"),
                                         visit("M2", notes="back\\door")]), NOW)
    assert report.readings_stored == 2
    with psycopg.connect(pg_url) as db:
        assert db.execute("SELECT meter, notes FROM visits ORDER BY seq").fetchall() == [
            ("M1", f"gate{postgres_backend.NUL_HELD_AS}code"), ("M2", "back\\door")]
    store.close()


def test_an_uploads_export_reads_visits_by_their_indexes_without_statistics(pg_url,
                                                                            monkeypatch):
    """On tables never analysed (autovacuum off), an upload's export still finds the few
    visits that programmed a scheme or proved ratios by their partial indexes, not by a
    scan of every visit held (a cost that grows with the store, an export at a time)."""
    from hhu_sync.store.sqlite import _HELD_SQL, _PROGRAMMED_SQL
    empty_pg(pg_url)
    store = PostgresStore(pg_url)
    meters = [f"M{n:04d}" for n in range(2000)]
    store.add_meter_list(meter_list("L1", meters), ISSUED)
    store.ingest(upload("U-1", [visit(m) for m in meters]), NOW)
    store.close()
    plans: list[str] = []
    shared = postgres_backend.export_rows

    def explained(db, **kwargs):
        for sql in (_PROGRAMMED_SQL.format(""), _HELD_SQL.format("")):
            plans.extend(row[0] for row in db.execute("EXPLAIN " + sql))
        return shared(db, **kwargs)

    monkeypatch.setattr(postgres_backend, "export_rows", explained)
    rows = postgres_backend.read_export_rows(pg_url, upload_id="U-1")
    assert len(rows) == 2000
    assert plans and not any("Seq Scan" in line for line in plans), plans


def test_the_export_workers_kept_connection_reads_each_upload_afresh(pg_url):
    """The export worker keeps its connection between uploads, each read in a snapshot
    of its own: an upload committed after the last export's is seen; a connection the
    server dropped meanwhile (a restart) is replaced; one an export failed on is not
    left in its transaction."""
    empty_pg(pg_url)
    store = PostgresStore(pg_url)
    store.add_meter_list(meter_list("L1", ["M1", "M2"]), ISSUED)
    store.ingest(upload("U-1", [visit("M1")]), NOW)
    first = postgres_backend.read_export_rows(pg_url, upload_id="U-1")
    assert [r.meter for r in first] == ["M1"]
    store.ingest(upload("U-2", [visit("M2")]), NOW)
    assert [r.meter for r in postgres_backend.read_export_rows(pg_url, upload_id="U-2")] \
        == ["M2"]
    assert _drop_connections(pg_url) >= 1                    # the kept one among them
    assert postgres_backend.read_export_rows(pg_url, upload_id="U-1") == first
    with pytest.raises(OSError), postgres_backend.upload_reads(pg_url) as reads:
        reads.export_rows("U-1")
        raise OSError("export folder full")
    assert postgres_backend.read_upload_interval_series(pg_url, "U-2") == ([], [])
    assert postgres_backend.read_export_rows(pg_url, upload_id="U-1") == first
    store.close()


def test_the_export_worker_on_a_server_that_does_not_answer_is_storage_unavailable():
    with pytest.raises(StorageUnavailable, match=r"127\.0\.0\.1:1/nowhere"):
        postgres_backend.read_export_rows("postgresql://postgres@127.0.0.1:1/nowhere",
                                          upload_id="U-1")


def test_visits_go_as_one_block_of_copy_text_only_when_no_value_needs_an_escape():
    """An upload's visits are COPY's text format (NULL as ``\\N``) when no value needs an
    escape; a backslash (a note that reads ``\\N`` too), a tab, a newline, a carriage
    return or a NUL in any value gives the rows, written one by one and escaped by the
    driver (a NUL replaced first)."""
    plain = upload("U-1", [visit("M1"), visit("M2", notes="gate code 7")])
    text = postgres_backend.visit_copy("U-1", plain.visits)
    assert isinstance(text, bytes)
    assert text.decode().splitlines() == [
        "\t".join(["U-1", str(v.seq), v.meter, "L1", v.time, "done", "\\N", "\\N",
                   "00000000", "crew-a", v.notes, "\\N"]) for v in plain.visits]
    for odd in ("\\N", "back\\door", "a\tb", "a\nb", "a\rb", "a\x00b"):
        visits = upload("U-2", [visit("M1"), visit("M2", notes=odd)]).visits
        assert postgres_backend.visit_copy("U-2", visits) == \
            postgres_backend._visit_rows("U-2", visits), odd
    assert postgres_backend.visit_copy("U-3", []) == []


def test_visits_stored_from_copy_text_or_row_by_row_are_the_same_rows(pg_url):
    """Whichever way an upload's visits are copied, the visits table holds what they
    were: NULLs as NULL, a note reading ``\\N`` as that text, not as a NULL."""
    empty_pg(pg_url)
    store = PostgresStore(pg_url)
    store.add_meter_list(meter_list("L1", ["M1", "M2", "M3"]), ISSUED)
    store.ingest(upload("U-1", [visit("M1"), visit("M2", notes="gate code 7")]), NOW)
    store.ingest(upload("U-2", [visit("M3", notes="\\N"),
                                visit("M1", time="2026-11-25T11:00:00+00:00")]), NOW)
    assert store._rows("SELECT upload_id, meter, scheme, verify, error_flags, notes, "
                       "ratios FROM visits ORDER BY upload_id, seq") == [
        ("U-1", "M1", None, None, "00000000", "", None),
        ("U-1", "M2", None, None, "00000000", "gate code 7", None),
        ("U-2", "M3", None, None, "00000000", "\\N", None),
        ("U-2", "M1", None, None, "00000000", "", None)]
    store.close()


def test_an_upload_with_a_reading_held_already_stores_its_visits_once(depots):
    """The first try's savepoint holds the visits' COPY too: an upload with a key held
    already rolls both back, copies its visits again and merges its readings; every
    visit is stored once, the new readings stored and the held one a duplicate."""
    a, _ = depots
    a.add_meter_list(meter_list("L1", [f"M{n}" for n in range(5)]), ISSUED)
    a.ingest(upload("U1", [visit("M0", value="0.0")]), NOW)
    report = a.ingest(upload("U2", [visit(f"M{n}", value=f"{n}.0") for n in range(5)]),
                      NOW)
    assert (report.readings_stored, report.readings_already_held) == (4, 1)
    assert a._rows("SELECT upload_id, COUNT(*) FROM visits GROUP BY 1 ORDER BY 1") == \
        [("U1", 1), ("U2", 5)]
    assert a._one("SELECT COUNT(*) FROM readings") == 5
    assert dict(a._rows("SELECT kind, COUNT(*) FROM exceptions GROUP BY kind")) == \
        {"duplicate": 1}
    assert a._one("SELECT stored FROM uploads WHERE upload_id = 'U2'") == 4
    assert a.list_state("L1") == "complete"


def test_visits_that_wait_for_a_lock_past_the_first_tries_wait_are_checked_once(
        depots, pg_url):
    """The visits' COPY waits for the table's lock (here another session's LOCK TABLE)
    at most the first try's wait; it then gives up, is copied again with no limit on
    its wait, and the upload is stored whole when the lock goes: its visits, its
    readings and the exception its checks made, each once."""
    a, _ = depots
    a.add_meter_list(meter_list("L1", ["M1", "M2"]), ISSUED)
    out: dict[str, Any] = {}
    with psycopg.connect(pg_url) as locker:
        locker.execute("LOCK TABLE visits IN SHARE MODE")
        thread = _run("depot-a", lambda: a.ingest(
            upload("U1", [visit("M1"), visit("M2"), visit("M9")]), NOW), out)
        _wait_for_a_lock_wait(pg_url)
        time.sleep(3 * 0.2)                    # past the first try's wait (200 ms)
        _wait_for_a_lock_wait(pg_url)          # and waiting still: the second COPY
        assert thread.is_alive()
        locker.rollback()
    thread.join(20)
    report = out["depot-a"]
    assert (report.readings_stored, report.not_on_list) == (3, 1)
    assert a._one("SELECT COUNT(*) FROM visits") == 3
    assert a._one("SELECT COUNT(*) FROM readings") == 3
    assert a._rows("SELECT kind, meter FROM exceptions") == [("not_on_list", "M9")]


def test_an_ingest_on_a_connection_dropped_while_idle_is_stored_on_a_new_one(depots, pg_url,
                                                                             monkeypatch):
    """An ingest takes its connection without the pool's check (a round trip): one the
    server dropped while it was idle (a restart) fails the ingest's first pipeline,
    before anything could be committed; the upload is then stored once on a checked
    connection, the store never said to be failing."""
    a, _ = depots
    a.add_meter_list(meter_list("L1", ["M1", "M2"]), ISSUED)
    a.ingest(upload("U1", [visit("M1")]), NOW)
    checks: list[bool] = []
    checking = postgres_backend._checked_unless_asked

    def counted(conn):
        checks.append(not getattr(postgres_backend._UNCHECKED, "on", False))
        checking(conn)

    monkeypatch.setattr(a._pool, "_check", counted)
    assert _drop_connections(pg_url) >= 1            # a's idle one among them
    report = a.ingest(upload("U2", [visit("M2")]), NOW)
    assert (report.readings_stored, report.already_held) == (1, False)
    # unchecked, then checked (and any other dropped one the pool held, checked too)
    assert checks[0] is False and checks[1:] and all(checks[1:]), checks
    assert not a.failing
    assert a._one("SELECT COUNT(*) FROM readings") == 2
    assert a._rows("SELECT upload_id FROM uploads ORDER BY upload_id") == [("U1",), ("U2",)]
    assert a.list_state("L1") == "complete"


def _with_events(upload_id: str, meters: list[str], time: str, list_id: str):
    from hhu_sync.ingest import parse_upload
    from hhu_sync.profile.events import EventKind, MeterEvent
    from hhu_sync.profile.wire import encode_event
    from tests.unit.store.helpers import RECEIVED
    visits = []
    for meter in meters:                       # each meter's log: the same event
        v = visit(meter, list_id=list_id, time=time)
        v["events"] = [encode_event(MeterEvent(1_764_028_900, EventKind.POWER_UP))]
        visits.append(v)
    return parse_upload({"version": 2, "visits": visits}, upload_id=upload_id,
                        hhu_id="HHU-001", sha256=upload_id.ljust(64, "0"),
                        received_at=RECEIVED)


def test_two_committers_storing_one_meters_events_in_other_orders_both_commit(
        pg_url, monkeypatch):
    # the daemon's two committer threads (or two depots): upload A visited M1 then M2,
    # upload B M2 then M1, each carrying the meters' logs; each takes its first event's
    # row before the other takes its second. Both are stored (one holds the events),
    # neither is a deadlock the server breaks with an error (StorageUnavailable: the
    # upload left on the HHU, the store called unusable)
    empty_pg(pg_url)
    store = PostgresStore(pg_url)
    both = threading.Barrier(2)
    firsts: dict[str, int] = {}
    execute = postgres_backend.PgConnection.execute

    def meeting(self, sql, parameters=(), /):
        rows = execute(self, sql, parameters)
        name = threading.current_thread().name
        if sql.startswith("INSERT INTO events") and name in ("A", "B"):
            firsts[name] = firsts.get(name, 0) + 1
            if firsts[name] == 1:
                with suppress(threading.BrokenBarrierError):
                    both.wait(3)               # the other one waits on this row instead
        return rows

    monkeypatch.setattr(postgres_backend.PgConnection, "execute", meeting)
    out: dict[str, Any] = {}
    try:
        threads = [
            _run("A", lambda: store.ingest(
                _with_events("U-A", ["M1", "M2"], "2026-11-25T10:00:00+00:00", "LA"), NOW), out),
            _run("B", lambda: store.ingest(
                _with_events("U-B", ["M2", "M1"], "2026-11-25T11:00:00+00:00", "LB"), NOW), out)]
        for thread in threads:
            thread.join(30)
        assert not isinstance(out["A"], Exception), out["A"]
        assert not isinstance(out["B"], Exception), out["B"]
        assert out["A"].events_stored + out["B"].events_stored == 2
        assert not store.failing
    finally:
        store.close()
