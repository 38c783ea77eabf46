"""Issue 15's whole-route bench runs a tiny route end to end: its tables are printed, and
the store holds exactly the intervals the simulated meters recorded. Times are not
asserted; docs/benchmarks.md quotes a full run."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from hhu_firmware_sim.meter.fleet import load_field_fleet
from hhu_sync.iec62056.loadprofile import interval_status
from hhu_sync.store import open_store
from tests.conftest import ROOT

VISIT = datetime(2026, 11, 25, tzinfo=UTC)     # when the bench's crew reads every meter
METERS, DAYS, CHANNELS = 2, 2, 4
ROWS = ("field trip:", "visits", "series / values", "wall seconds", "meters/s, values/s",
        "bytes read from meters", "profile parse MB/s", "upload in flash",
        "link:", "bytes on the line", "upload seconds", "goodput: sealed file",
        "goodput: payload as the HHU holds it", "goodput: payload as version 2",
        "goodput: values plain", "goodput: meter text", "on the line per value", "ingest:",
        "daemon", "raw executemany", "ratio", "check (worker) seconds", "peak RSS")


def recorded(fleet) -> dict[str, dict[str, list[tuple[int, int, int]]]]:
    """Per meter and channel, (end, mantissa, status) of every interval the simulated
    meter recorded in the span the list asks for (its last DAYS days before the visit)."""
    now, since = int(VISIT.timestamp()), int((VISIT - timedelta(days=DAYS)).timestamp())
    out: dict[str, dict[str, list[tuple[int, int, int]]]] = {}
    for meter in load_field_fleet(fleet).fleet.meters:
        rec = meter.recorder
        for end in rec.ends(now, since + 1):
            for code, value in zip(rec.config.channels, rec.values(end), strict=True):
                out.setdefault(meter.serial, {}).setdefault(code, []).append(
                    (end, value, int(interval_status(rec.status(end), "vdew"))))
    return out


def test_a_tiny_route_prints_every_stage_and_stores_what_the_meters_recorded(tmp_path):
    work = tmp_path / "route"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "profile.py"),
                           "--meters", str(METERS), "--days", str(DAYS), "--load", "steps",
                           "--check", "--workdir", str(work)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    names = [r for r in ROWS if any(line.startswith(r) for line in lines)]
    assert names == list(ROWS), done.stdout
    values = METERS * CHANNELS * DAYS * 48
    (counts,) = [line for line in lines if line.startswith("series / values")]
    assert counts.split()[-3:] == [str(METERS * CHANNELS), "/", f"{values:,}"], counts
    assert "stored = recorded: yes" in lines
    assert lines[-1].startswith(f"route: {METERS} meters, {values:,} values, "), lines[-1]

    expected = recorded(work / "fleet.toml")
    assert len(expected) == METERS
    assert sum(len(v) for ch in expected.values() for v in ch.values()) == values
    assert any(s for ch in expected.values() for v in ch.values() for _, _, s in v), \
        "each meter's outage flags some intervals"
    store = open_store(work / "var" / "hhu-sync.db")
    try:
        for serial, channels in expected.items():
            held: dict[str, list[tuple[int, int | None, int]]] = {}
            for h in store.intervals(serial):
                held.setdefault(h.channel, []).append((h.interval_end, h.value, h.status))
            assert held == channels, serial
    finally:
        store.close()
