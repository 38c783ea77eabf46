"""Scale: N simulated HHUs on sockets, each behind a 115200-baud line, all docked at once.

    python bench/docks.py [--hhus 32] [--bundle-kib 48] [--upload-kib 48] [--baud 115200]

Each HHU (a DeviceServer on TCP, behind its own LineSim pacing baud/10 bytes a second
with 2 ms latency) has a meter list to take and a readings upload to give. The daemon
runs in this process with one cradle per HHU (``socket://`` to the line) and serves them
all at once. A session pulls the upload, then pushes the bundle, so one direction of a
line is busy at a time: the ceiling is N x baud/10 bytes a second. Prints aggregate
goodput against that ceiling, the slowest session, the depot's CPU time per MB moved (the
simulated HHUs and lines run in child processes) and the depot's peak memory. Last line:
``docks: N HHUs, G B/s = S of N x line rate, slowest T s, C cpu-s/MB, M MB peak``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hhu_firmware_sim.device import load_device  # noqa: E402
from hhu_firmware_sim.flash import FlashStore  # noqa: E402
from hhu_firmware_sim.line import LineSim  # noqa: E402
from hhu_firmware_sim.server import DeviceServer  # noqa: E402
from hhu_sync.config import load_config  # noqa: E402
from hhu_sync.daemon import Daemon  # noqa: E402
from hhu_sync.keys import KeyStore, load_key_file  # noqa: E402
from hhu_sync.logsetup import setup_logging  # noqa: E402
from hhu_sync.transfer import encode_transfer  # noqa: E402


def upload_bytes(hhu: str, key: bytes, size: int) -> tuple[str, bytes]:
    """A readings upload of about ``size`` bytes that zlib cannot shrink much."""
    visits, n = [], 0
    while True:
        rnd = os.urandom(24).hex()
        visits.append({"meter": f"{hhu[-3:]}{n:05d}", "list": "",     # meters of its own
                       "time": "2026-11-25T10:00:00+00:00", "outcome": "done", "notes": rnd,
                       "registers": [[f"1.8.{i}", f"{int(rnd[i * 4:i * 4 + 6], 16)}.{i}", "kWh",
                                      "2026-11-25T10:00:00+00:00"] for i in range(4)]})
        n += 1
        if n % 50 == 0:
            data = encode_transfer("readings", {"visits": visits}, source=hhu, target="depot",
                                   key=key, bundle_id=f"R-{hhu}")
            if len(data) >= size:
                return f"R-{hhu}", data


def meter_list(hhu: str, size: int) -> str:
    rows, n = [], 0
    while len("".join(rows)) < size * 1.6:      # the list is compressed in the bundle
        rows.append(f'[[meters]]\nserial = "{n:08d}"\ntask = "read"\n'
                    f'notes = "{os.urandom(20).hex()}"\n')
        n += 1
    return f'[list]\nid = "bench-{hhu}"\nhhu = "{hhu}"\ndue = 2026-12-01\n\n' + "\n".join(rows)


def serve_sims(root: Path, first: int, n: int, baud: int, latency_ms: float,
               piece_ms: float) -> int:
    """Child process: HHUs first..first+n-1, each behind a line; print the line URLs."""
    servers, lines = [], []
    for i in range(first, first + n):
        hhu = f"HHU-{i:03d}"
        key_file = root / "var" / "keystore" / "hhus" / f"{hhu}.key"
        server = DeviceServer(load_device(hhu, key_file, root / "flash" / hhu)).start()
        servers.append(server)
        lines.append(LineSim(server.address, baud=baud, latency_ms=latency_ms,
                             piece_ms=piece_ms).start())
    print(json.dumps([line.url for line in lines]), flush=True)
    sys.stdin.read()              # until the bench closes our stdin
    for item in (*lines, *servers):
        item.stop()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--serve-sims", metavar="ROOT", help=argparse.SUPPRESS)
    ap.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--sim-procs", type=int, default=4,
                    help="child processes the simulated HHUs and lines are spread over "
                         "(one interpreter lock each)")
    ap.add_argument("--hhus", type=int, default=32)
    ap.add_argument("--bundle-kib", type=int, default=48)
    ap.add_argument("--upload-kib", type=int, default=48)
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--latency-ms", type=float, default=2.0)
    ap.add_argument("--piece-ms", type=float, default=5.4,
                    help="the line delivers bytes in pieces this long (5.4 ms = 62 bytes at "
                         "115200 baud: a USB full-speed serial adapter's packet)")
    args = ap.parse_args()
    setup_logging("text", "warning")
    n = args.hhus
    if args.serve_sims:
        return serve_sims(Path(args.serve_sims), args.first, n, args.baud, args.latency_ms,
                          args.piece_ms)
    with tempfile.TemporaryDirectory(prefix="hhu-docks-") as tmp:
        root = Path(tmp)
        ks = KeyStore(root / "var" / "keystore")
        moved = 0
        for i in range(n):
            hhu = f"HHU-{i:03d}"
            key_file = ks.enroll(hhu)
            flash = FlashStore(root / "flash" / hhu, capacity=64 * 2**20)
            upload_id, data = upload_bytes(hhu, load_key_file(key_file), args.upload_kib * 1024)
            flash.store_upload(upload_id, data)
            moved += len(data)
        # The HHUs and their lines run in child processes, so that the CPU time measured
        # here is the depot's alone, and a simulator's interpreter lock is not the limit.
        procs = max(1, min(args.sim_procs, n))
        bounds = [(k * n // procs, (k + 1) * n // procs) for k in range(procs)]
        sims = [subprocess.Popen(
            [sys.executable, __file__, "--serve-sims", str(root), "--first", str(lo),
             "--hhus", str(hi - lo), "--baud", str(args.baud), "--latency-ms",
             str(args.latency_ms), "--piece-ms", str(args.piece_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for lo, hi in bounds]
        urls = [url for sim in sims for url in json.loads(sim.stdout.readline())]
        docks = [f'[[docks]]\nname = "cradle-{i:03d}"\nport = "{url}"\nbaud = {args.baud}\n'
                 for i, url in enumerate(urls)]
        (root / "hhu-sync.toml").write_text(
            "[limits]\ndebounce_seconds = 0.05\nhandshake_seconds = 5\n"
            f"max_sessions = {n}\n[schedule]\npoll_seconds = 0.5\n" + "\n".join(docks))
        config = load_config(root / "hhu-sync.toml")
        config.paths.outbox.mkdir(parents=True)
        daemon = Daemon(config)
        for i in range(n):                       # queue every list before the first poll
            hhu = f"HHU-{i:03d}"
            path = config.paths.outbox / f"{hhu}.toml"
            path.write_text(meter_list(hhu, args.bundle_kib * 1024))
            os.utime(path, (time.time() - 60, time.time() - 60))   # dropped a while ago
            outcome = daemon.processor.process(path)
            assert outcome.status == "accepted", outcome
        with closing(sqlite3.connect(config.paths.database)) as db:
            moved += sum(n for (n,) in db.execute("SELECT length(bundle) FROM deliveries"))
        daemon.docks.decoder.start()   # the daemon's start-up is not part of a docking
        cpu0 = time.process_time()
        t0 = time.monotonic()
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        done_at: dict[str, float] = {}
        deadline = t0 + 600
        # A session is done when its bundle is delivered and its upload cleared; looked
        # for every 20 ms (read-only, WAL: the daemon's writers are not held up).
        with closing(sqlite3.connect(f"file:{config.paths.database}?mode=ro",
                                     uri=True)) as db:
            while len(done_at) < n and time.monotonic() < deadline:
                delivered = {r[0] for r in db.execute(
                    "SELECT target_hhu FROM deliveries WHERE state='delivered'")}
                cleared = {r[0] for r in db.execute(
                    "SELECT hhu_id FROM uploads WHERE cleared_at IS NOT NULL")}
                for hhu in delivered & cleared:
                    done_at.setdefault(hhu, time.monotonic() - t0)
                time.sleep(0.02)
        elapsed = max(done_at.values()) if done_at else float("nan")
        cpu = time.process_time() - cpu0
        daemon.stop.set()
        thread.join(60)
        for sim in sims:
            sim.stdin.close()
        for sim in sims:
            sim.wait(60)
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        sim_cpu = child.ru_utime + child.ru_stime
    ceiling = n * args.baud / 10
    goodput = moved / elapsed
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = sorted(done_at.values())
    print(f"{'HHUs':>5}{'bytes moved':>13}{'seconds':>9}{'goodput B/s':>13}{'of ceiling':>12}"
          f"{'fastest s':>11}{'slowest s':>11}{'cpu-s/MB':>10}{'peak MB':>9}")
    print(f"{n:>5}{moved:>13}{elapsed:>9.1f}{goodput:>13.0f}{goodput / ceiling:>12.3f}"
          f"{times[0]:>11.1f}{times[-1]:>11.1f}{cpu / (moved / 2**20):>10.2f}{peak:>9.0f}")
    print(f"simulated HHUs and lines ({procs} child processes): {sim_cpu:.1f} cpu-s in "
          f"{elapsed:.1f} s")
    print(f"docks: {n} HHUs, {goodput:.0f} B/s = {goodput / ceiling:.3f} of N x line rate, "
          f"slowest {times[-1]:.1f} s, {cpu / (moved / 2**20):.2f} cpu-s/MB, {peak:.0f} MB peak")
    return 0 if len(done_at) == n else 1


if __name__ == "__main__":
    sys.exit(main())
