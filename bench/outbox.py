"""Outbox bench: drop N Quick-send schemes at once; measure files/s and close-to-queued latency.

    python bench/outbox.py [--files 5000] [--rate FILES_PER_S] [--workers 2] [--floor]

The daemon runs in this process with its real watcher (watchdog/inotify), processor,
store and packer. Each file is written and closed by the bench (its close time noted);
it counts as queued when its delivery and its sealed transfer file are committed in the
database. Last line: ``outbox: N files in S s = R files/s, p50 X ms, p99 Y ms``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hhu_sync  # noqa: E402
from hhu_sync.config import load_config  # noqa: E402
from hhu_sync.daemon import Daemon  # noqa: E402
from hhu_sync.keys import KeyStore  # noqa: E402
from hhu_sync.outbox.mover import signature  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CODE = Path(hhu_sync.__file__).parent     # which checkout this run measures
TEMPLATE = (ROOT / "schemes" / "examples" / "a1700-ci-tou.toml").read_text()
CONFIG = """
[depot]
id = "BENCH"
[[hhus]]
id = "HHU-001"
[limits]
debounce_seconds = {debounce}
outbox_workers = {workers}
[schedule]
rescan_seconds = 60
"""


def write_files(folder: Path, count: int, rate: float) -> int:
    """Child process: write ``count`` schemes, printing each one's close time."""
    start = time.monotonic()
    for n in range(count):
        if rate:
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        name = f"s{n:05d}.toml"
        text = TEMPLATE.replace('id = "a1700-ci-tou-2026"', f'id = "bench-{n:05d}"', 1)
        with open(folder / name, "w") as fh:
            fh.write(text)
        print(name, time.monotonic())
    return 0


def _reuse_one_examination(daemon, config) -> None:
    """``--floor``: each file is read and hashed as usual, but its check and seal are one
    made in advance, given the file's own id. What is left is the daemon's own cost
    (watchdog, the ready-file tracking, the commit, the moves), to set the real run
    against."""
    import hhu_sync.outbox.examine as examine

    ctx = daemon.processor.examiner.ctx
    probe = config.paths.outbox.parent / "probe" / "quick-send" / "HHU-001" / "p.toml"
    probe.parent.mkdir(parents=True)
    probe.write_text(TEMPLATE)
    made = examine.examine_file(replace(ctx, outbox=probe.parents[2], debounce=0.0), probe)
    made = replace(made, scheme=made.scheme.record())

    def reuse(ctx, paths):
        out = []
        for path in paths:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                raw = fh.read(st.st_size + 1)
            out.append(replace(made, path=path, sha=hashlib.sha256(raw).hexdigest(),
                               read_as=signature(st),
                               scheme=replace(made.scheme, id="bench-" + path.stem[1:])))
        return out

    examine.examine_files = reuse


def _workers_cpu(daemon) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each outbox worker process."""
    pool = daemon.processor.examiner._pool
    out: dict[int, float] = {}
    for pid in list(getattr(pool, "_processes", None) or ()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--debounce", type=float, default=0.05)
    ap.add_argument("--rate", type=float, default=0.0,
                    help="files per second to drop (0: all at once)")
    ap.add_argument("--workers", type=int, default=2,
                    help="limits.outbox_workers (0: all in the daemon's process)")
    ap.add_argument("--floor", action="store_true",
                    help="check and seal each file by reusing one result made in advance "
                         "(in the daemon's process): what everything else costs")
    ap.add_argument("--batch", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--write-into", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write_into:
        return write_files(Path(args.write_into), args.files, args.rate)
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = Path(tmp) / "hhu-sync.toml"
        workers = 0 if args.floor else args.workers
        cfg_path.write_text(CONFIG.format(debounce=args.debounce, workers=workers))
        config = load_config(cfg_path)
        keystore = KeyStore(config.paths.keystore)
        keystore.enroll("HHU-001")
        for name in ("a1700-level1", "a1700-level3"):
            keystore.set_secret(name, "bench-" + name)
        daemon = Daemon(config)
        if args.floor:
            _reuse_one_examination(daemon, config)
        if args.batch:
            import hhu_sync.daemon
            hhu_sync.daemon.BATCH = hhu_sync.daemon.BIG_BATCH = args.batch
        done: dict[str, float] = {}
        process_many = daemon.processor.process_many

        def timed(*args, **kwargs):
            for outcomes in process_many(*args, **kwargs):   # each batch after its commit
                now = time.monotonic()
                for outcome in outcomes:
                    if outcome.status == "accepted":
                        done[outcome.path.name] = now
                yield outcomes

        daemon.processor.process_many = timed
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        # A depot's daemon runs all day: its outbox workers are up before a burst.
        deadline = time.monotonic() + 60
        while not (daemon.watcher.alive() and (daemon.processor.examiner.pooled
                                               or not config.limits.outbox_workers)):
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        folder = config.paths.outbox / "quick-send" / "HHU-001"
        folder.mkdir(parents=True)
        time.sleep(0.2)
        # Back office writes from another process (as it would): the daemon's process
        # is measured alone. CLOCK_MONOTONIC is shared, so close times compare.
        writer = subprocess.Popen([sys.executable, __file__, "--write-into", str(folder),
                                   "--files", str(args.files), "--rate", str(args.rate)],
                                  stdout=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        workers0 = _workers_cpu(daemon)
        out, _ = writer.communicate(timeout=600)
        closed = {name: float(t) for name, t in (line.split() for line in out.splitlines())}
        t0 = min(closed.values(), default=t0)
        writing = max(closed.values(), default=t0) - t0
        deadline = time.monotonic() + 600
        while len(done) < args.files and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = max(done.values()) - t0 if done else float("nan")
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        workers1 = _workers_cpu(daemon)
        wr = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        workers = sum(workers1.get(pid, 0.0) - t for pid, t in workers0.items())
        print(f"cpu per file: daemon {own / args.files * 1e6:.0f} us + workers "
              f"{workers / args.files * 1e6:.0f} us = "
              f"{(own + workers) / args.files * 1e6:.0f} us; writer "
              f"{(wr.ru_utime + wr.ru_stime) / args.files * 1e6:.0f} us")
        daemon.stop.set()
        thread.join(60)
        with closing(sqlite3.connect(config.paths.database)) as db:
            queued = db.execute("SELECT COUNT(*) FROM deliveries "
                                "WHERE bundle IS NOT NULL").fetchone()[0]
    lat = sorted((done[k] - closed[k]) * 1000 for k in done)
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    rate = len(done) / elapsed
    print(f"{'files':>8}{'writing s':>11}{'seconds':>10}{'files/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
          f"{'transfer files':>16}")
    print(f"{len(done):>8}{writing:>11.2f}{elapsed:>10.2f}{rate:>10.0f}{p50:>10.0f}{p99:>10.0f}{queued:>16}")
    print(f"code: {CODE}")
    mode = f"dropped at {args.rate:g}/s" if args.rate else "dropped at once"
    print(f"outbox: {len(done)} files ({mode}) in {elapsed:.2f} s = {rate:.0f} files/s, "
          f"p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    return 0 if len(done) == args.files == queued else 1


if __name__ == "__main__":
    sys.exit(main())
