"""`run --once`'s summary counts what ingest refused to bill, not only what it stored."""

from __future__ import annotations

from types import SimpleNamespace

from hhu_sync.cli.daemon_cmds import _print_summary
from hhu_sync.config import parse_config
from hhu_sync.daemon import MAX_ERRORS_KEPT, Daemon, Summary
from hhu_sync.dock.session import SessionResult
from hhu_sync.ingest import IngestReport
from hhu_sync.store import SqliteStore
from tests.unit.store.helpers import meter_list, upload, visit

NOW = "2026-11-25T12:00:00+00:00"


def test_rejected_and_unbillable_readings_and_findings_are_counted_and_printed(
        tmp_path, capsys):
    config = parse_config({}, tmp_path / "hhu-sync.toml")
    store = SqliteStore(config.paths.database)
    store.add_meter_list(meter_list("L1", ("M1",)), NOW)
    report = store.ingest(upload("U-1", [
        visit("M1", value="NaN"),                       # fails its field check
        visit("M9", value="5.0", time="2026-11-25T10:05:00+00:00")]), NOW)  # not on L1
    store.close()
    assert (report.readings_rejected, report.readings_not_billable) == (1, 1)
    assert report.findings >= 1

    daemon = SimpleNamespace(summary=Summary(), _changed=lambda: None)
    result = SessionResult("cradle-1", "done", "HHU-001", pulled=["U-1"],
                           reports=[report.as_dict()])
    Daemon._session_done(daemon, None, 0, result)
    s = daemon.summary
    assert (s.readings_stored, s.readings_rejected, s.readings_not_billable) == (1, 1, 1)
    assert s.findings == report.findings
    assert s.exceptions == report.findings + report.not_on_list

    _print_summary(config, s)
    out = capsys.readouterr().out
    assert "readings rejected: 1" in out and "readings not billable: 1" in out
    assert f"field check findings: {s.findings}" in out


def test_intervals_events_and_validation_findings_are_summed_and_printed(tmp_path, capsys):
    config = parse_config({}, tmp_path / "hhu-sync.toml")
    SqliteStore(config.paths.database).close()
    reports = [IngestReport("R-1", "HHU-001", intervals_stored=9120, events_stored=2,
                            vee_findings=6).as_dict(),
               IngestReport("R-2", "HHU-002", intervals_stored=48, intervals_already_held=4,
                            interval_conflicts=1, vee_findings=2).as_dict()]
    daemon = SimpleNamespace(summary=Summary(), _changed=lambda: None)
    Daemon._session_done(daemon, None, 0, SessionResult("cradle-1", "done", "HHU-001",
                                                        pulled=["R-1", "R-2"],
                                                        reports=reports))
    s = daemon.summary
    assert (s.intervals_stored, s.vee_findings, s.events_stored) == (9168, 8, 2)
    assert s.exceptions == 8 + 1            # a finding or a conflict: an exception each
    _print_summary(config, s)
    lines = capsys.readouterr().out.splitlines()
    assert "intervals stored: 9168 (4 already held, 1 conflict)" in lines
    assert "events stored: 2" in lines and "validation findings: 8" in lines


def test_a_long_outage_keeps_the_errors_it_remembers_bounded():
    daemon = SimpleNamespace(summary=Summary(), _changed=lambda: None)
    for n in range(MAX_ERRORS_KEPT * 3):
        Daemon._session_done(daemon, None, 0, SessionResult(
            "cradle-1", "error", "HHU-001", errors=[f"storage unavailable #{n}"]))
    s = daemon.summary
    assert len(s.errors) == MAX_ERRORS_KEPT and s.error_count == MAX_ERRORS_KEPT * 3
    assert s.errors[-1] == f"storage unavailable #{MAX_ERRORS_KEPT * 3 - 1}"
    assert s.sessions["error"] == MAX_ERRORS_KEPT * 3
