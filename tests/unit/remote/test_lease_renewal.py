"""A runner renews its claims' leases as attempts start, once for all its sessions: at
most once a tenth of the lease (each renewal covers every meter it holds)."""

from __future__ import annotations

from hhu_sync.remote.runner import RemoteRunner, RunSettings
from hhu_sync.store.sqlite import SqliteStore


def test_attempts_renew_the_leases_at_most_once_a_tenth_of_the_lease(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite")
    renewals: list[float] = []
    renew = store.renew_remote_claims

    def counted(runner, at, lease_s):
        renewals.append(at)
        return renew(runner, at, lease_s)

    store.renew_remote_claims = counted  # type: ignore[method-assign]
    t = [1000.0]
    runner = RemoteRunner(store, runner_id="remote-A", settings=RunSettings(lease_s=300.0),
                          clock=lambda: t[0])
    try:
        for _ in range(50):                    # fifty sessions' attempts at once
            runner._renew_at_attempt()
        assert len(renewals) == 1
        t[0] += 29.0
        runner._renew_at_attempt()
        assert len(renewals) == 1               # within a tenth of the lease
        t[0] += 1.0
        runner._renew_at_attempt()
        assert len(renewals) == 2
        runner.renew()                          # the daemon's look: always
        assert len(renewals) == 3
    finally:
        runner.shutdown()
        store.close()
