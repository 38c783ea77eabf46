"""Scale: N simulated HHUs on sockets, each behind a paced line, all docked at once.

    python bench/docks.py [--hhus 32] [--bundle-kib 48] [--upload-kib 48] [--baud 115200]

Each HHU (a DeviceServer behind its own LineSim pacing baud/10 bytes a second with 2 ms
latency, the line reaching it over an in-process socket pair) has a meter list to take
and a readings upload to give. The daemon runs in this process with one cradle per HHU
(``socket://`` to the line) and serves them all at once. A session pulls the upload,
then pushes the bundle, so one direction of a line is busy at a time: the ceiling is
N x baud/10 bytes a second.

``live``: the simulated HHUs and their lines run in child processes (``--sim-procs``),
each process on one simulator loop, each line with a recording tap that keeps what the
HHU sent and how many of the depot's bytes it had seen first. ``replay`` (with
``--replay``, a second run of the same dockings): the same depot state again (copied
before the first run), but each cradle's socket is served by one light replayer process
that sends the recorded HHU bytes, paced at the line rate, once the depot has sent
what the HHU had seen (a line's delay modelled): the simulators' cost is gone, so the
depot's own CPU per MB and its fraction of the line rate show. The depot's link nonce
is fixed in this process for both runs (a recording can only be replayed to a depot
that asks the same question); everything else is the daemon's code as it runs.

Each upload's visits are of meters on the HHU's list, which the depot holds: their
readings are billable, so the export worker writes their CMEP as a depot's does. The
exports go on after the last docking (the worker is niced): each run waits for them,
and prints the export worker's CPU to its end (per MB and per reading) and the depot's
cpu-s/MB with it (``export worker to its end``); the table's columns are as far as the
last docking.

CPU per MB moved: the depot (this process and its upload workers, from /proc) and the
simulator side (the child processes, from /proc, read before they end). Last line:
``docks: N HHUs, G B/s = S of N x line rate, slowest T s, C cpu-s/MB, M MB peak`` (live).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict, deque
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import msgpack

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hhu_firmware_sim.device import load_device  # noqa: E402
from hhu_firmware_sim.flash import FlashStore  # noqa: E402
from hhu_firmware_sim.line import LineSim  # noqa: E402
from hhu_firmware_sim.server import DeviceServer  # noqa: E402
from hhu_sync.config import load_config  # noqa: E402
from hhu_sync.daemon import Daemon  # noqa: E402
from hhu_sync.dock import session as session_module  # noqa: E402
from hhu_sync.keys import KeyStore, load_key_file  # noqa: E402
from hhu_sync.link import LinkSettings  # noqa: E402
from hhu_sync.link.connection import Connection  # noqa: E402
from hhu_sync.logsetup import setup_logging  # noqa: E402
from hhu_sync.transfer import encode_transfer  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
COLUMNS = ("run", "HHUs", "line rate B/s", "bytes moved", "wall s", "depot cpu-s/MB",
           "sims cpu-s/MB", "of N x line rate")
#: where the depot's CPU goes: the daemon's process (the dock loop, its blocking pool,
#: the committer, the outbox), the upload-check workers, the export worker
PARTS = ("daemon", "check", "export")
STUCK_S = 0.25     # a replayed line sends its next piece anyway after this long unanswered


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc (no psutil)."""
    return cpu_of_stat(Path(f"/proc/{pid}/stat"))


def thread_cpu() -> dict[str, float]:
    """CPU seconds by thread name in this process (threads of one name summed; a
    thread that ended is gone from the count), from /proc/self/task."""
    names = {t.native_id: t.name.split(" ")[0].rstrip("-0123456789") or t.name
             for t in threading.enumerate()}
    out: dict[str, float] = defaultdict(float)
    for task in Path("/proc/self/task").iterdir():
        try:
            out[names.get(int(task.name), "other")] += cpu_of_stat(task / "stat")
        except OSError:
            continue
    return dict(out)


def cpu_of_stat(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def upload_bytes(hhu: str, key: bytes, size: int) -> tuple[str, bytes]:
    """A readings upload of about ``size`` bytes that zlib cannot shrink much: visits of
    the meters on the HHU's list, read now (its list is issued a moment later, within the
    clock tolerance), so their readings are billable."""
    visits, n = [], 0
    when = datetime.now(UTC).isoformat(timespec="seconds")
    while True:
        rnd = os.urandom(24).hex()
        visits.append({"meter": meter_serial(hhu, n), "list": f"bench-{hhu}",
                       "time": when, "outcome": "done", "notes": rnd,
                       "registers": [[f"1.8.{i}", f"{int(rnd[i * 4:i * 4 + 6], 16)}.{i}", "kWh",
                                      when] for i in range(4)]})
        n += 1
        if n % 50 == 0:
            data = encode_transfer("readings", {"visits": visits}, source=hhu, target="depot",
                                   key=key, bundle_id=f"R-{hhu}")
            if len(data) >= size:
                return f"R-{hhu}", data


def meter_serial(hhu: str, n: int) -> str:
    return f"{hhu[-3:]}{n:05d}"


def meter_list(hhu: str, size: int) -> str:
    """The HHU's list: the meters its upload reads are on it (their readings are billable,
    so the export worker writes their CMEP, as a depot's does)."""
    rows, n = [], 0
    while len("".join(rows)) < size * 1.6:      # the list is compressed in the bundle
        rows.append(f'[[meters]]\nserial = "{meter_serial(hhu, n)}"\ntask = "read"\n'
                    f'notes = "{os.urandom(20).hex()}"\n')
        n += 1
    return f'[list]\nid = "bench-{hhu}"\nhhu = "{hhu}"\ndue = 2026-12-01\n\n' + "\n".join(rows)


class Recorder:
    """A line's tap that records, per connection, each piece the HHU side sent and how
    many of the depot's bytes had crossed the line when the HHU sent it (the line
    modelled as the replayer models it: sent bytes queue at the line rate). It sees the
    line's client side on the simulator loop, so recording costs no relay hop."""

    def __init__(self, path: Path, rate: float, latency_s: float) -> None:
        self.path = path
        self.rate, self.latency = rate, latency_s
        self.connections: list[list[tuple[int, bytes]]] = []

    def session_started(self) -> None:
        self.pieces: list[tuple[int, bytes]] = []
        self.connections.append(self.pieces)
        self.crossed: list[tuple[int, float]] = []     # (depot bytes, when they cross)
        self.seen, self.line_free = 0, 0.0

    def client_sent(self, data: bytes, now: float) -> None:
        self.seen += len(data)
        self.line_free = max(self.line_free, now) + len(data) / self.rate
        self.crossed.append((self.seen, self.line_free + self.latency))

    def client_received(self, data: bytes, now: float) -> None:
        crossed = self.crossed
        sent_at = now - self.latency - len(data) / self.rate
        # the depot bytes crossing when the HHU sent this piece
        need = next((c for c, t in reversed(crossed) if t <= sent_at), 0)
        need = next((c for c, t in crossed if c > need), need) \
            if any(t > sent_at for _, t in crossed[-1:]) else need
        self.pieces.append((need, data))

    def save(self) -> None:
        self.path.write_bytes(msgpack.packb(self.connections))


def _recv(s: socket.socket) -> bytes:
    try:
        return s.recv(65536)
    except OSError:
        return b""


def serve_sims(root: Path, first: int, n: int, baud: int, latency_ms: float,
               piece_ms: float) -> int:
    """Child process: HHUs first..first+n-1, each behind a line with a recorder on its
    tap, all on one simulator loop; print the lines' URLs; save the recordings when the
    bench closes our stdin."""
    items, recorders, urls = [], [], []
    for i in range(first, first + n):
        hhu = f"HHU-{i:03d}"
        key_file = root / "var" / "keystore" / "hhus" / f"{hhu}.key"
        server = DeviceServer(load_device(hhu, key_file, root / "flash" / hhu)).start()
        recorder = Recorder(root / "rec" / f"{hhu}.msgpack", baud / 10, latency_ms / 1000)
        line = LineSim(server.pair, baud=baud, latency_ms=latency_ms,
                       piece_ms=piece_ms, tap=recorder).start()
        items += [line, server]
        recorders.append(recorder)
        urls.append(line.url)
    print(json.dumps(urls), flush=True)
    sys.stdin.read()              # until the bench closes our stdin
    for item in items:
        item.stop()
    for r in recorders:
        r.save()
    return 0


class Replay:
    """One cradle's line in a replay: the recorded HHU pieces of each connection in turn,
    each sent once the depot's bytes it followed would have crossed the line."""

    def __init__(self, connections: list[list[tuple[int, bytes]]], rate: float,
                 latency_s: float) -> None:
        self.connections, self.rate, self.latency = connections, rate, latency_s
        self.sock: socket.socket | None = None
        self.stuck = 0       # pieces sent without the depot bytes they followed

    def start(self, sock: socket.socket, now: float) -> None:
        self.sock = sock
        self.pieces = deque(self.connections.pop(0)) if self.connections else deque()
        self.seen = 0
        self.crossed: deque[tuple[int, float]] = deque()   # (depot bytes, when crossed)
        self.line_free = self.out_free = self.last_heard = now

    def heard(self, data: bytes, now: float) -> None:
        self.seen += len(data)
        self.line_free = max(self.line_free, now) + len(data) / self.rate
        self.crossed.append((self.seen, self.line_free + self.latency))
        self.last_heard = now

    def due(self, now: float) -> float | None:
        """When the next piece goes (None: nothing left)."""
        if not self.pieces:
            return None
        need = self.pieces[0][0]
        while len(self.crossed) > 1 and self.crossed[0][0] < need:
            self.crossed.popleft()          # the pieces' needs never go down
        if self.crossed and self.crossed[0][0] >= need:
            at = self.crossed[0][1]
        elif need == 0:
            at = self.line_free
        else:                          # the depot has not sent that much: wait, a while
            at = self.last_heard + STUCK_S
        return max(at, self.out_free)

    def send(self, now: float) -> None:
        need, data = self.pieces.popleft()
        self.stuck += need > self.seen
        self.out_free = max(self.out_free, now) + len(data) / self.rate
        assert self.sock is not None
        try:
            self.sock.sendall(data)
        except OSError:
            self.pieces.clear()


def serve_replay(root: Path, n: int, baud: int, latency_ms: float) -> int:
    """Child process: one listening socket per cradle, all served from one selector."""
    sel = selectors.DefaultSelector()
    replays: list[Replay] = []
    urls = []
    for i in range(n):
        recorded = msgpack.unpackb((root / "rec" / f"HHU-{i:03d}.msgpack").read_bytes())
        replay = Replay([[(c, bytes(d)) for c, d in conn] for conn in recorded],
                        baud / 10, latency_ms / 1000)
        server = socket.create_server(("127.0.0.1", 0))
        sel.register(server, selectors.EVENT_READ, ("accept", replay))
        replays.append(replay)
        urls.append(f"socket://127.0.0.1:{server.getsockname()[1]}")
    sel.register(sys.stdin, selectors.EVENT_READ, ("stop", None))
    print(json.dumps(urls), flush=True)
    while True:
        now = time.monotonic()
        dues = [(r.due(now), r) for r in replays if r.sock is not None]
        soonest = min((d for d, _ in dues if d is not None), default=now + 1.0)
        for key, _ in sel.select(max(0.0, soonest - now)):
            kind, replay = key.data
            now = time.monotonic()
            if kind == "stop":
                print(json.dumps({"stuck": sum(r.stuck for r in replays)}), flush=True)
                return 0
            if kind == "accept":
                sock, _ = key.fileobj.accept()
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if replay.sock is not None:
                    sel.unregister(replay.sock)
                    replay.sock.close()
                replay.start(sock, now)
                sel.register(sock, selectors.EVENT_READ, ("data", replay))
            else:
                data = _recv(key.fileobj)
                if data:
                    replay.heard(data, now)
                else:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    replay.sock = None
        now = time.monotonic()
        for r in replays:
            while r.sock is not None and (d := r.due(now)) is not None and d <= now:
                r.send(now)


def prepare(root: Path, n: int, upload_kib: int, bundle_kib: int) -> int:
    """Keys, flash and outbox for N HHUs (not timed); the bytes a docking of each moves."""
    ks = KeyStore(root / "var" / "keystore")
    moved = 0
    for i in range(n):
        hhu = f"HHU-{i:03d}"
        key_file = ks.enroll(hhu)
        flash = FlashStore(root / "flash" / hhu, capacity=64 * 2**20)
        upload_id, data = upload_bytes(hhu, load_key_file(key_file), upload_kib * 1024)
        flash.store_upload(upload_id, data)
        moved += len(data)
    (root / "rec").mkdir()
    return moved


def configure(root: Path, urls: list[str], baud: int) -> Daemon:
    docks = [f'[[docks]]\nname = "cradle-{i:03d}"\nport = "{url}"\nbaud = {baud}\n'
             for i, url in enumerate(urls)]
    (root / "hhu-sync.toml").write_text(
        "[limits]\ndebounce_seconds = 0.05\nhandshake_seconds = 5\n"
        f"max_sessions = {len(urls)}\n[schedule]\npoll_seconds = 0.5\n" + "\n".join(docks))
    return Daemon(load_config(root / "hhu-sync.toml"))


def queue_lists(daemon: Daemon, n: int, bundle_kib: int) -> int:
    """Every HHU's list into the outbox and through the processor: the bundles' bytes."""
    config = daemon.config
    config.paths.outbox.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        hhu = f"HHU-{i:03d}"
        path = config.paths.outbox / f"{hhu}.toml"
        path.write_text(meter_list(hhu, bundle_kib * 1024))
        os.utime(path, (time.time() - 60, time.time() - 60))   # dropped a while ago
        outcome = daemon.processor.process(path)
        assert outcome.status == "accepted", outcome
    with closing(sqlite3.connect(config.paths.database)) as db:
        return sum(n for (n,) in db.execute("SELECT length(bundle) FROM deliveries"))


def depot_cpu(daemon: Daemon) -> dict[str, float]:
    """CPU seconds by part of the depot (``PARTS``): this process, and its upload
    workers (check and export pools), from /proc."""
    pools = daemon.docks.decoder._pools                   # noqa: SLF001 - a bench looks in
    split = {part: 0.0 for part in PARTS}
    split["daemon"] = time.process_time()
    for kind, pool in pools.items():
        split[kind] += sum(cpu_of(pid) for pid in (pool._processes or {}))  # noqa: SLF001
    return split


def dock_all(daemon: Daemon, n: int, bound_s: float
             ) -> tuple[dict[str, float], float, dict[str, float], dict[str, float],
                        dict[str, float]]:
    """Run the daemon until every HHU has its bundle and its upload is cleared: the
    time each docking took, the wall time, the depot's CPU seconds by part (``PARTS``;
    exports still being written then are counted as far as they got) and the daemon
    process's by thread; then until every upload's exports are written: the export
    worker's CPU seconds to its end, when that was, and the readings stored (all, ok)."""
    config = daemon.config
    daemon.docks.decoder.start()   # the daemon's start-up is not part of a docking
    cpu0 = depot_cpu(daemon)
    threads0 = thread_cpu()
    t0 = time.monotonic()
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    done_at: dict[str, float] = {}
    deadline = t0 + bound_s
    # A session is done when its bundle is delivered and its upload cleared; looked
    # for every 20 ms (read-only, WAL: the daemon's writers are not held up).
    with closing(sqlite3.connect(f"file:{config.paths.database}?mode=ro", uri=True)) as db:
        while len(done_at) < n and time.monotonic() < deadline:
            delivered = {r[0] for r in db.execute(
                "SELECT target_hhu FROM deliveries WHERE state='delivered'")}
            cleared = {r[0] for r in db.execute(
                "SELECT hhu_id FROM uploads WHERE cleared_at IS NOT NULL")}
            for hhu in delivered & cleared:
                done_at.setdefault(hhu, time.monotonic() - t0)
            time.sleep(0.02)
    elapsed = max(done_at.values()) if len(done_at) == n else float("nan")
    cpu1 = depot_cpu(daemon)
    threads = {name: spent - threads0.get(name, 0.0) for name, spent in thread_cpu().items()}
    cpu = {part: cpu1[part] - cpu0[part] for part in PARTS}
    # The exports go on after the last docking (the worker is niced, behind the
    # checks): waited for (every upload's CMEP written, no export pending), so the
    # export worker's whole cost is counted, and the depot's with it.
    exports = config.paths.exports
    wanted = {f"R-HHU-{i:03d}.cmep" for i in range(n)}
    end = time.monotonic() + 120
    while time.monotonic() < end and (
            not wanted <= {p.name for p in exports.glob("*.cmep")}
            or daemon.docks._exports):                   # noqa: SLF001 - a bench looks in
        time.sleep(0.05)
    exported = time.monotonic() - t0 if wanted <= {p.name for p in exports.glob("*.cmep")} \
        else float("nan")
    after = {"export": depot_cpu(daemon)["export"] - cpu0["export"], "at": exported}
    with closing(sqlite3.connect(f"file:{config.paths.database}?mode=ro", uri=True)) as db:
        after["readings"], after["ok"] = db.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'ok') FROM readings").fetchone()
    daemon.stop.set()
    thread.join(60)
    return done_at, elapsed, cpu, threads, after


def copy_depot(src: Path, dst: Path, database: Path) -> None:
    """The depot's folder copied while its daemon holds the database open: the database
    through SQLite's backup, never by reading its files (closing a descriptor of them
    would drop this process's POSIX locks, so a worker process opening the database next
    would take it for unused and reset its ``-shm`` under the daemon's mapping: SIGBUS)."""
    names = {database.name, f"{database.name}-wal", f"{database.name}-shm"}
    shutil.copytree(src, dst, symlinks=True,
                    ignore=lambda folder, found: [f for f in found if f in names])
    target = dst / database.relative_to(src)
    with closing(sqlite3.connect(database)) as here, closing(sqlite3.connect(target)) as there:
        here.backup(there)


def start_sims(root: Path, n: int, sim_procs: int, baud: int, latency_ms: float,
               piece_ms: float) -> tuple[list[subprocess.Popen], list[str]]:
    """The N simulated HHUs and their lines, spread over up to ``sim_procs`` child
    processes: the processes, and the lines' URLs in HHU order."""
    procs = max(1, min(sim_procs, n))
    bounds = [(k * n // procs, (k + 1) * n // procs) for k in range(procs)]
    sims = [spawn(["--serve-sims", str(root), "--first", str(lo), "--hhus", str(hi - lo),
                   "--baud", str(baud), "--latency-ms", str(latency_ms),
                   "--piece-ms", str(piece_ms)]) for lo, hi in bounds]
    return sims, [url for sim in sims for url in json.loads(sim.stdout.readline())]


def spawn(args: list[str], stdin=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], stdin=stdin,
                            stdout=subprocess.PIPE, text=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--serve-sims", metavar="ROOT", help=argparse.SUPPRESS)
    ap.add_argument("--serve-replay", metavar="ROOT", help=argparse.SUPPRESS)
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
    ap.add_argument("--replay", action="store_true",
                    help="a second run against a replay of the first's recording (so far it "
                         "keeps step only with small bundles, about 8 KiB: see "
                         "docs/benchmarks.md)")
    ap.add_argument("--replay-frame", type=int, default=1024,
                    help="with --replay, the depot's data frames are all this long in both "
                         "runs (the adaptive size would not repeat from run to run)")
    args = ap.parse_args()
    setup_logging("text", "warning")
    n = args.hhus
    if args.serve_sims:
        return serve_sims(Path(args.serve_sims), args.first, n, args.baud, args.latency_ms,
                          args.piece_ms)
    if args.serve_replay:
        return serve_replay(Path(args.serve_replay), n, args.baud, args.latency_ms)
    # One question for both runs: the recording's answers must fit the replayed depot.
    Connection.__init__.__kwdefaults__["random"] = lambda k: bytes(range(k))
    if args.replay:     # frames of one size: the SACKs recorded fit the frames replayed
        fixed = args.replay_frame

        def settings(**kw) -> LinkSettings:
            return LinkSettings(**{**kw, "min_frame_payload": fixed,
                                   "max_frame_payload": fixed})

        session_module.LinkSettings = settings     # type: ignore[attr-defined,assignment]
    rows, ok, stuck = [], True, 0
    ceiling = n * args.baud / 10
    with tempfile.TemporaryDirectory(prefix="hhu-docks-") as tmp:
        live, again = Path(tmp) / "live", Path(tmp) / "replay"
        live.mkdir()
        moved = prepare(live, n, args.upload_kib, args.bundle_kib)
        sims, urls = start_sims(live, n, args.sim_procs, args.baud, args.latency_ms,
                                args.piece_ms)
        procs = len(sims)
        daemon = configure(live, urls, args.baud)
        moved += queue_lists(daemon, n, args.bundle_kib)
        copy_depot(live, again, daemon.config.paths.database)   # the same, for the replay
        bound = 60 + 20 * moved / ceiling                # every run ends
        sim0 = sum(cpu_of(s.pid) for s in sims)
        done_at, elapsed, cpu, threads, after = dock_all(daemon, n, bound)
        sim_cpu = sum(cpu_of(s.pid) for s in sims) - sim0
        for sim in sims:
            sim.stdin.close()
        for sim in sims:
            sim.wait(60)
        ok = len(done_at) == n
        times = sorted(done_at.values()) or [float("nan")]
        rows.append(("live", elapsed, cpu, sim_cpu, after))
        if ok and args.replay:
            shutil.copytree(live / "rec", again / "rec", dirs_exist_ok=True)
            replayer = spawn(["--serve-replay", str(again), "--hhus", str(n), "--baud",
                              str(args.baud), "--latency-ms", str(args.latency_ms)])
            urls = json.loads(replayer.stdout.readline())
            daemon = configure(again, urls, args.baud)
            rep0 = cpu_of(replayer.pid)
            done, r_elapsed, r_cpu, _, r_after = dock_all(daemon, n, 10 + 3 * elapsed)
            rep_cpu = cpu_of(replayer.pid) - rep0
            replayer.stdin.close()
            stuck = json.loads(replayer.stdout.readline())["stuck"]
            replayer.wait(60)
            rows.append((f"replay{'' if len(done) == n else ' (diverged)'}", r_elapsed,
                         r_cpu, rep_cpu, r_after))
    mb = moved / 2**20
    print("".join(f"{c:>17}" for c in COLUMNS))
    for run, wall, split, scpu, _ in rows:
        dcpu = sum(split.values())
        print(f"{run:>17}{n:>17}{args.baud // 10:>17}{moved:>17}{wall:>17.1f}"
              f"{dcpu / mb:>17.3f}{scpu / mb:>17.3f}{moved / wall / ceiling:>17.3f}")
    for run, _, split, _, after in rows:
        print(f"depot cpu-s/MB ({run}): " + ", ".join(
            f"{part} {split[part] / mb:.3f}" for part in PARTS))
        whole = sum(split.values()) - split["export"] + after["export"]
        print(f"export worker to its end ({run}): {after['export']:.2f} cpu-s, "
              f"{after['export'] / mb:.3f} cpu-s/MB, "
              f"{after['export'] / max(1, after['readings']) * 1e6:.1f} us a reading "
              f"({after['readings']:.0f} readings, {after['ok']:.0f} ok), every export "
              f"written {after['at']:.1f} s after the start; depot with it "
              f"{whole / mb:.3f} cpu-s/MB")
    print("daemon process cpu-s by thread (live): " + ", ".join(
        f"{name} {spent:.2f}" for name, spent in sorted(threads.items(), key=lambda kv: -kv[1])
        if spent >= 0.005))
    cpu = sum(rows[0][2].values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    goodput = moved / elapsed
    replayed = (f"; replay: one replayer process, {stuck} pieces sent before the depot "
                "bytes they had followed" if len(rows) > 1 else "")
    print(f"live: fastest {times[0]:.1f} s, slowest {times[-1]:.1f} s; simulated HHUs and "
          f"lines in {procs} child processes{replayed}")
    print(f"docks: {n} HHUs, {goodput:.0f} B/s = {goodput / ceiling:.3f} of N x line rate, "
          f"slowest {times[-1]:.1f} s, {cpu / mb:.2f} cpu-s/MB, {peak:.0f} MB peak")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
