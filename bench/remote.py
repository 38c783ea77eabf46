#!/usr/bin/env python3
"""Remote-run bench (issue 17): simulated meters behind gateways, read by the depot.

    bench/remote.py [--meters 1000] [--gateways 50] [--baud 9600] [--sessions 1]
                    [--concurrency N] [--solo 10]

The fleet (``serve_fleet``, in this process) puts ``--meters`` MT174s behind ``--gateways``
TCP-to-serial gateways, each behind a paced line (``hhu-sim line``'s ``baud``), every
meter holding a day of 30-minute profile (two channels). The depot is a child process of
its own (``RemoteRunner`` on a fresh SQLite store), so its CPU time and peak memory are
its alone. Each meter: its registers and one day of profile (``since`` a day ago).

Two runs, side by side in one invocation:

* **solo**: ``--solo`` meters one after the other (one session, nothing else on any line):
  each session's line time (the port opened to closed), the best a meter can take;
* **fleet**: every meter, ``--concurrency`` sessions at once (default: the gateways'
  sessions, ``gateways × sessions``).

Ideal = meters × mean solo line time / allowed concurrency (``min(concurrency,
gateways × sessions)``): the wall time if every session slot were busy all the time at
solo speed. The figure is ``ideal / wall`` (target >= 0.8). Printed as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

CHILD_TIMEOUT_S = 3600.0


def fleet_toml(meters: int, gateways: int, baud: int, sessions: int, start: datetime) -> str:
    out = []
    for g in range(gateways):
        out += ["[[links]]", f'name = "gw{g:03d}"', 'kind = "gateway"',
                f"sessions = {sessions}", f"line = {{ baud = {baud} }}", ""]
    for n in range(meters):
        out += ["[[meters]]", f'serial = "{52000000 + n}"', 'model = "MT174"',
                f'address = "{1000 + n}"', f'link = "gw{n % gateways:03d}"',
                f"start = {start.isoformat()}", 'load_kw = "4.5"',
                "profile = { interval_minutes = 30 }", ""]
    return "\n".join(out)


# -- the depot (child process) ----------------------------------------------------------

def depot(spec_path: str) -> None:
    """Run one remote list in this process; print what it took as one JSON line."""
    from hhu_sync.model.catalog import load_catalog
    from hhu_sync.model.meterlist import parse_meter_list_toml
    from hhu_sync.remote.runner import RemoteRunner, RunSettings, open_serial
    from hhu_sync.store.sqlite import SqliteStore

    spec = json.loads(Path(spec_path).read_text())
    catalog = load_catalog(ROOT / "config" / "meter-models.toml")
    mlist = parse_meter_list_toml(
        {"list": {"id": spec["list_id"], "target": "remote", "due": "2026-12-31"},
         "meters": spec["meters"]}, "bench.toml", catalog)
    sessions: list[tuple[float, float]] = []
    lock = threading.Lock()

    class Timed:
        """A port whose session (opened to closed) is timed: its line time."""

        def __init__(self, url: str) -> None:
            self.port = open_serial(url)
            self.t0 = time.perf_counter()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.port, name)

        @property
        def timeout(self) -> Any:
            return self.port.timeout

        @timeout.setter
        def timeout(self, value: Any) -> None:
            self.port.timeout = value

        @property
        def baudrate(self) -> Any:
            return self.port.baudrate

        @baudrate.setter
        def baudrate(self, value: Any) -> None:
            self.port.baudrate = value

        def close(self) -> None:
            self.port.close()
            with lock:
                sessions.append((self.t0, time.perf_counter()))

    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
        store = SqliteStore(Path(tmp) / "depot.sqlite")
        store.add_meter_list(mlist, datetime.now(UTC).isoformat())
        [run] = store.remote_runs()
        settings = RunSettings(concurrency=spec["concurrency"], meter_budget_s=300.0,
                               run_budget_s=CHILD_TIMEOUT_S, retries=2, backoff_s=1.0,
                               answer_timeout_s=1.5,
                               sessions_per_gateway=spec["sessions"])
        runner = RemoteRunner(store, runner_id="remote-BENCH", settings=settings,
                              open_port=Timed)
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        report = runner.run(run)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        runner.shutdown()
        intervals = sum(rep.intervals_stored for rep in report.reports) if report else 0
        store.close()
    outcomes: dict[str, int] = {}
    for m in report.meters if report else []:
        outcomes[m.outcome] = outcomes.get(m.outcome, 0) + 1
    print(json.dumps({
        "wall_s": wall, "cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
        "peak_rss_mb": r1.ru_maxrss / 1024, "line_s": [b - a for a, b in sessions],
        "outcomes": outcomes, "retries": report.retries if report else 0,
        "intervals": intervals, "state": report.state if report else None}), flush=True)


def run_depot(meters: list[dict[str, Any]], *, concurrency: int, sessions: int,
              list_id: str, tmp: Path) -> dict[str, Any]:
    spec = tmp / f"{list_id}.json"
    spec.write_text(json.dumps({"list_id": list_id, "meters": meters,
                                "concurrency": concurrency, "sessions": sessions}))
    done = subprocess.run([sys.executable, __file__, "--depot", str(spec)], check=True,
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the bench ------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--gateways", type=int, default=50)
    ap.add_argument("--baud", type=int, default=9600)
    ap.add_argument("--sessions", type=int, default=1,
                    help="sessions per gateway (the fleet's and the depot's)")
    ap.add_argument("--concurrency", type=int, default=0,
                    help="sessions at once in all (default: gateways x sessions)")
    ap.add_argument("--solo", type=int, default=10, help="meters of the solo run")
    ap.add_argument("--depot", metavar="SPEC", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.depot:
        depot(args.depot)
        return 0
    from hhu_firmware_sim.meter.network import serve_fleet

    gateways = min(args.gateways, args.meters)
    allowed = gateways * args.sessions
    concurrency = args.concurrency or allowed
    allowed = min(allowed, concurrency)
    now = datetime.now(UTC).replace(microsecond=0, second=0)
    meter_now = now.replace(tzinfo=None)
    start = (meter_now - timedelta(days=1, hours=2)).replace(minute=0)
    since = (now - timedelta(days=1)).replace(minute=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    console = Console(width=150)
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp_name:
        tmp = Path(tmp_name)
        fleet = tmp / "fleet.toml"
        fleet.write_text(fleet_toml(args.meters, gateways, args.baud, args.sessions, start))
        t_setup = time.perf_counter()
        with serve_fleet(fleet, idle_timeout=30.0) as net:
            for server in net.links.values():
                for meter in server.link.fleet.meters:
                    meter.at(meter_now)            # a day of profile behind each
            setup = time.perf_counter() - t_setup
            ep = net.meters
            entries = [{"serial": s, "task": "read", "port": e.url,
                        "device_address": e.address, "profile": True, "since": since}
                       for s, e in sorted(ep.items())]
            solo_entries = entries[:: max(1, len(entries) // max(1, args.solo))][:args.solo]
            solo = run_depot(solo_entries, concurrency=1, sessions=1, list_id="SOLO",
                             tmp=tmp)
            load = os.getloadavg()[0]
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            fleet_run = run_depot(entries, concurrency=concurrency, sessions=args.sessions,
                                  list_id="FLEET", tmp=tmp)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            sim_cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    mean_line = statistics.fmean(solo["line_s"])
    ideal = len(entries) * mean_line / allowed
    wall = fleet_run["wall_s"]
    busy = sum(fleet_run["line_s"]) / allowed / wall if wall else 0.0
    table = Table(title=f"remote run: {len(entries)} meters behind {gateways} gateways at "
                        f"{args.baud} baud, {args.sessions} session(s) a gateway, "
                        f"concurrency {concurrency}")
    for col in ("run", "meters", "wall s", "line s / meter", "ideal s", "ideal / wall",
                "depot CPU s", "depot peak MB", "outcomes", "retries"):
        table.add_column(col, justify="left" if col in ("run", "outcomes") else "right")
    table.add_row("solo (1 session)", str(len(solo_entries)), f"{solo['wall_s']:.1f}",
                  f"{mean_line:.2f}", f"{len(solo_entries) * mean_line:.1f}",
                  f"{len(solo_entries) * mean_line / solo['wall_s']:.2f}",
                  f"{solo['cpu_s']:.1f}", f"{solo['peak_rss_mb']:.0f}",
                  json.dumps(solo["outcomes"]), str(solo["retries"]))
    table.add_row("fleet", str(len(entries)), f"{wall:.1f}",
                  f"{statistics.fmean(fleet_run['line_s']):.2f}", f"{ideal:.1f}",
                  f"{ideal / wall:.2f}", f"{fleet_run['cpu_s']:.1f}",
                  f"{fleet_run['peak_rss_mb']:.0f}", json.dumps(fleet_run["outcomes"]),
                  str(fleet_run["retries"]))
    console.print(table)
    console.print(f"ideal = {len(entries)} meters x {mean_line:.2f} s solo line time / "
                  f"{allowed} sessions = {ideal:.1f} s; wall {wall:.1f} s; ideal / wall = "
                  f"{ideal / wall:.2f} (target >= 0.8); session slots busy {busy:.0%}; "
                  f"{fleet_run['intervals']} intervals stored; list {fleet_run['state']}; "
                  f"fleet set up in {setup:.1f} s")
    console.print(f"simulator (this process) CPU during the fleet run {sim_cpu:.1f} s; "
                  f"load average at its start {load:.1f} on {os.cpu_count()} CPUs")
    return 0 if ideal / wall >= 0.8 else 1


if __name__ == "__main__":
    sys.exit(main())
