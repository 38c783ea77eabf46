"""The scheduled full export rides out a storage outage: no traceback every period, one
log line when it starts failing and one when it works again, and the next period retries."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from hhu_sync.config import parse_config
from hhu_sync.daemon import Daemon
from hhu_sync.store.base import StorageUnavailable


class FlakyStore:
    """Readings unavailable (disk, I/O) ``down`` times, then none held."""

    def __init__(self, down: int, fault: Exception) -> None:
        self.down, self.fault = down, fault

    def readings(self, since=None, upload_id=None, catalog=None):
        if self.down:
            self.down -= 1
            raise self.fault
        return iter(())


@pytest.mark.parametrize("fault", [StorageUnavailable("disk I/O error"),
                                   OSError(28, "No space left on device")])
def test_a_failing_full_export_logs_once_per_state_change_and_retries(fault, tmp_path,
                                                                       caplog):
    config = parse_config({}, tmp_path / "hhu-sync.toml")
    config.paths.exports.mkdir(parents=True)
    daemon = SimpleNamespace(config=config, store=FlakyStore(3, fault), _export_fault=None)
    caplog.set_level(logging.INFO, logger="hhu_sync.daemon")
    for _ in range(5):
        Daemon._full_export(daemon)                  # raises nothing, at every period
    records = [r for r in caplog.records if r.name == "hhu_sync.daemon"]
    assert [r.levelname for r in records] == ["ERROR", "INFO"], [r.message for r in records]
    assert all(r.exc_info is None for r in records)
    assert "full export" in records[0].message and "next" in records[0].message
    assert sorted(p.suffix for p in config.paths.exports.iterdir()) == [".cmep", ".csv"]
