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
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docks  # noqa: E402

from hhu_sync.config import Web  # noqa: E402
from hhu_sync.logsetup import setup_logging  # noqa: E402
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
    done_at, elapsed, cpu = docks.dock_all(daemon, n, 60 + 20 * moved / ceiling)
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
    args = ap.parse_args()
    setup_logging("text", "warning")
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
