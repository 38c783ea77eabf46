"""Issue 12 (round 3): the docking's unload report totals every count a clerk acts on,
``readings_not_billable`` (stored with a status other than ``ok``) among them."""

from __future__ import annotations

import json
from types import SimpleNamespace

from hhu_sync.dock.session import Session, SessionResult
from hhu_sync.ingest import IngestReport
from hhu_sync.store import SqliteStore


def test_the_unload_report_totals_the_readings_not_billable(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite")
    try:
        one = IngestReport("R-1", "HHU-001", visits=2, readings_stored=5,
                           readings_not_billable=3)
        two = IngestReport("R-2", "HHU-001", visits=1, readings_stored=2,
                           readings_not_billable=1)
        result = SessionResult("cradle-1", outcome="done", hhu_id="HHU-001",
                               pulled=["R-1", "R-2"], reports=[one.as_dict(), two.as_dict()])
        fake = SimpleNamespace(dock=SimpleNamespace(name="cradle-1"), store=store,
                               _session_id=None,
                               config=SimpleNamespace(paths=SimpleNamespace(exports=tmp_path)))
        Session._report(fake, "2026-11-20T09:12:00+00:00", result)
        (path,) = (tmp_path / "reports").glob("session-*.json")
        report = json.loads(path.read_text())
        assert (report["readings_stored"], report["readings_not_billable"]) == (7, 4)
        (held,) = store._rows("SELECT report FROM sessions")
        assert json.loads(held[0])["readings_not_billable"] == 4
    finally:
        store.close()


def test_the_unload_report_totals_intervals_events_findings_and_names_refused_uploads(
        tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite")
    try:
        one = IngestReport("R-1", "HHU-001", intervals_stored=96, intervals_already_held=4,
                           interval_conflicts=1, events_stored=2, vee_findings=3)
        two = IngestReport("R-2", "HHU-001", intervals_stored=48, events_already_held=1,
                           vee_findings=2)
        result = SessionResult("cradle-1", outcome="done", hhu_id="HHU-001",
                               pulled=["R-1", "R-2"], reports=[one.as_dict(), two.as_dict()],
                               refused={"R-3": "version_unsupported"})
        fake = SimpleNamespace(dock=SimpleNamespace(name="cradle-1"), store=store,
                               _session_id=None,
                               config=SimpleNamespace(paths=SimpleNamespace(exports=tmp_path)))
        Session._report(fake, "2026-11-20T09:12:00+00:00", result)
        (path,) = (tmp_path / "reports").glob("session-*.json")
        report = json.loads(path.read_text())
        assert (report["intervals_stored"], report["intervals_already_held"],
                report["interval_conflicts"], report["events_stored"],
                report["events_already_held"]) == (144, 4, 1, 2, 1)
        assert report["vee_findings"] == 5              # validation findings, both uploads
        assert report["uploads_refused"] == {"R-3": "version_unsupported"}
    finally:
        store.close()
