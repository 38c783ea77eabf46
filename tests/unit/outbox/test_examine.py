"""Outbox files examined in worker processes: the same outcomes as in the daemon's own."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from hhu_sync.config import parse_config
from hhu_sync.keys import KeyStore
from hhu_sync.model.catalog import load_catalog
from hhu_sync.model.problems import ModelError
from hhu_sync.outbox import OutboxProcessor
from hhu_sync.outbox.examine import POOL_FROM
from hhu_sync.store import SqliteStore, open_store
from tests.conftest import EXAMPLES, ROOT
from tests.pg_server import fresh_database

SECRETS = ("a1700-level1", "a1700-level3", "a1140-level2", "as230-level1")
WEEKS_AGO = time.time() - 14 * 86400


def make_depot(root: Path, workers: int, store_url: str | None = None) -> OutboxProcessor:
    config = parse_config({"hhus": [{"id": "HHU-001", "crew": "crew-north"},
                                    {"id": "HHU-002", "crew": "crew-south"}],
                           "limits": {"outbox_workers": workers}}, root / "hhu-sync.toml")
    keystore = KeyStore(config.paths.keystore)
    keystore.enroll("HHU-001")
    for name in SECRETS:
        keystore.set_secret(name, "pw-" + name)
    config.paths.outbox.mkdir(parents=True)
    store = SqliteStore(config.paths.database) if store_url is None else open_store(store_url)
    return OutboxProcessor(config, store,
                           load_catalog(ROOT / "config" / "meter-models.toml"), keystore,
                           workers=workers)


def put(proc: OutboxProcessor, rel: str, content: bytes) -> Path:
    path = proc.outbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.utime(path, (WEEKS_AGO, WEEKS_AGO))     # long closed: no debounce wait
    return path


def example(name: str, new_id: str | None = None) -> bytes:
    text = (EXAMPLES / name).read_text()
    if new_id:
        text = text.replace('id = "a1700-ci-tou-2026"', f'id = "{new_id}"', 1)
    return text.encode()


# Every kind of file the outbox meets, in one backlog.
BATCH_ONE = [
    ("a1700-ci-tou.toml", example("a1700-ci-tou.toml")),
    ("a1140-day-night.toml", example("a1140-day-night.toml")),
    ("quick-send/HHU-001/q1.toml", example("a1700-ci-tou.toml", "quick-1")),
    ("quick-send/HHU-001/q1-again.toml", example("a1700-ci-tou.toml", "quick-1")),
    ("quick-send/HHU-009/q2.toml", example("a1700-ci-tou.toml", "quick-2")),
    ("quick-send/misplaced.toml", example("a1700-ci-tou.toml", "quick-3")),
    ("bad-model.toml", b"[scheme]\nid = 'x'\nmodel = 'Z9'\n"),
    ("junk.csv", bytes(range(256))),
    ("not-toml.toml", b"[scheme\nid = 1\n"),
]
BATCH_TWO = [
    ("as230-flat.toml", example("as230-flat.toml")),
    ("route-north.toml", example("route-north.toml")),
    ("quick-send/HHU-001/list.toml", example("route-north.toml")),
]


def run(proc: OutboxProcessor, files) -> list[tuple]:
    paths = [put(proc, rel, content) for rel, content in files]
    out = []
    for outcomes in proc.process_many(paths, batch=4):
        out += [(o.path.relative_to(proc.outbox).as_posix(), o.status, o.kind,
                 o.detail.replace(str(proc.outbox), "OUTBOX")) for o in outcomes]
    proc.mover.flush()
    return out


def library(proc: OutboxProcessor) -> list[tuple]:
    db = proc.store._db()
    return db.execute("SELECT scheme_id, model, version, data FROM schemes "
                      "ORDER BY scheme_id").fetchall()


def test_a_backlog_examined_by_workers_ends_as_one_examined_here(tmp_path):
    here = make_depot(tmp_path / "here", workers=0)
    pooled = make_depot(tmp_path / "pooled", workers=2)
    try:
        pooled.examiner.start()
        assert pooled.examiner._ready.wait(60) and pooled.examiner.pooled
        for files in (BATCH_ONE, BATCH_TWO):
            assert run(pooled, files) == run(here, files)
        assert library(pooled) == library(here)
        assert len(pooled.store.pending_deliveries("HHU-001", "crew-north", "9999")) == \
            len(here.store.pending_deliveries("HHU-001", "crew-north", "9999")) == 2
        assert sorted(p.name for p in pooled.outbox.rglob("*") if p.is_file()) == []
        assert pooled.examiner.pooled                  # the workers did it all
    finally:
        here.close()
        pooled.close()


def test_workers_of_a_postgresql_depot_open_its_store_by_url_and_end_the_same(tmp_path):
    """The workers are given the store's URL (not a path): on PostgreSQL they read its
    scheme library for the meter lists they seal, as SQLite's workers read theirs."""
    here = make_depot(tmp_path / "here", workers=0)
    with fresh_database() as url:
        pooled = make_depot(tmp_path / "pooled", workers=1, store_url=url)
        try:
            assert pooled.examiner._initargs[4] == url
            pooled.examiner.start()
            assert pooled.examiner._ready.wait(60) and pooled.examiner.pooled
            for files in (BATCH_ONE, BATCH_TWO):
                assert run(pooled, files) == run(here, files)
            assert [e.scheme_id for e in pooled.store.library_entries()] == \
                [e.scheme_id for e in here.store.library_entries()]
            assert len(pooled.store.pending_deliveries("HHU-001", "crew-north", "9999")) \
                == len(here.store.pending_deliveries("HHU-001", "crew-north", "9999")) == 2
            assert pooled.examiner.pooled
        finally:
            here.close()
            pooled.close()
    assert not (tmp_path / "pooled" / "var" / "hhu-sync.db").exists()


def test_workers_that_die_leave_the_work_to_the_daemon(tmp_path):
    proc = make_depot(tmp_path, workers=1)
    try:
        proc.examiner.start()
        assert proc.examiner._ready.wait(60)
        for process in list(proc.examiner._pool._processes.values()):
            process.kill()
            process.join(10)
        out = run(proc, [("quick-send/HHU-001/q.toml", example("a1700-ci-tou.toml", "q"))])
        assert out == [("quick-send/HHU-001/q.toml", "accepted", "quick_send", "q")]
        assert not proc.examiner.pooled
    finally:
        proc.close()


def test_a_small_outbox_starts_no_workers(tmp_path):
    proc = make_depot(tmp_path, workers=2)
    try:
        files = [(f"s{n}.toml", example("a1700-ci-tou.toml", f"s{n}"))
                 for n in range(POOL_FROM - 1)]
        assert {status for _, status, _, _ in run(proc, files)} == {"accepted"}
        assert not proc.examiner._starting and not proc.examiner.pooled
    finally:
        proc.close()


def test_no_workers_are_started_when_the_configuration_says_none(tmp_path):
    proc = make_depot(tmp_path, workers=0)
    proc.examiner.start()
    assert not proc.examiner._starting
    proc.close()


def test_a_negative_worker_count_stops_start_up(tmp_path):
    with pytest.raises(ModelError, match="limits.outbox_workers"):
        parse_config({"limits": {"outbox_workers": -1}}, tmp_path / "c.toml")


def test_workers_still_starting_when_the_daemon_closes_are_stopped(tmp_path):
    proc = make_depot(tmp_path, workers=1)
    proc.examiner.start()
    proc.close()                                  # before the workers have answered
    time.sleep(0.1)
    deadline = time.monotonic() + 60
    while proc.examiner._starting and time.monotonic() < deadline and \
            any(t.name == "outbox-workers" for t in threading.enumerate()):
        time.sleep(0.05)
    assert not proc.examiner.pooled and proc.examiner._pool is None


def _wait_settled(examiner, timeout: float = 60.0) -> None:
    """Until the background start has ended, one way or the other."""
    deadline = time.monotonic() + timeout
    while examiner._starting and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not examiner._starting


def test_workers_that_cannot_open_the_store_are_tried_again_later_and_then_serve(tmp_path):
    """The store away when the workers start (a PostgreSQL server down, here a port no
    one listens on): the files are examined in the daemon, the failure is counted, no
    new try before the back-off, and once the store answers the next backlog gets its
    workers back, without a restart."""
    from hhu_sync.outbox import examine

    proc = make_depot(tmp_path / "depot", workers=1)
    ex = proc.examiner
    now = [1000.0]
    ex._clock = lambda: now[0]
    good = ex._initargs
    ex._initargs = (*good[:4], "postgresql://postgres@127.0.0.1:1/away", *good[5:])
    try:
        ex.start()
        _wait_settled(ex)
        assert not ex.pooled and ex.failures == 1
        assert run(proc, BATCH_TWO)[0][1] == "accepted"           # examined here meanwhile
        ex._initargs = good                                      # the store is back ...
        now[0] += examine.RETRY_FIRST_S - 1
        ex.start()
        assert not ex._starting and not ex.pooled                # ... but not tried yet
        now[0] += 1
        ex.start()
        _wait_settled(ex)
        assert ex._ready.wait(60) and ex.pooled and ex.failures == 1
    finally:
        proc.close()


def test_the_wait_between_tries_doubles_up_to_its_most_and_every_failure_counts(tmp_path):
    from hhu_sync.outbox import examine

    proc = make_depot(tmp_path / "depot", workers=1)
    ex = proc.examiner
    proc.close()
    waits = []
    for _ in range(12):
        with ex._lock:
            waits.append(ex._failed())
    assert waits[:3] == [examine.RETRY_FIRST_S, 2 * examine.RETRY_FIRST_S,
                         4 * examine.RETRY_FIRST_S]
    assert waits[-1] == examine.RETRY_MOST_S and ex.failures == 12
    assert waits == sorted(waits)


def test_workers_that_did_not_start_are_shut_down_before_the_next_try(tmp_path,
                                                                       monkeypatch):
    """A warm-up that fails (workers that never answer) shuts its pool down: each try,
    every 30 s to 10 min, would otherwise leave another pool's processes behind."""
    from concurrent.futures import Future

    from hhu_sync.outbox import examine

    pools = []

    class HungPool:
        def __init__(self, *a, **k):
            self.shut = False
            pools.append(self)

        def submit(self, fn, *a):
            f: Future = Future()
            f.set_exception(TimeoutError("workers did not answer in 60 s"))
            return f

        def shutdown(self, wait=True, cancel_futures=False):
            self.shut = True

    monkeypatch.setattr(examine, "ProcessPoolExecutor", HungPool)
    proc = make_depot(tmp_path / "depot", workers=1)
    ex = proc.examiner
    now = [1000.0]
    ex._clock = lambda: now[0]
    try:
        for _ in range(3):
            ex.start()
            _wait_settled(ex, 10)
            now[0] += examine.RETRY_MOST_S
        assert len(pools) == 3 and ex.failures == 3
        assert all(p.shut for p in pools)
    finally:
        proc.close()


def test_a_late_failure_of_a_pool_replaced_meanwhile_leaves_the_new_one_serving(tmp_path):
    proc = make_depot(tmp_path / "depot", workers=1)
    ex = proc.examiner
    old, new = object(), object()
    try:
        ex._pool = new                                    # type: ignore[assignment]
        ex._give_up(RuntimeError("the old pool's worker died"), old)  # type: ignore[arg-type]
        assert ex._pool is new and ex.failures == 0
    finally:
        ex._pool = None
        proc.close()
