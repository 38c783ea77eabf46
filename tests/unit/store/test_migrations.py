"""Schema versions: looked at without changing anything, moved forward one transaction a
step, never moved back (hhu_sync.store.migrations), on both backends."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hhu_sync.store import StoreError, open_store
from hhu_sync.store.migrations import Migration, plan, schema_state, upgrade
from hhu_sync.store.schema_version import SCHEMA_VERSION
from tests.pg_server import fresh_database

NEWER = str(int(SCHEMA_VERSION) + 1)
OLDER = str(int(SCHEMA_VERSION) - 1)


def _sql(url: str, sql: str, args: tuple = ()) -> list[tuple]:
    if url.startswith("postgresql://"):
        with psycopg.connect(url, autocommit=True) as db:
            cur = db.execute(sql.replace("?", "%s"), args)
            return cur.fetchall() if cur.description else []
    with sqlite3.connect(url.removeprefix("sqlite://"), isolation_level=None) as db:
        return db.execute(sql, args).fetchall()


def _has_table(url: str, name: str) -> bool:
    if url.startswith("postgresql://"):
        return _sql(url, "SELECT to_regclass(?)", (name,))[0][0] is not None
    return bool(_sql(url, "SELECT 1 FROM sqlite_master WHERE name = ?", (name,)))


def _version(url: str) -> str:
    return _sql(url, "SELECT value FROM meta WHERE key = 'schema_version'")[0][0]


def _set_version(url: str, version: str) -> None:
    _sql(url, "UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request, tmp_path) -> Iterator[str]:
    """The URL of a store not made yet: a SQLite file that does not exist, an empty
    PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/db.sqlite"
        return
    with fresh_database() as url:
        yield url


def _step(fail: bool = False) -> Migration:
    """A step from OLDER to this version that adds a table (or fails half-way)."""
    def on_sqlite(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE added_by_step (x INTEGER)")
        if fail:
            raise sqlite3.OperationalError("injected")

    def on_postgres(conn) -> None:
        conn.execute("CREATE TABLE added_by_step (x bigint)")
        if fail:
            conn.execute("SELECT 1/0")

    return Migration(OLDER, SCHEMA_VERSION, "adds a table", on_sqlite, on_postgres)


def test_a_plan_is_the_steps_from_the_held_version_to_this_ones():
    step = _step()
    assert plan("x", SCHEMA_VERSION, [step]) == []
    assert plan("x", OLDER, [step]) == [step]


def test_a_newer_schema_is_never_planned_back_and_both_versions_are_named():
    with pytest.raises(StoreError, match=f"schema version {NEWER} is newer than "
                                         f"{SCHEMA_VERSION}.*refusing to downgrade"):
        plan("db", NEWER, [_step()])


def test_a_version_no_step_leads_on_from_is_refused():
    with pytest.raises(StoreError, match=f"no migration leads on from version {OLDER}"):
        plan("db", OLDER, [])


def test_looking_at_a_store_that_is_not_there_makes_nothing(fresh):
    if fresh.startswith("sqlite://"):
        with pytest.raises(StoreError, match="no database at"):
            schema_state(fresh)
        assert not Path(fresh.removeprefix("sqlite://")).exists()
        return
    state = schema_state(fresh)
    assert (state.held, state.verdict, state.counts) == (None, "empty", {})
    assert schema_state(fresh).held is None                    # still nothing made


def test_the_state_of_a_store_is_its_version_beside_this_ones_and_its_rows(fresh):
    store = open_store(fresh)
    store.touch_hhu("HHU-001", dock="d", firmware="1", battery=None, free_flash=None,
                    now="2026-12-01T00:00:00+00:00")
    store.close()
    state = schema_state(fresh)
    assert (state.held, state.known, state.verdict) == (SCHEMA_VERSION, SCHEMA_VERSION,
                                                        "current")
    assert state.backend == ("sqlite" if fresh.startswith("sqlite") else "postgresql")
    assert state.counts["hhus"] == 1 and state.counts["readings"] == 0
    _set_version(fresh, NEWER)
    assert schema_state(fresh).verdict == "newer"


def test_upgrade_makes_a_new_store_and_leaves_a_current_one_as_it_is(fresh):
    assert upgrade(fresh) == (None, [])
    assert _version(fresh) == SCHEMA_VERSION
    assert upgrade(fresh) == (SCHEMA_VERSION, [])
    open_store(fresh).close()


def test_an_older_store_is_moved_forward_and_then_opens(fresh):
    open_store(fresh).close()
    _set_version(fresh, OLDER)
    with pytest.raises(StoreError, match=f"schema version {OLDER}, this hhu-sync uses "
                                         f"{SCHEMA_VERSION} .*db upgrade"):
        open_store(fresh)
    step = _step()
    assert upgrade(fresh, [step]) == (OLDER, [step])
    assert _version(fresh) == SCHEMA_VERSION
    assert _has_table(fresh, "added_by_step")
    open_store(fresh).close()


def test_a_step_that_fails_leaves_the_store_at_the_version_it_had(fresh):
    open_store(fresh).close()
    _set_version(fresh, OLDER)
    with pytest.raises(StoreError, match="adds a table"):
        upgrade(fresh, [_step(fail=True)])
    assert _version(fresh) == OLDER
    assert not _has_table(fresh, "added_by_step")              # rolled back with it


def test_a_newer_store_is_refused_and_left_as_it_was(fresh):
    open_store(fresh).close()
    _set_version(fresh, NEWER)
    with pytest.raises(StoreError, match=f"{NEWER} is newer than {SCHEMA_VERSION}"):
        upgrade(fresh, [_step()])
    assert _version(fresh) == NEWER


def test_a_version_1_store_gets_the_remote_claims_of_version_2(fresh):
    """Version 1 to 2 (issue 17, point 5): the per-meter claims of remote runs; the
    upgrade goes on through every later step to this code's version."""
    from hhu_sync.store.claim_rules import ClaimVerdict
    from hhu_sync.store.migrations import MIGRATIONS
    from tests.unit.store.test_remote_claims import remote

    open_store(fresh).close()
    _sql(fresh, "DROP TABLE remote_claims")             # as version 1 made it
    _set_version(fresh, "1")
    assert [(m.from_version, m.to_version) for m in plan("x", "1")][0] == ("1", "2")
    held, steps = upgrade(fresh)
    assert held == "1" and steps[0].to_version == "2" and steps[0] in MIGRATIONS
    assert steps[-1].to_version == SCHEMA_VERSION
    assert _version(fresh) == SCHEMA_VERSION and _has_table(fresh, "remote_claims")
    store = open_store(fresh)
    try:
        store.add_meter_list(remote(), "2026-12-02T02:00:00+00:00")
        [run] = store.remote_runs()
        assert store.begin_remote_run(run.delivery_id, "remote-A", "2026-12-02T02:00:00")
        assert store.claim_remote_meter(run.delivery_id, 0, serial="M1", port="p",
                                        runner="remote-A", at=1.0e9, lease_s=60.0) \
            == ClaimVerdict.CLAIMED
        assert [c.runner for c in store.remote_claims(run.delivery_id)] == ["remote-A"]
    finally:
        store.close()
    assert schema_state(fresh).counts["remote_claims"] == 1
