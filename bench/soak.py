"""Soak: the daemon cycling continuously; memory and open files printed over time.

    python bench/soak.py --minutes 30 [--every 60]

The daemon runs in this process with one simulated HHU (hhusim://, synthetic field trip
after each docking). Each cycle drops a new meter list into the outbox and waits until
it is delivered, worked, read back and complete. Every ``--every`` seconds a row shows
cycles, resident memory, open file descriptors and threads; flat lines are the goal.
Last line: ``soak: M min, C cycles, rss A->B MB, fds X->Y, threads P->Q``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hhu_sync.config import load_config  # noqa: E402
from hhu_sync.daemon import Daemon  # noqa: E402
from hhu_sync.keys import KeyStore  # noqa: E402
from hhu_sync.logsetup import setup_logging  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--every", type=float, default=60)
    args = ap.parse_args()
    setup_logging("text", "warning")
    with tempfile.TemporaryDirectory(prefix="hhu-soak-") as tmp:
        root = Path(tmp)
        ks = KeyStore(root / "var" / "keystore")
        key = ks.enroll("HHU-001")
        (root / "hhu-sync.toml").write_text(f"""
[serial]
handler_packages = ["hhu_firmware_sim.urlhandler"]
[[hhus]]
id = "HHU-001"
[[docks]]
name = "cradle-1"
port = "hhusim://HHU-001?flash={root}/flash&key={key}&field_trip=synthetic"
[limits]
debounce_seconds = 0.05
[schedule]
poll_seconds = 0.2
rescan_seconds = 5
""")
        config = load_config(root / "hhu-sync.toml")
        daemon = Daemon(config)
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        db = root / "var" / "hhu-sync.db"
        start = time.monotonic()
        end = start + args.minutes * 60
        next_row = start
        cycles = 0
        first = None
        print(f"{'minute':>7}{'cycles':>8}{'rss MB':>9}{'fds':>6}{'threads':>9}{'db MB':>8}")
        while time.monotonic() < end:
            list_id = f"soak-{cycles:06d}"
            meters = "\n".join(f'[[meters]]\nserial = "{cycles:06d}{m:02d}"\ntask = "read"\n'
                               for m in range(5))
            tmp_file = config.paths.outbox / f".{list_id}.tmp"
            tmp_file.write_text(f'[list]\nid = "{list_id}"\nhhu = "HHU-001"\n'
                                f'due = 2026-12-01\n\n{meters}')
            tmp_file.rename(config.paths.outbox / f"{list_id}.toml")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with closing(sqlite3.connect(db)) as conn:
                    row = conn.execute("SELECT state FROM lists WHERE list_id=?",
                                       (list_id,)).fetchone()
                if row and row[0] == "complete":
                    break
                time.sleep(0.05)
            else:
                print(f"cycle {cycles}: list not complete within 60 s", file=sys.stderr)
                daemon.stop.set()
                return 1
            cycles += 1
            now = time.monotonic()
            if now >= next_row:
                sample = (rss_mb(), fds(), threading.active_count())
                first = first or sample
                print(f"{(now - start) / 60:>7.1f}{cycles:>8}{sample[0]:>9.1f}{sample[1]:>6}"
                      f"{sample[2]:>9}{db.stat().st_size / 2**20:>8.1f}", flush=True)
                next_row = now + args.every
        daemon.stop.set()
        thread.join(30)
        last = (rss_mb(), fds(), threading.active_count())
    print(f"soak: {args.minutes:g} min, {cycles} cycles, rss {first[0]:.0f}->{last[0]:.0f} MB, "
          f"fds {first[1]}->{last[1]}, threads {first[2]}->{last[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
