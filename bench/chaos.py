"""Chaos campaign: full cycles under random faults, with the invariants checked each round.

    python bench/chaos.py --rounds 20 --seed 1

Each round drops a new meter list (and sometimes junk) into the outbox, then docks the
simulated HHU through faulty cradles (cable cut at a random byte, bit errors up to 1e-4,
HHU reboot mid-transfer, flash full, the daemon killed with SIGKILL at a random moment
and started again at once, the database failing every commit as on a full disk), until a
clean docking finishes the work; the HHU goes on its field trip; then the same faults on
the way back. After every daemon run and every round it checks:

  1. every delivered bundle is on its HHU exactly once and intact;
  2. every reading taken in the field is in the database exactly once, with its value;
  3. no HHU cleared an upload the database had not committed;
  4. no file vanished from outbox, archive or rejected.

A hostile outbox writer (issue 12) drops, in some rounds, a symlink to the HHU's key, a
hard link to it, a symlinked folder, a FIFO, a 250-byte name, TOML nested 2,000 deep, a
folder named like an input, a file of an unknown type, a ``NAME.reason.txt``, a name
with a newline, a folder flipped between itself and a symlink to the key's folder, and a
scheme written slowly by a writer that holds it open across a daemon run; some runs
find rejected/ full. Checked besides: the daemon never stops (no traceback, every clean
docking finishes), every hostile entry is still somewhere (by inode), the key file never
moves, the key's bytes appear in no reason, log or database row, and the slow scheme is
archived whole or not at all.

``--store postgresql`` runs the daemon on a PostgreSQL store instead: a private server
made for the run (``initdb`` in a temporary folder, a free port; removed at the end,
``tests/pg_private_server.py``), and one more fault, the server restarted: stopped at a
random moment of a daemon run and started again after a short random pause, or already
down when the daemon starts and started during its run. The checks read that database.

Last line: ``chaos: R rounds, F faults, V violations``.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hhu_firmware_sim.field_trip import run_trip  # noqa: E402
from hhu_firmware_sim.flash import FlashStore  # noqa: E402
from hhu_sync.keys import KeyStore, load_key_file  # noqa: E402
from hhu_sync.transfer import decode_transfer  # noqa: E402
from tests.pg_private_server import PrivateServer  # noqa: E402

EXAMPLES = ROOT / "schemes" / "examples"
SCHEMES = ("a1700-ci-tou.toml", "a1140-day-night.toml", "as230-flat.toml")
SECRETS = {"a1700-level1": "chaos-1", "a1700-level3": "chaos-3", "a1140-level2": "chaos-2",
           "as230-level1": "chaos-r"}
HHU = "HHU-001"
CAPACITY = 64 * 2**20
HHU_SYNC = Path(sys.executable).with_name("hhu-sync")



#: a worker process the daemon was starting when the campaign killed it: the child's
#: start-up (Python's own multiprocessing bootstrap, before any of hhu-sync runs) finds
#: its parent's pipe closed and says so. The kill's consequence, not the daemon's fault.
_ORPHANED_SPAWN = re.compile(
    r"Traceback \(most recent call last\):\n(?:  File [^\n]*\n(?:    [^\n]*\n)*)*?"
    r"  File \"[^\"]*multiprocessing/spawn\.py\", line \d+, in _main\n(?:    [^\n]*\n)*"
    r"(?:EOFError|ConnectionResetError|BrokenPipeError)[^\n]*\n?")


def daemon_tracebacks(err: str, killed: bool) -> str:
    """The daemon's stderr without the tracebacks of workers orphaned at their start by
    a SIGKILL of the daemon (``killed``); any other traceback stays, to be a violation."""
    return _ORPHANED_SPAWN.sub("", err) if killed else err

class Campaign:
    def __init__(self, root: Path, seed: int, verbose: bool,
                 server: PrivateServer | None = None) -> None:
        self.root = root
        self.server = server        # PostgreSQL mode: the private server, running
        self.store_url = server.database() if server else None
        self.rng = random.Random(seed)
        self.verbose = verbose
        self.faults: collections.Counter = collections.Counter()
        self.violations: list[str] = []
        self.dropped: set[str] = set()
        self.expected: dict[str, set[tuple]] = {}     # upload id -> readings taken
        self.config = root / "hhu-sync.toml"
        self.flash_dir = root / "flash" / HHU
        ks = KeyStore(root / "var" / "keystore")
        ks.enroll(HHU)
        for name, value in SECRETS.items():
            ks.set_secret(name, value)
        self.key_file = ks.key_path(HHU)
        self.key_at_start = (os.lstat(self.key_file).st_ino, self.key_file.read_bytes())
        self.outbox = root / "var" / "outbox"
        self.outbox.mkdir(parents=True)
        self.hostile: dict[int, str] = {}           # inode -> what was dropped
        self.slow: dict[str, bytes] = {}            # name -> its whole content
        self.writer: threading.Thread | None = None
        self.swapper: threading.Thread | None = None
        self.stderr: list[str] = []
        self.restart_error: Exception | None = None
        self.restarts = self.restarts_seen = 0      # server restarts; of them, logged

    # -- the daemon, under faults ------------------------------------------------------------
    def write_config(self, url_faults: str) -> None:
        store = f'[store]\nurl = "{self.store_url}"\n' if self.store_url else ""
        self.config.write_text(f"""{store}
[depot]
id = "CHAOS"
[serial]
handler_packages = ["hhu_firmware_sim.urlhandler"]
[[hhus]]
id = "{HHU}"
crew = "crew-a"
[[docks]]
name = "cradle"
port = "hhusim://{HHU}?flash={self.flash_dir}&key={self.key_file}{url_faults}"
[limits]
debounce_seconds = 0.05
handshake_seconds = 2
transfer_seconds = 20
retry_backoff_seconds = 0.05
max_attempts = 1000
[schedule]
poll_seconds = 0.1
""")

    def daemon(self, env_fault: str | None, kill_after: float | None, timeout: float) -> int:
        env = dict(os.environ)
        if env_fault:
            env["HHU_SYNC_FAILPOINT"] = env_fault
        began = time.monotonic()
        proc = subprocess.Popen(
            [str(HHU_SYNC), "run", "--once", "--config", str(self.config), "--timeout",
             str(timeout), "--log-format", "text", "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
        killed = False
        try:
            _, err = proc.communicate(timeout=kill_after if kill_after else timeout + 30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            killed = True
            _, err = proc.communicate(timeout=30)
        if "Traceback" in daemon_tracebacks(err or "", killed):
            self.violation(f"traceback from the daemon:\n{err[-2000:]}")
        self.stderr.append(err or "")
        if self.verbose:
            print(f"  daemon run: exit {proc.returncode} after "
                  f"{time.monotonic() - began:.1f} s", file=sys.stderr)
        return proc.returncode

    def faulty_docking(self) -> None:
        """One docking through a bad cradle, maybe killed, maybe with a failing disk."""
        rng = self.rng
        opts = [f"&capacity={CAPACITY}", f"&seed={rng.randrange(1 << 30)}"]
        if rng.random() < 0.35:
            opts.append(f"&cut_after={rng.randrange(50, 4000)}")
            self.faults["cable cut"] += 1
        if rng.random() < 0.35:
            opts.append(f"&ber={rng.choice([1e-5, 3e-5, 1e-4])}")
            self.faults["bit errors"] += 1
        if rng.random() < 0.2:
            opts.append(f"&reboot_after={rng.randrange(100, 1500)}")
            self.faults["HHU reboot mid-transfer"] += 1
        if rng.random() < 0.1:
            opts[0] = "&capacity=600"
            self.faults["flash full"] += 1
        env_fault = None
        if rng.random() < 0.1:
            env_fault = "store.commit"
            self.faults["database disk full"] += 1
        elif self.hostile and rng.random() < 0.2:
            # As a folder without read permission would: nothing can be moved aside,
            # sub-folders cannot be listed (the bench runs as root: chmod would not do).
            env_fault = "outbox.move_aside,outbox.list_folder"
            self.faults["outbox unwritable/unlistable"] += 1
        elif self.hostile and rng.random() < 0.15:
            env_fault = "outbox.rejected_full"     # a full rejected/: the outbox waits
            self.faults["rejected/ full"] += 1
        kill = None
        if rng.random() < 0.4:
            kill = rng.uniform(0.3, 2.0)
            self.faults["daemon SIGKILL"] += 1
        self.write_config("".join(opts))
        restarter = self.server_restart()
        try:
            self.daemon(env_fault, kill, timeout=4)
        finally:
            if restarter is not None:
                restarter.join()
        if self.restart_error:
            raise self.restart_error
        if restarter is not None:
            self.restarts += 1
            if "storage: " in self.stderr[-1]:    # its log: the store away (not a contract)
                self.restarts_seen += 1
        self.check_cleared()

    def server_restart(self) -> threading.Thread | None:
        """PostgreSQL mode, sometimes: the server stopped at a random moment of the coming
        daemon run and started again after a short pause, or stopped now (down when the
        daemon starts) and started during the run. The pauses are drawn here, not in the
        thread, so a seed gives the same campaign."""
        server, rng = self.server, self.rng
        self.restart_error = None
        if server is None:
            return None
        roll = rng.random()
        # A daemon run is about 5 s, most of it start-up (imports, worker processes)
        # before the store is first opened (at about 4 s on a loaded machine).
        if roll < 0.15:
            self.faults["server down at start"] += 1
            server.stop()
            schedule = [(rng.uniform(1.0, 7.0), server.start)]
        elif roll < 0.4:
            # stopped once the daemon holds a connection, at a random moment after
            self.faults["server restart mid-run"] += 1
            schedule = [(0.0, self.daemon_connected), (rng.uniform(0.0, 0.6), server.stop),
                        (rng.uniform(0.2, 2.0), server.start)]
        else:
            return None

        def run() -> None:
            try:
                for pause, step in schedule:
                    time.sleep(pause)
                    step()
            except Exception as exc:     # the bench's own fault: raised after the run
                self.restart_error = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def clean_docking(self) -> None:
        """Docked in a good cradle: the work must finish."""
        if self.writer is not None:      # a slow writer finishes before a clean run
            self.writer.join()
            self.writer = None
        if self.swapper is not None:     # ... and so does a folder swapper
            self.swapper.join()
            self.swapper = None
        self.write_config(f"&capacity={CAPACITY}")
        for _ in range(4):
            code = self.daemon(None, None, timeout=60)
            self.check_cleared()
            if code == 0:
                return
        self.violation(f"clean docking did not finish (exit {code})")

    def daemon_connected(self, limit_s: float = 15.0) -> None:
        """Waits (at most ``limit_s``) until a client other than this one is connected to
        the campaign's database: the daemon has opened its store."""
        deadline = time.monotonic() + limit_s
        with psycopg.connect(self.store_url or "", connect_timeout=10,
                             autocommit=True) as pg:
            while time.monotonic() < deadline:
                row = pg.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                 "current_database() AND pid <> pg_backend_pid()").fetchone()
                if row and row[0]:
                    return
                time.sleep(0.05)

    # -- checks -------------------------------------------------------------------------------
    def violation(self, text: str) -> None:
        self.violations.append(text)
        print(f"VIOLATION: {text}", file=sys.stderr)

    def committed_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of ``sql`` (``?`` placeholders) from the daemon's database; none when a
        daemon killed early (on a loaded machine: before its start-up made the database
        or its tables) left no database yet: then nothing was committed. SQLite is opened
        read-only, so the check never makes the file the daemon will create; PostgreSQL
        (the bench made the database, empty) is read in a transaction of its own."""
        if self.store_url is not None:
            with psycopg.connect(self.store_url, connect_timeout=30) as pg:
                try:
                    return [tuple(r) for r in
                            pg.execute(sql.replace("?", "%s"), params).fetchall()]
                except psycopg.errors.UndefinedTable:
                    return []
        path = self.root / "var" / "hhu-sync.db"
        if not path.exists():
            return []
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            try:
                return db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise

    def check_bundles(self) -> None:
        flash = FlashStore(self.flash_dir)
        held = {b.bundle_id: b for b in flash.bundles()}
        rows = self.committed_rows("SELECT bundle_id, bundle FROM deliveries "
                                   "WHERE state='delivered'")
        for bundle_id, sent in rows:
            if bundle_id not in held:
                continue        # already executed by a field trip and retired
            data = flash.read_bundle(bundle_id)
            if hashlib.sha256(data).digest() != held[bundle_id].sha256:
                self.violation(f"bundle {bundle_id} damaged in flash")
            if sent is not None and bytes(sent) != data:
                self.violation(f"bundle {bundle_id} differs from what was sent")
        digests = collections.Counter(b.sha256 for b in held.values())
        if any(n > 1 for n in digests.values()):
            self.violation("a bundle is held twice in flash")

    def check_cleared(self) -> None:
        """An upload gone from the HHU must be committed in the database."""
        on_hhu = {u.upload_id for u in FlashStore(self.flash_dir).uploads()}
        committed = {r[0] for r in self.committed_rows("SELECT upload_id FROM uploads")}
        for upload_id in self.expected:
            if upload_id not in on_hhu and upload_id not in committed:
                self.violation(f"upload {upload_id} cleared from the HHU but not committed")

    def check_readings(self) -> None:
        for upload_id, expected in self.expected.items():
            rows = self.committed_rows("SELECT meter, obis, time, value FROM readings "
                                       "WHERE upload_id=?", (upload_id,))
            if len(rows) != len(set(rows)) or set(rows) != expected:
                self.violation(f"upload {upload_id}: {len(rows)} readings stored, "
                               f"{len(expected)} taken")
        if FlashStore(self.flash_dir).uploads():
            self.violation("uploads left on the HHU after a clean docking")

    def check_files(self) -> None:
        var = self.root / "var"
        seen = [p.name for folder in ("outbox", "archive", "rejected")
                for p in (var / folder).rglob("*")
                if p.is_file() and not p.name.endswith(".reason.txt")]
        names = collections.Counter(seen)
        for name in self.dropped:
            if not any(n == name or n.startswith(Path(name).stem + "-") for n in names):
                self.violation(f"file {name} vanished")

    def check_hostile(self) -> None:
        """Every hostile entry is still somewhere; the key was never quoted; the slow
        scheme, if archived, is whole."""
        var = self.root / "var"
        inodes = set()
        for folder in ("outbox", "archive", "rejected"):
            for dirpath, dirnames, filenames in os.walk(var / folder):
                for name in dirnames + filenames:
                    try:
                        inodes.add(os.lstat(os.path.join(dirpath, name)).st_ino)
                    except OSError:
                        pass
        for ino, what in self.hostile.items():
            if ino not in inodes:
                self.violation(f"hostile {what} vanished")
        if (os.lstat(self.key_file).st_ino, self.key_file.read_bytes()) != self.key_at_start:
            self.violation("the HHU key file was moved or changed")
        key = self.key_file.read_bytes().strip()
        probes = [key[:16], key[-16:]]
        texts = [p.read_bytes() for p in (var / "rejected").glob("*.reason.txt")]
        texts += [r[0].encode() for r in self.committed_rows("SELECT reason FROM inputs")]
        texts += [e.encode() for e in self.stderr]
        if any(probe and probe in text for probe in probes for text in texts):
            self.violation("the HHU key was quoted in a reason, the log or the database")
        for name, whole in self.slow.items():
            for p in (var / "archive").rglob(name):
                if p.read_bytes() != whole:
                    self.violation(f"{name} archived half-written")

    # -- the hostile outbox writer -------------------------------------------------------------
    def _hostile(self, path: Path, what: str) -> None:
        self.hostile[os.lstat(path).st_ino] = what
        self.faults[f"hostile: {what}"] += 1

    def hostile_writer(self, n: int) -> None:
        """Drops some of the things someone who may write the outbox could drop."""
        rng, out = self.rng, self.outbox
        kinds = rng.sample(["symlink", "hardlink", "dirlink", "fifo", "long", "deep",
                            "folder", "unknown", "slow", "reason", "newline", "swap"],
                           rng.randrange(1, 5))
        for kind in kinds:
            path = out / f"h-{kind}-{n:04d}.csv"
            if kind == "symlink":
                path.symlink_to(self.key_file)
            elif kind == "hardlink":
                try:
                    os.link(self.key_file, path)
                except OSError:
                    continue
            elif kind == "dirlink":
                path = out / f"h-dir-{n:04d}"
                path.symlink_to(self.key_file.parent, target_is_directory=True)
            elif kind == "fifo":
                os.mkfifo(path)
            elif kind == "long":
                path = out / (f"h-long-{n:04d}-" + "x" * 230 + ".toml")
                path.write_bytes(b"junk = 1\n")
            elif kind == "deep":
                path = out / f"h-deep-{n:04d}.toml"
                path.write_bytes(b"x = " + b"[" * 2000 + b"]" * 2000 + b"\n")
            elif kind == "folder":
                path = out / f"h-folder-{n:04d}.toml"
                path.mkdir()
            elif kind == "unknown":
                path = out / f"h-report-{n:04d}.xlsx"
                path.write_bytes(rng.randbytes(200))
            elif kind == "reason":       # hhu-sync never writes one in the outbox
                path = out / f"h-notes-{n:04d}.reason.txt"
                path.write_bytes(b"back office's notes\n")
            elif kind == "newline":
                path = out / f"h-forged-{n:04d}\n{{\"level\": \"info\"}}.toml"
                path.write_bytes(b"junk = \n")
            elif kind == "swap":
                self.folder_swapper(n)
                continue
            else:
                self.slow_writer(n)
                continue
            self._hostile(path, kind)

    def slow_writer(self, n: int) -> None:
        """A scheme written in pieces over a second or so, held open throughout."""
        name = f"h-slow-{n:04d}.toml"
        text = (EXAMPLES / "as230-flat.toml").read_text().replace(
            'id = "as230-flat"', f'id = "slow-{n:04d}"', 1).encode()
        self.slow[name] = text
        self.dropped.add(name)
        self.faults["hostile: slow"] += 1
        fh = open(self.outbox / name, "wb")   # noqa: SIM115 - closed by the writer thread

        def write() -> None:
            with fh:
                for i in range(0, len(text), 64):
                    fh.write(text[i:i + 64])
                    fh.flush()
                    time.sleep(0.1)

        self.writer = threading.Thread(target=write, daemon=True)
        self.writer.start()

    def folder_swapper(self, n: int) -> None:
        """A folder of the outbox flipped, in a loop, between itself and a symlink to the
        key's folder, its file named like the key: a move that acted by path after a
        check would take the key from its place (checked: the key never moves)."""
        folder = self.outbox / f"h-swap-{n:04d}"
        real = folder.with_name(folder.name + ".real")
        folder.mkdir()
        (folder / self.key_file.name).write_bytes(b"junk = 1\n")
        self._hostile(folder / self.key_file.name, "swap")

        def flip() -> None:
            for _ in range(200):
                try:
                    folder.rename(real)
                    folder.symlink_to(self.key_file.parent, target_is_directory=True)
                    time.sleep(0.002)
                    folder.unlink()
                    real.rename(folder)
                except OSError:      # the daemon moved one of them aside: done
                    return
                time.sleep(0.002)

        self.swapper = threading.Thread(target=flip, daemon=True)
        self.swapper.start()

    # -- a round --------------------------------------------------------------------------------
    def drop(self, name: str, data: bytes) -> None:
        tmp = self.outbox / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.rename(self.outbox / name)
        self.dropped.add(name)

    def round(self, n: int) -> None:
        rng = self.rng
        if n == 0:
            for name in SCHEMES:
                self.drop(name, (EXAMPLES / name).read_bytes())
        meters = "\n".join(
            f'[[meters]]\nserial = "{n:04d}{m:04d}"\nsite = "Site {m}"\n'
            + ('task = "read+program"\nscheme = "a1700-ci-tou-2026"\nmodel = "A1700"\n'
               if m % 2 else 'task = "read"\n')
            for m in range(rng.randrange(2, 9)))
        self.drop(f"round-{n:04d}.toml", (
            f'[list]\nid = "chaos-{n:04d}"\nhhu = "{HHU}"\ndue = 2026-12-01\n\n{meters}\n'
        ).encode())
        if rng.random() < 0.3:
            self.drop(f"junk-{n:04d}.toml", rng.randbytes(rng.randrange(1, 300)))
            self.faults["bad input file"] += 1
        if n == 0 or rng.random() < 0.5:
            self.hostile_writer(n)
        for _ in range(rng.randrange(1, 3)):
            self.faulty_docking()
        self.clean_docking()
        self.check_hostile()
        self.check_bundles()
        key = load_key_file(self.key_file)
        flash = FlashStore(self.flash_dir)
        trip = run_trip(flash, HHU, key, operator="chaos")
        for upload_id in trip.uploads:
            payload = decode_transfer(flash.read_upload(upload_id), key).payload
            self.expected[upload_id] = {(v["meter"], r[0], r[3], r[1])
                                        for v in payload["visits"] for r in v["registers"]}
        for _ in range(rng.randrange(1, 3)):
            self.faulty_docking()
        self.clean_docking()
        self.check_readings()
        self.check_files()
        self.check_hostile()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                    help="the daemon's store: its SQLite file, or a private PostgreSQL "
                         "server made for the run and restarted as a fault")
    args = ap.parse_args()
    started = time.monotonic()
    server = PrivateServer() if args.store == "postgresql" else None
    try:
        if server is not None:
            server.start()
        with tempfile.TemporaryDirectory(prefix="hhu-chaos-") as tmp:
            campaign = Campaign(Path(tmp), args.seed, args.verbose, server)
            for n in range(args.rounds):
                campaign.round(n)
                print(f"round {n + 1}/{args.rounds}: {sum(campaign.faults.values())} "
                      f"faults so far, {len(campaign.violations)} violations", flush=True)
    finally:
        if server is not None:
            server.remove()
    print(f"\n{'fault':<28}{'injected':>10}")
    for name, count in sorted(campaign.faults.items()):
        print(f"{name:<28}{count:>10}")
    print(f"readings checked: {sum(len(v) for v in campaign.expected.values())} in "
          f"{len(campaign.expected)} uploads; {time.monotonic() - started:.0f} s")
    if server is not None:
        print(f"server restarts: {campaign.restarts}, the store seen away by the daemon "
              f"(its log) in {campaign.restarts_seen}")
    total = sum(campaign.faults.values())
    print(f"chaos: {args.rounds} rounds, {total} faults, {len(campaign.violations)} violations")
    return 1 if campaign.violations else 0


if __name__ == "__main__":
    sys.exit(main())
