"""Web bench: the docks with and without people watching them.

    python bench/web.py [--hhus 32] [--viewers 50] [--page-rate 10] [--rounds 1]

Each round runs ``bench/docks.py``'s docking twice, side by side on the same machine,
from the same prepared depot: once with no web app, once with the daemon serving it
and ``--viewers`` browsers' worth of clients each holding the docks page's event
stream (``/api/docks/events``) open, plus page requests (``/docks``, ``/api/docks``,
alternately) at ``--page-rate`` a second in all, from a process of their own (browsers
are not on the daemon's interpreter lock). Printed: each run's fraction of N x
line rate and depot CPU per MB, the ratio of the two fractions (target: within 3%),
the events the viewers received and the page times (median, p95, worst).

    python bench/web.py --readings [--meters 10000] [--per-meter 100] [--requests 60]

``--readings``: the readings and schemes pages on a big store instead (target: p95
under 100 ms with 1,000,000 readings of 10,000 meters). The store is filled by direct
SQLite bulk inserts (``fill_readings``: lists of 100 meters with sites, an upload and a
visit a meter each week, five registers a meter), then the web app serves it alone
(``hhu-sync web``) and one client asks each page ``--requests`` times, one after another,
for random meters, sites, lists and deep pages: printed per page, median, p95 and worst.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docks  # noqa: E402

from hhu_sync.config import Web, parse_config  # noqa: E402
from hhu_sync.logsetup import setup_logging  # noqa: E402
from hhu_sync.model.catalog import load_catalog  # noqa: E402
from hhu_sync.model.loader import load_toml  # noqa: E402
from hhu_sync.model.scheme import parse_scheme  # noqa: E402
from hhu_sync.store import SqliteStore  # noqa: E402
from hhu_sync.web.accounts import Accounts  # noqa: E402
from hhu_sync.web.server import WebServer  # noqa: E402

USER, PASSWORD = "bench-office", "a bench password"


def _login(address: tuple[str, int]) -> str:
    conn = http.client.HTTPConnection(*address, timeout=30)
    conn.request("POST", "/login", body=f"username={USER}&password={PASSWORD.replace(' ', '+')}",
                 headers={"content-type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    r.read()
    conn.close()
    cookie = r.getheader("set-cookie")
    if r.status != 303 or not cookie:
        raise SystemExit(f"bench: login failed ({r.status})")
    return cookie.split(";")[0]


class Viewers:
    """N event-stream readers and one page requester, on threads; ``stop()`` ends them."""

    def __init__(self, address: tuple[str, int], cookie: str, n: int, rate: float) -> None:
        self.address, self.cookie = address, cookie
        self.events = 0
        self.page_times: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[http.client.HTTPConnection] = []
        self.threads = [threading.Thread(target=self._watch, daemon=True) for _ in range(n)]
        self.threads.append(threading.Thread(target=self._pages, args=(rate,), daemon=True))
        for t in self.threads:
            t.start()

    def _watch(self) -> None:
        conn = http.client.HTTPConnection(*self.address, timeout=30)
        with self._lock:
            self._conns.append(conn)
        try:
            conn.request("GET", "/api/docks/events", headers={"cookie": self.cookie})
            r = conn.getresponse()
            while not self._stop.is_set():
                line = r.readline()
                if not line:
                    return
                if line.startswith(b"event: "):
                    with self._lock:
                        self.events += 1
        except OSError:
            if not self._stop.is_set():
                with self._lock:
                    self.failures += 1

    def _pages(self, rate: float) -> None:
        conn = http.client.HTTPConnection(*self.address, timeout=30)
        paths = ("/docks", "/api/docks")
        i = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                conn.request("GET", paths[i % 2], headers={"cookie": self.cookie})
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
                conn = http.client.HTTPConnection(*self.address, timeout=30)
            with self._lock:
                if ok:
                    self.page_times.append(time.monotonic() - t0)
                else:
                    self.failures += 1
            i += 1
            next_at += 1.0 / rate
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for conn in self._conns:
                if conn.sock is not None:
                    conn.sock.close()
        for t in self.threads:
            t.join(10)


def one_run(root: Path, n: int, args, viewers: int) -> dict:
    moved = docks.prepare(root, n, args.upload_kib, args.bundle_kib)
    sims, urls = docks.start_sims(root, n, args.sim_procs, args.baud, args.latency_ms, 5.4)
    daemon = docks.configure(root, urls, args.baud)
    moved += docks.queue_lists(daemon, n, args.bundle_kib)
    watching = None
    if viewers:
        Accounts(daemon.store).add(USER, "office", PASSWORD, actor="bench")
        config = replace(daemon.config, web=Web(listen=("127.0.0.1", 0)))
        daemon.web = WebServer(config, daemon.store, daemon.docks.events).start()
        host, port = daemon.web.address
        # in a process of their own, as browsers are: not on the daemon's interpreter lock
        watching = subprocess.Popen(
            [sys.executable, __file__, "--serve-viewers", f"{host}:{port}",
             _login(daemon.web.address), str(viewers), str(args.page_rate)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ceiling = n * args.baud / 10
    done_at, elapsed, cpu, _ = docks.dock_all(daemon, n, 60 + 20 * moved / ceiling)
    for sim in sims:
        sim.stdin.close()
    for sim in sims:
        sim.wait(60)
    result = {"fraction": moved / elapsed / ceiling, "cpu_per_mb": sum(cpu.values()) /
              (moved / 2**20), "ok": len(done_at) == n}
    if watching is not None:
        assert watching.stdin is not None and watching.stdout is not None
        watching.stdin.close()
        seen = json.loads(watching.stdout.readline())
        watching.wait(30)
        times = sorted(seen["page_times"]) or [float("nan")]
        result |= {"events": seen["events"], "failures": seen["failures"],
                   "pages": len(times), "median_ms": 1000 * statistics.median(times),
                   "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))],
                   "worst_ms": 1000 * times[-1]}
    return result


def serve_viewers(address: str, cookie: str, n: int, rate: float) -> int:
    """Child process: the viewers until standard input closes; then what they saw."""
    host, _, port = address.rpartition(":")
    watching = Viewers((host, int(port)), cookie, n, rate)
    sys.stdin.read()
    watching.stop()
    print(json.dumps({"events": watching.events, "failures": watching.failures,
                      "page_times": watching.page_times}), flush=True)
    return 0


REGISTERS = ("1.6.0", "1.8.0", "1.8.1", "1.8.2", "2.8.0")
STREETS = ("Mill Lane", "Station Road", "Church Street", "High Street", "Park Avenue",
           "Quarry Way", "Dock Road", "Forge Close", "Kiln Row", "Weir Lane")
PER_LIST = 100
WEEK_S = 7 * 86400
START = 1_767_225_600          # 2026-01-01 UTC


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def fill_readings(path: Path, meters: int, per_meter: int) -> float:
    """A store of ``meters`` meters with ``per_meter`` readings each (five registers, a
    reading of each a week), on lists of 100 with sites, a visit and an upload a week:
    straight into SQLite, sorted by key, one transaction. Returns the seconds it took."""
    SqliteStore(path).close()                       # the schema, as the daemon makes it
    rounds = max(1, per_meter // len(REGISTERS))
    t0 = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    entries, visits, uploads = [], [], []
    for k in range((meters + PER_LIST - 1) // PER_LIST):
        list_id = f"BL-{k:03d}"
        serials = [f"BM{n:05d}" for n in range(k * PER_LIST, min(meters, (k + 1) * PER_LIST))]
        sites = [f"{STREETS[(k + j) % len(STREETS)]} {j % 40 + 1}" for j in range(len(serials))]
        data = {"id": list_id, "name": list_id, "hhu": "HHU-001", "crew": None,
                "due": "2026-12-01", "notes": "", "meters": [
                    {"serial": m, "site": site, "address": "", "task": "read", "scheme": None,
                     "model": None, "notes": ""} for m, site in zip(serials, sites, strict=True)]}
        db.execute("INSERT INTO lists VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                   (list_id, list_id, "HHU-001", None, "2026-12-01", "complete", len(serials),
                    json.dumps(data), "HHU-001", _iso(START), _iso(START)))
        entries += [(list_id, j, m, "read", None, site)
                    for j, (m, site) in enumerate(zip(serials, sites, strict=True))]
        for r in range(rounds):
            upload_id = f"U-{k:03d}-{r:02d}"
            uploads.append((upload_id, "HHU-001", _iso(START + r * WEEK_S + 3600), len(serials),
                            len(serials) * len(REGISTERS), len(serials) * len(REGISTERS),
                            "0" * 64, None))
            visits += [(upload_id, j, m, list_id, _iso(START + r * WEEK_S + j * 60), "done",
                        None, None, "00000000", "crew-a", "", None)
                       for j, m in enumerate(serials)]
    db.executemany("INSERT INTO list_entries (list_id, seq, serial, task, scheme, site) "
                   "VALUES (?,?,?,?,?,?)", entries)
    db.executemany("INSERT INTO uploads (upload_id, hhu_id, received_at, visits, readings, "
                   "stored, sha256, cleared_at) VALUES (?,?,?,?,?,?,?,?)", uploads)
    db.executemany("INSERT INTO visits VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", visits)

    def rows():
        for n in range(meters):
            k, j = divmod(n, PER_LIST)
            for g, obis in enumerate(REGISTERS):
                for r in range(rounds):
                    yield (f"BM{n:05d}", obis, _iso(START + r * WEEK_S + j * 60),
                           f"{(n % 997) * 10 + r * (g + 1) * 12.5:.1f}",
                           "kW" if obis == "1.6.0" else "kWh", "ok", "HHU-001",
                           f"U-{k:03d}-{r:02d}", "", "", j)

    db.executemany("INSERT INTO readings (meter, obis, time, value, unit, status, hhu, "
                   "upload_id, value_time, reset_time, visit_seq) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows())
    db.execute("COMMIT")
    db.close()
    return time.perf_counter() - t0


def _example_schemes(store: SqliteStore) -> list[str]:
    catalog = load_catalog(docks.ROOT / "config" / "meter-models.toml")
    ids = []
    for n, path in enumerate(sorted((docks.ROOT / "schemes" / "examples").glob("a*.toml"))):
        data, locate = load_toml(path)
        scheme = parse_scheme(data, path.name, catalog, locate)
        store.accept_input(sha256=f"{n:064d}", name=path.name, kind="scheme", moved_to="",
                           now=_iso(START), scheme=scheme)
        ids.append(scheme.id)
    return ids


def readings_pages(meters: int, per_meter: int, requests: int) -> int:
    """``--readings``: the page times over a store of ``meters`` x ``per_meter``."""
    rng = random.Random(14)
    lists = (meters + PER_LIST - 1) // PER_LIST
    rounds = max(1, per_meter // len(REGISTERS))

    def meter() -> str:
        return f"BM{rng.randrange(meters):05d}"

    def cursor(obis: str | None = None) -> str:
        """A history cursor deep in a meter's readings (``OBIS|TIME``, URL-quoted)."""
        t = _iso(START + rng.randrange(1, rounds) * WEEK_S)
        return f"after={obis or rng.choice(REGISTERS[1:])}%7C{t.replace('+', '%2B')}"

    with tempfile.TemporaryDirectory(prefix="hhu-readings-") as tmp:
        path = Path(tmp) / "depot.db"
        took = fill_readings(path, meters, per_meter)
        store = SqliteStore(path)
        held = store._one("SELECT COUNT(*) FROM readings")
        print(f"filled {held:,} readings of {meters:,} meters in {took:.1f} s "
              f"({path.stat().st_size / 2**20:.0f} MB)")
        schemes = _example_schemes(store)
        Accounts(store).add(USER, "office", PASSWORD, actor="bench")
        config = parse_config({"web": {"listen": "127.0.0.1:0"}}, Path(tmp) / "web.toml")
        server = WebServer(config, store).start()
        pages: dict[str, Any] = {
            "/readings": lambda: "/readings",
            "/readings?meter= (prefix)": lambda: f"/readings?meter={meter()[:5]}",
            "/readings?site=": lambda: f"/readings?site={rng.choice(STREETS)[:4]}",
            "/readings?list=": lambda: f"/readings?list=BL-{rng.randrange(lists):03d}",
            "/readings?after= (deep)": lambda: f"/readings?after={meter()}",
            "/meters/{serial}": lambda: f"/meters/{meter()}",
            "/meters/{serial}?after=": lambda: f"/meters/{meter()}?{cursor()}",
            "/meters/{serial}?obis=": lambda: f"/meters/{meter()}?obis=1.8.1",
            "/api/readings?site=": lambda: f"/api/readings?site={rng.choice(STREETS)[:4]}",
            "/api/readings?meter=": lambda: f"/api/readings?meter={meter()[:6]}",
            "/api/meters/{serial}": lambda: f"/api/meters/{meter()}",
            "/api/meters/{serial}/readings": lambda: f"/api/meters/{meter()}/readings",
            "/api/meters/{serial}/readings?obis=&after=":
                lambda: f"/api/meters/{meter()}/readings?obis=1.8.1&{cursor('1.8.1')}",
            "/schemes": lambda: "/schemes",
            "/schemes/{id}": lambda: f"/schemes/{rng.choice(schemes)}",
            "/api/schemes/{id}": lambda: f"/api/schemes/{rng.choice(schemes)}",
        }
        try:
            cookie = _login(server.address)
            conn = http.client.HTTPConnection(*server.address, timeout=30)

            def get(target: str) -> float:
                t0 = time.perf_counter()
                conn.request("GET", target, headers={"cookie": cookie})
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise SystemExit(f"bench: {target} answered {r.status}")
                return time.perf_counter() - t0

            for make in pages.values():           # warm: templates compiled, pages cached
                get(make())
            print(f"{'page':<46}{'n':>5}{'median ms':>11}{'p95 ms':>9}{'worst ms':>10}")
            every: list[float] = []
            for name, make in pages.items():
                times = sorted(get(make()) for _ in range(requests))
                every += times
                print(f"{name:<46}{len(times):>5}{1000 * statistics.median(times):>11.1f}"
                      f"{1000 * _p95(times):>9.1f}{1000 * times[-1]:>10.1f}")
            every.sort()
            print(f"readings: {held:,} readings, {meters:,} meters: all pages p95 "
                  f"{1000 * _p95(every):.1f} ms, median {1000 * statistics.median(every):.1f} "
                  f"ms, worst {1000 * every[-1]:.1f} ms (target: p95 under 100 ms)")
            return 0 if _p95(every) < 0.1 else 1
        finally:
            server.stop()
            store.close()


def _p95(times: list[float]) -> float:
    return times[int(0.95 * (len(times) - 1))]


def main() -> int:
    if sys.argv[1:2] == ["--serve-viewers"]:
        address, cookie, n, rate = sys.argv[2:6]
        return serve_viewers(address, cookie, int(n), float(rate))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hhus", type=int, default=32)
    ap.add_argument("--viewers", type=int, default=50)
    ap.add_argument("--page-rate", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--sim-procs", type=int, default=4)
    ap.add_argument("--bundle-kib", type=int, default=48)
    ap.add_argument("--upload-kib", type=int, default=48)
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--latency-ms", type=float, default=2.0)
    ap.add_argument("--readings", action="store_true",
                    help="the readings and schemes pages over a big store instead")
    ap.add_argument("--meters", type=int, default=10_000)
    ap.add_argument("--per-meter", type=int, default=100)
    ap.add_argument("--requests", type=int, default=60, help="of each page (--readings)")
    args = ap.parse_args()
    setup_logging("text", "warning")
    if args.readings:
        return readings_pages(args.meters, args.per_meter, args.requests)
    print(f"{'round':>6}{'run':>14}{'of N x line':>13}{'depot cpu/MB':>14}{'events':>9}"
          f"{'pages':>7}{'median ms':>11}{'p95 ms':>9}{'worst ms':>10}")
    ok = True
    ratios = []
    for k in range(args.rounds):
        runs = {}
        for label, viewers in (("no viewers", 0), (f"{args.viewers} viewers", args.viewers)):
            with tempfile.TemporaryDirectory(prefix="hhu-web-") as tmp:
                r = runs[label] = one_run(Path(tmp), args.hhus, args, viewers)
            ok &= r["ok"] and not r.get("failures", 0)
            extra = (f"{r['events']:>9}{r['pages']:>7}{r['median_ms']:>11.1f}"
                     f"{r['p95_ms']:>9.1f}{r['worst_ms']:>10.1f}" if viewers else "")
            print(f"{k + 1:>6}{label:>14}{r['fraction']:>13.3f}{r['cpu_per_mb']:>14.3f}"
                  + extra)
        a, b = runs.values()
        ratios.append(b["fraction"] / a["fraction"])
    print(f"web: {args.hhus} HHUs, {args.viewers} viewers, {args.page_rate:g} pages/s: "
          f"line-rate fraction with viewers / without = "
          + ", ".join(f"{r:.3f}" for r in ratios))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
