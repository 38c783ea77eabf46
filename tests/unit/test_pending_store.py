"""The daemon's store while its database does not answer (hhu_sync.store.pending): every
call a storage fault until it opens, the openings counted and backed off up to a cap,
a refusal (another schema version) raised, the health a status can show."""

from __future__ import annotations

import threading

import pytest

from hhu_sync.store import SqliteStore, StorageUnavailable, StoreError
from hhu_sync.store.pending import OpeningBackoff, PendingStore, StoreState

NOW = "2026-12-03T10:00:00+00:00"


class Server:
    """An opener whose server answers only once it is ``up``."""

    def __init__(self, path, *, up: bool = False) -> None:
        self.path = path
        self.up = up
        self.refuse = False
        self.attempts = 0
        self.opened: list[SqliteStore] = []

    def __call__(self, url: str) -> SqliteStore:
        self.attempts += 1
        if self.refuse:
            raise StoreError(f"{url}: schema version 99, this hhu-sync uses 1")
        if not self.up:
            raise StorageUnavailable(f"{url}: connection refused")
        self.opened.append(SqliteStore(self.path))
        return self.opened[-1]


def _touch(store) -> None:
    store.touch_hhu("HHU-001", dock="d1", firmware="1", battery=None, free_flash=None,
                    now=NOW)


def test_before_it_opens_every_call_is_a_storage_fault_naming_the_attempts(tmp_path):
    server = Server(tmp_path / "db.sqlite")
    store = PendingStore("sqlite:///x", server)
    assert store.try_open() is False
    library = store.library            # taken before the store opened (as the outbox does)
    with pytest.raises(StorageUnavailable, match=r"not open yet \(1 attempts; .*refused"):
        _touch(store)
    with pytest.raises(StorageUnavailable):
        library()
    health = store.health()
    assert (health.state, health.opened, health.attempts) == (StoreState.UNAVAILABLE, False, 1)
    server.up = True
    assert store.try_open() is True
    _touch(store)
    assert "as230-flat" not in library()          # the method taken early works now
    assert [h["hhu_id"] for h in store.status()["hhus"]] == ["HHU-001"]
    assert store.health().state == StoreState.OPEN
    store.close()


def test_the_wait_between_openings_doubles_up_to_its_cap_and_every_failure_is_counted():
    backoff = OpeningBackoff(first=0.5, cap=4.0)
    assert [backoff.failed() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert backoff.failures == 7


def test_keep_opening_ends_when_the_store_opens_or_the_daemon_stops(tmp_path):
    server = Server(tmp_path / "db.sqlite")
    store = PendingStore("sqlite:///x", server, backoff=OpeningBackoff(first=0.0, cap=0.0))
    seen = []

    def change(health) -> None:
        seen.append(health.state)
        if health.attempts >= 3:
            server.up = True             # the server answers from the fourth attempt

    assert store.keep_opening(threading.Event(), on_change=change) is True
    assert server.attempts == 4
    assert seen == [StoreState.UNAVAILABLE] * 3 + [StoreState.OPEN]
    stopped = threading.Event()
    stopped.set()
    other = PendingStore("sqlite:///y", Server(tmp_path / "other.sqlite"))
    assert other.keep_opening(stopped) is False           # stopping: no attempt at all
    store.close()


def test_a_schema_of_another_version_found_late_is_raised_and_shown_as_refused(tmp_path):
    server = Server(tmp_path / "db.sqlite")
    store = PendingStore("sqlite:///x", server)
    server.refuse = True
    with pytest.raises(StoreError, match="schema version 99") as refused:
        store.try_open()
    assert not isinstance(refused.value, StorageUnavailable)
    assert store.health().state == StoreState.REFUSED
    with pytest.raises(StoreError):
        store.keep_opening(threading.Event())


def test_a_store_that_fails_after_opening_is_unavailable_until_a_call_gets_through(
        tmp_path, monkeypatch):
    server = Server(tmp_path / "db.sqlite", up=True)
    store = PendingStore("sqlite:///x", server)
    assert store.try_open()
    backs = []
    store.on_back = lambda: backs.append(True)
    real = server.opened[0]

    def disk_full(*args, **kwargs):
        real._failing = True           # as the backend marks it
        raise StorageUnavailable("disk full")

    monkeypatch.setattr(real, "touch_hhu", disk_full)
    with pytest.raises(StorageUnavailable):
        _touch(store)
    health = store.health()
    assert (health.state, health.opened, health.error) == (
        StoreState.UNAVAILABLE, True, "disk full")
    monkeypatch.undo()
    _touch(store)                       # the backend's own success clears its failing
    assert store.health().state == StoreState.OPEN
    assert backs == [True]              # what backs off is told once
    store.close()


def test_a_store_that_opens_after_the_daemon_closed_it_is_closed_at_once(tmp_path):
    server = Server(tmp_path / "db.sqlite")
    store = PendingStore("sqlite:///x", server)
    store.close()
    server.up = True
    assert store.try_open() is False
    with pytest.raises(StorageUnavailable, match="closed"):
        _touch(store)


def test_an_opening_that_fails_any_other_way_is_counted_and_tried_again(tmp_path):
    """A folder that cannot be made (an OSError, not a driver's error) or anything else
    the opener raises is one more failed attempt, never an exception out of the daemon's
    start or its opener thread; the store opens once the cause is gone."""
    from hhu_sync.store import open_store

    unreachable = PendingStore("/proc/no-such-folder/depot.db", open_store)
    assert unreachable.try_open() is False
    health = unreachable.health()
    assert health.state == StoreState.UNAVAILABLE and health.attempts == 1
    assert "no-such-folder" in health.error or "No such file" in health.error
    unreachable.close()

    failures = iter([RuntimeError("driver bug"), None])

    def flaky(url: str):
        failure = next(failures)
        if failure is not None:
            raise failure
        return SqliteStore(url)

    pending = PendingStore(str(tmp_path / "depot.db"), flaky)
    assert pending.try_open() is False
    assert "driver bug" in pending.health().error
    assert pending.try_open() is True and pending.health().state == StoreState.OPEN
    pending.close()
