"""Issue 15, point 11: the demo carries load profiles from the field to the exports.

`run --once` on the demo's own configuration, fleet, schemes and meter lists (copied, so
the checkout's `var/demo` is left alone): every demo meter's profile is stored, each
scheduled outage shows as flagged intervals, power down and up events and a validation
(VEE) finding, the upload's exports hold the interval records, and the unload reports
and the summary count the intervals and the findings.

The field trip stamps its visits with the wall clock (the depot refuses a visit before
its list was issued), and a meter's memory holds its last days only; so the copy's
dates are moved by the days between the demo's own day (2 December 2026, when its
outages are two and one weeks old) and today, and the demo is always run as on its day.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import tomllib
from datetime import UTC, date, datetime, timedelta

from hhu_sync.cli import main
from hhu_sync.model.catalog import load_catalog
from hhu_sync.profile.events import EventKind
from hhu_sync.profile.flags import IntervalStatus as S
from hhu_sync.store import open_store
from tests.conftest import ROOT

DEMO_DAY = date(2026, 12, 2)
_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")   # also in 2026-11-17T14:10


def _shift(text: str, days: timedelta) -> str:
    def moved(m: re.Match) -> str:
        return (date(*map(int, m.groups())) + days).isoformat()
    return _DATE.sub(moved, text)


def _demo_copy(tmp_path):
    """config/ and schemes/examples/ as the demo uses them, dates moved to today; the
    daemon's poll and debounce shortened (how often it looks, not what it does)."""
    days = _days()
    (tmp_path / "config").mkdir()
    shutil.copytree(ROOT / "schemes" / "examples", tmp_path / "schemes" / "examples")
    for name in ("route-north.toml", "route-south.csv"):
        path = tmp_path / "schemes" / "examples" / name
        path.write_text(_shift(path.read_text(), days))
    fleet = _shift((ROOT / "config" / "demo-fleet.toml").read_text(), days)
    (tmp_path / "config" / "demo-fleet.toml").write_text(fleet)
    shutil.copy(ROOT / "config" / "meter-models.toml", tmp_path / "config")
    demo = (ROOT / "config" / "demo.toml").read_text()
    demo = demo.replace("poll_seconds = 1.0", "poll_seconds = 0.1")
    demo = demo.replace("debounce_seconds = 0.2", "debounce_seconds = 0.05")
    (tmp_path / "config" / "demo.toml").write_text(demo)
    return tmp_path / "config" / "demo.toml", tomllib.loads(fleet)["meters"], days


def _days() -> timedelta:
    return datetime.now(UTC).date() - DEMO_DAY


def _utc(local: str) -> int:           # the fleet's clocks run on UTC
    return int(datetime.fromisoformat(local).replace(tzinfo=UTC).timestamp())


def test_the_demo_brings_every_meters_profile_home_flags_its_outages_and_counts_them(
        tmp_path, capsys):
    config, meters, days = _demo_copy(tmp_path)
    outages = {m["serial"]: m["outages"] for m in meters if m.get("outages")}
    assert len(meters) == 6 and len(outages) == 2      # the demo fleet schedules them
    assert main(["run", "--once", "--config", str(config), "--log-format", "text"]) == 0
    summary = capsys.readouterr().out
    var = tmp_path / "var" / "demo"
    catalog = load_catalog(tmp_path / "config" / "meter-models.toml")

    store = open_store(var / "hhu-sync.db")
    try:
        held = {m["serial"]: store.intervals(m["serial"]) for m in meters}
        findings = {m["serial"]: store.vee_findings(m["serial"]) for m in meters}
        events = {m["serial"]: store.meter_events(m["serial"]) for m in meters}
        exceptions = {r["kind"]: r["n"] for r in store.status()["exceptions"]}
    finally:
        store.close()

    # Every demo meter's profile, on every channel its model records, since 1 November.
    # Every interval from then to the visit, but those an outage spanned.
    since = _utc(_shift("2026-11-01T00:00:00", days))
    for m in meters:
        rows = held[m["serial"]]
        channels = set(catalog[m["model"]].profile_channels)
        assert {h.channel for h in rows} == channels, m
        last = max(h.interval_end for h in rows)
        assert last - since > 28 * 86400                   # four weeks and more
        down = {e for a, b in m.get("outages", ()) for e in
                range(-(-_utc(a) // 1800) * 1800 + 1800, -(-_utc(b) // 1800) * 1800, 1800)}
        want = set(range(since + 1800, last + 1, 1800)) - down
        for channel in channels:
            assert {h.interval_end for h in rows if h.channel == channel} == want, m

    # Each outage: the intervals it cuts into flagged, those it spans missing (the
    # Elster meters record none) and found by VEE, power down and up in the event log.
    for serial, spans in outages.items():
        for start_s, end_s in spans:
            start, end = _utc(start_s), _utc(end_s)
            imp = {h.interval_end: h.status for h in held[serial] if h.channel == "1.8.0"}
            cut_in = -(-start // 1800) * 1800              # the interval it began in
            back = -(-end // 1800) * 1800                  # ... and the one it ended in
            assert imp[cut_in] & S.POWER_FAIL and imp[back] & S.POWER_RECOVERY
            spanned = range(cut_in + 1800, back, 1800)
            assert spanned and not any(e in imp for e in spanned)
            assert [(e.kind, e.at) for e in events[serial]] == [
                (EventKind.POWER_DOWN, start), (EventKind.POWER_UP, end)]
            missing = [f for f in findings[serial] if f[0] == "missing"]
            assert {f[1] for f in missing} == {h.channel for h in held[serial]}
            assert all((f[2], f[3]) == (spanned[0], spanned[-1]) for f in missing)
    clean = [s for s in held if s not in outages]
    assert not any(findings[s] for s in clean) and not any(events[s] for s in clean)
    vee_total = sum(len(f) for f in findings.values())
    assert exceptions.get("interval_validation") == vee_total

    # The exports: each upload's interval records, CSV and CMEP, as the store holds them.
    exports = var / "exports"
    uploads = sorted(p.name[:-len(".intervals.csv")] for p in exports.glob("*.intervals.csv"))
    assert len(uploads) == 2                            # one a route
    rows, cmep = [], []
    for upload in uploads:
        with (exports / f"{upload}.intervals.csv").open(newline="") as f:
            rows += list(csv.DictReader(f))
        cmep += list(csv.reader((exports / f"{upload}.intervals.cmep").open(newline="")))
    assert cmep and {r[0] for r in cmep} == {"MEPMD01"}
    assert {r[7].partition(":")[0] for r in cmep} == set(held)     # SERIAL:CHANNEL
    assert sum(int(r[13]) for r in cmep) == sum(len(h) for h in held.values())
    assert len(rows) == sum(len(h) for h in held.values())
    assert {r["meter"] for r in rows} == set(held)
    flagged = {(r["meter"], r["interval_end_utc"]) for r in rows
               if "power_fail" in r["flags"].split("|")}
    assert ("35100002", datetime.fromtimestamp(
        -(-_utc(outages["35100002"][0][0]) // 1800) * 1800, UTC)
        .strftime("%Y-%m-%dT%H:%M:%SZ")) in flagged

    # The unload reports and the summary count the intervals, events and findings.
    reports = [json.loads(p.read_text()) for p in (exports / "reports").glob("*.json")]
    intervals_total = sum(len(h) for h in held.values())
    assert sum(r["intervals_stored"] for r in reports) == intervals_total
    assert sum(r["vee_findings"] for r in reports) == vee_total
    assert sum(r["events_stored"] for r in reports) == 2 * len(outages)
    lines = summary.splitlines()
    assert f"intervals stored: {intervals_total} (0 already held, 0 conflicts)" in lines
    assert f"validation findings: {vee_total}" in lines
    assert f"events stored: {2 * len(outages)}" in lines
