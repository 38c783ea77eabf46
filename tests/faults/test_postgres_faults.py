"""The daemon on PostgreSQL when the server is away (issue 16, point 4).

A private server (tests/pg_private.py) is stopped and started for real: down before the
daemon starts, stopped while it runs, restarted while an upload is being committed. In
each case the daemon keeps running and says so, a docked HHU keeps its readings (not
acknowledged), outbox files wait in the outbox, and everything resumes once the server
answers, every reading stored once. A daemon killed with SIGKILL between the commit and
the acknowledgement runs on the shared server (nothing is restarted there).

Waits are on conditions with generous deadlines, never on a time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from hhu_sync.cli import main
from hhu_sync.config import load_config
from hhu_sync.daemon import Daemon
from hhu_sync.daemon_health import health_path, read_health
from hhu_sync.dock.session import Outcome
from hhu_sync.store import open_store
from hhu_sync.store import postgres as postgres_backend
from hhu_sync.store.pending import StoreState
from hhu_sync.store.schema_version import SCHEMA_VERSION
from tests.integration.test_daemon_docks import SCHEMES, dock
from tests.integration.test_daemon_postgres import PgDepot
from tests.pg_private import PrivateServer, private_pg, private_server
from tests.pg_server import pg_database, set_schema_version

__all__ = ["pg_database", "private_pg", "private_server"]     # fixtures, used by name

DEADLINE_S = 120.0


def wait_for(what: str, predicate: Callable[[], object], deadline_s: float = DEADLINE_S
             ) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"not within {deadline_s:g} s: {what}")


def count(url: str, sql: str) -> int | None:
    """A count on the server, None while it does not answer."""
    try:
        with psycopg.connect(url, connect_timeout=2) as db:
            return db.execute(sql).fetchone()[0]
    except psycopg.OperationalError:
        return None


class Running:
    """A daemon serving in a thread of the test's process, stopped at the end."""

    def __init__(self, depot: PgDepot) -> None:
        self.daemon = Daemon(load_config(depot.config))
        self.thread = threading.Thread(target=self.daemon.run, name="daemon", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.daemon.stop.set()
        self.thread.join(DEADLINE_S)
        assert not self.thread.is_alive(), "the daemon did not stop"


@pytest.fixture
def running() -> Iterator[Callable[[PgDepot], Running]]:
    started: list[Running] = []

    def start(depot: PgDepot) -> Running:
        started.append(Running(depot))
        return started[-1]

    yield start
    for one in started:
        one.stop()


def delivered_and_worked(depot: PgDepot, capsys) -> int:
    """The crew's list delivered to HHU-001 and worked in the field: the readings its
    upload holds (the upload waits on the HHU for the next docking)."""
    depot.drop(*SCHEMES, "route-north.toml")
    assert depot.run(capsys) == 0
    assert len(depot.flash("HHU-001").bundles()) == 1
    trip = depot.field_trip("HHU-001")
    assert trip.readings > 0 and len(depot.flash("HHU-001").uploads()) == 1
    return trip.readings


def health(depot: PgDepot) -> dict | None:
    return read_health(depot.root / "var" / "hhu-sync.db")


def rejected(depot: PgDepot) -> list[str]:
    folder = depot.root / "var" / "rejected"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def status_json(depot: PgDepot, capsys) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["status", "--json", "--config", str(depot.config)])
    return code, json.loads(capsys.readouterr().out)


def test_a_server_down_at_start_the_daemon_runs_says_so_and_catches_up_when_it_answers(
        tmp_path, private_pg: PrivateServer, running, capsys):
    depot = PgDepot(tmp_path, dock("cradle-1", "HHU-001"), private_pg.database())
    readings = delivered_and_worked(depot, capsys)
    private_pg.stop()
    depot.drop("route-south.csv")                    # a new list, for the outbox
    serving = running(depot)
    daemon = serving.daemon
    assert not daemon.store.opened.is_set()          # started all the same
    # it says so: the health file (status), counted attempts to open it
    wait_for("two failed openings in the health file",
             lambda: (h := health(depot)) is not None and h["state"] == StoreState.UNAVAILABLE
             and (h["attempts"] or 0) >= 2)
    code, status = status_json(depot, capsys)
    assert code == 1
    assert status["daemon"]["running"] is True
    assert status["daemon"]["store"]["state"] == "unavailable"
    assert status["daemon"]["store"]["opened"] is False
    assert "store_unavailable" in status
    capsys.readouterr()
    assert main(["status", "--config", str(depot.config)]) == 1
    assert "its store is UNAVAILABLE" in capsys.readouterr().out
    # the docked HHU was served as far as is safe: nothing acknowledged, nothing lost
    wait_for("a docking that met the storage fault",
             lambda: daemon.summary.sessions[Outcome.ERROR] >= 1)
    assert len(depot.flash("HHU-001").uploads()) == 1
    # the outbox file waits where it is (not rejected)
    wait_for("the outbox tried the store", lambda: daemon.processor.backoff.failures >= 1)
    assert (depot.outbox / "route-south.csv").exists()
    assert rejected(depot) == []
    assert serving.thread.is_alive()                  # still running, all along
    # the server answers: the store opens (schema checked) and everything resumes
    private_pg.start()
    wait_for("the upload committed and acknowledged",
             lambda: depot.flash("HHU-001").uploads() == [])
    wait_for("the outbox file taken", lambda: not (depot.outbox / "route-south.csv").exists())
    wait_for("the health file says open",
             lambda: (h := health(depot)) is not None and h["state"] == StoreState.OPEN)
    assert count(depot.url, "SELECT COUNT(*) FROM readings") == readings
    assert count(depot.url, "SELECT COUNT(*) FROM uploads") == 1
    assert count(depot.url, "SELECT COUNT(*) FROM lists WHERE list_id = "
                            "'route-south-2026-11'") == 1
    assert rejected(depot) == []
    code, status = status_json(depot, capsys)
    assert code == 0 and status["daemon"]["store"]["state"] == "open"
    serving.stop()
    assert not health_path(depot.root / "var" / "hhu-sync.db").exists()


def test_a_server_stopped_while_the_daemon_runs_outbox_files_wait_until_it_is_back(
        tmp_path, private_pg: PrivateServer, running, capsys):
    depot = PgDepot(tmp_path, dock("cradle-1", "HHU-001"), private_pg.database())
    depot.drop(*SCHEMES)
    daemon = running(depot).daemon
    wait_for("the schemes taken", lambda: count(depot.url, "SELECT COUNT(*) FROM schemes")
             == len(SCHEMES))
    private_pg.stop()
    # an idle docking meets it first (the HHU is in its cradle): the daemon says so
    wait_for("the health file says unavailable (opened before)",
             lambda: (h := health(depot)) is not None and h["state"] == StoreState.UNAVAILABLE
             and h["opened"] is True)
    failures = daemon.processor.backoff.failures
    (depot.outbox / ".planted.tmp").symlink_to(tmp_path / "hhu-sync.toml")  # set aside
    (depot.outbox / ".planted.tmp").rename(depot.outbox / "planted.toml")   # seen at once
    depot.drop("route-north.toml")
    wait_for("the outbox tried the store twice with both files",
             lambda: daemon.processor.backoff.failures > failures + 1)
    assert (depot.outbox / "route-north.toml").exists()
    assert (depot.outbox / "planted.toml").is_symlink()   # not even this is moved yet
    assert rejected(depot) == []
    private_pg.start()
    wait_for("the list taken and delivered to its HHU",
             lambda: len(depot.flash("HHU-001").bundles()) == 1)
    assert not (depot.outbox / "route-north.toml").exists()
    assert count(depot.url, "SELECT COUNT(*) FROM lists") == 1
    wait_for("the symlink set aside, with its reason",
             lambda: any(n.startswith("planted.toml") for n in rejected(depot)))
    wait_for("the health file says open again",
             lambda: (h := health(depot)) is not None and h["state"] == StoreState.OPEN)


class HeldOnce:
    """Holds the first ingest of the daemon at its commit until released."""

    def __init__(self, point: str) -> None:
        self.point = point
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, name: str, error: BaseException | None = None) -> None:
        if name == self.point and not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(DEADLINE_S), "the ingest was never released"


def test_a_server_restart_mid_ingest_loses_and_doubles_nothing(
        tmp_path, private_pg: PrivateServer, running, capsys, monkeypatch):
    depot = PgDepot(tmp_path, dock("cradle-1", "HHU-001"), private_pg.database())
    readings = delivered_and_worked(depot, capsys)
    held = HeldOnce("ingest.before_commit")
    monkeypatch.setattr(postgres_backend, "failpoint", held)
    daemon = running(depot).daemon
    assert held.reached.wait(DEADLINE_S)              # the upload's rows are in, uncommitted
    private_pg.restart()                              # a failover: every session ended
    held.release.set()
    wait_for("a docking that ended on the lost connection",
             lambda: daemon.summary.sessions[Outcome.ERROR] >= 1)
    wait_for("the upload committed on a new connection and acknowledged",
             lambda: depot.flash("HHU-001").uploads() == [])
    assert count(depot.url, "SELECT COUNT(*) FROM readings") == readings
    assert count(depot.url, "SELECT COUNT(*) FROM uploads") == 1
    assert count(depot.url, "SELECT COUNT(*) FROM lists WHERE state = 'complete'") == 1


@pytest.mark.parametrize("point", ["ingest.before_commit", "ingest.after_commit"])
def test_a_depot_killed_between_commit_and_acknowledgement_doubles_nothing_on_postgres(
        tmp_path, pg_database, capsys, point):
    depot = PgDepot(tmp_path, dock("cradle-1", "HHU-001"), pg_database)
    readings = delivered_and_worked(depot, capsys)
    assert depot.run(env={"HHU_SYNC_FAILPOINT": point}) == -9     # SIGKILL
    assert len(depot.flash("HHU-001").uploads()) == 1     # not acknowledged: still held
    stored = readings if point == "ingest.after_commit" else 0
    assert count(depot.url, "SELECT COUNT(*) FROM readings") == stored
    assert count(depot.url, "SELECT COUNT(*) FROM uploads") == (1 if stored else 0)
    if stored:                               # committed: the store knows it holds it
        with psycopg.connect(depot.url) as db:
            (upload_id,) = db.execute("SELECT upload_id FROM uploads").fetchone()
        store = open_store(depot.url)
        try:
            assert store.upload_held(upload_id)
        finally:
            store.close()
    # restarted: the HHU uploads again; a committed upload is recognised as held
    assert depot.run(capsys) == 0
    assert depot.flash("HHU-001").uploads() == []
    assert count(depot.url, "SELECT COUNT(*) FROM readings") == readings
    assert count(depot.url, "SELECT COUNT(*) FROM uploads") == 1
    assert count(depot.url, "SELECT COUNT(*) FROM uploads WHERE cleared_at IS NOT NULL") == 1


def test_a_schema_of_another_version_found_once_the_server_answers_stops_the_daemon(
        tmp_path, private_pg: PrivateServer, capsys):
    depot = PgDepot(tmp_path, dock("cradle-1", "HHU-001"), private_pg.database())
    open_store(depot.url).close()
    set_schema_version(depot.url, "0")
    private_pg.stop()
    daemon = Daemon(load_config(depot.config))
    assert not daemon.store.opened.is_set()
    done: list = []
    thread = threading.Thread(target=lambda: done.append(daemon.run()), daemon=True)
    thread.start()
    wait_for("a failed opening", lambda: (h := health(depot)) is not None
             and (h["attempts"] or 0) >= 1)
    private_pg.start()
    thread.join(DEADLINE_S)
    assert not thread.is_alive(), "the daemon went on serving a schema it does not know"
    (summary,) = done
    assert f"schema version 0, this hhu-sync uses {SCHEMA_VERSION}" in summary.store_refused
    with psycopg.connect(depot.url) as db:         # nothing written to it
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                          ).fetchone() == ("0",)
        assert db.execute("SELECT COUNT(*) FROM sessions").fetchone() == (0,)
