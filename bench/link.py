#!/usr/bin/env python3
"""Link throughput bench: push one transfer file to a simulated HHU and time it.

Single run (you may put ``hhu-sim line`` between --port and --sim-listen yourself)::

    bench/link.py --sim-listen 127.0.0.1:7001 --port socket://127.0.0.1:7002 --size 131072

Without --port, the bench puts its own line simulator in front when --baud is given,
else it connects straight to the simulator (unpaced loopback). ``--compare`` runs our
link and lrzsz ZMODEM (``sz``/``rz`` joined to TCP by subprocess pipes) through the same
line and prints a side-by-side table. The last line of a single run is always
``link: N bytes in S s = R B/s``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hhu_firmware_sim.device import SimulatedHHU  # noqa: E402
from hhu_firmware_sim.flash import FlashStore  # noqa: E402
from hhu_firmware_sim.line import LineSim  # noqa: E402
from hhu_firmware_sim.server import DeviceServer  # noqa: E402
from hhu_firmware_sim.serving import SocketServer  # noqa: E402
from hhu_sync.io.driver import BlockingDockSession  # noqa: E402
from hhu_sync.io.ports import open_port  # noqa: E402
from hhu_sync.keys import write_private_file  # noqa: E402
from hhu_sync.link import LinkSettings  # noqa: E402
from hhu_sync.transfer import encode_transfer  # noqa: E402

HHU_ID = "HHU-BENCH"
RUN_TIMEOUT_S = 1800.0


@dataclass
class Result:
    """One timed transfer."""

    name: str
    nbytes: int
    seconds: float
    ok: bool
    note: str = ""

    @property
    def rate(self) -> float:
        return self.nbytes / self.seconds if self.seconds > 0 else 0.0


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def make_transfer(size: int, compressible: bool, key: bytes, seed: int = 1) -> tuple[str, bytes]:
    """A sealed quick-send transfer file of about ``size`` bytes; returns (bundle_id, file)."""
    body = max(0, size - 300)   # header, digest and seal take ~300 bytes
    if compressible:
        line = b"12345678;route-17;2026-11-25T10:15:00Z;1.8.1;001846.0;kWh;done\n"
        blob = (line * (body // len(line) + 1))[:body]
    else:
        import random

        blob = random.Random(seed).randbytes(body)
    data = encode_transfer("quick_send", {"blob": blob}, source="depot", target=HHU_ID,
                           key=key, compress=False)
    from hhu_sync.transfer import peek_header

    return peek_header(data).bundle_id, data


def run_ours(url: str, key: bytes, flash: FlashStore, bundle_id: str, data: bytes,
             settings: LinkSettings | None = None) -> Result:
    """Handshake, then time PutBundle until the HHU confirms its commit."""
    port = open_port(url, timeout=0.1)
    try:
        session = BlockingDockSession(port, lambda hid: key if hid == HHU_ID else None,
                              settings=settings)
        session.handshake(30.0)
        start = time.monotonic()
        session.put(bundle_id, data, RUN_TIMEOUT_S)
        seconds = time.monotonic() - start
        stats = session.conn.stats
        session.close()
    finally:
        port.close()
    ok = flash.read_bundle(bundle_id) == data
    note = (f"frames {stats.frames_sent} resent {stats.frames_resent} "
            f"crc_err {stats.crc_errors} payload {stats.frame_payload}")
    return Result("hhu-sync link", len(data), seconds, ok, note)


def run_zmodem(listen: tuple[str, int], data: bytes, workdir: Path, *,
               line: dict | None = None, connect: tuple[str, int] | None = None) -> Result:
    """sz -> [line sim] -> rz, each joined to TCP with its socket as stdin/stdout.

    rz listens on ``listen``; sz connects to ``connect`` (a line you started in front),
    else through a line simulator built from ``line``, else straight to rz.
    """
    if not (shutil.which("sz") and shutil.which("rz")):
        return Result("lrzsz ZMODEM", len(data), 0.0, False, "sz/rz not installed")
    src = workdir / "zsend" / "bundle.bin"
    dst_dir = workdir / "zrecv"
    src.parent.mkdir(exist_ok=True)
    dst_dir.mkdir(exist_ok=True)
    src.write_bytes(data)
    rz_done: dict[str, object] = {}
    received = threading.Event()

    def receiver(conn: socket.socket) -> None:
        conn.settimeout(None)   # a blocking fd: rz knows nothing of EAGAIN
        try:
            proc = subprocess.run(["rz", "-b", "-y"], stdin=conn.fileno(),
                                  stdout=conn.fileno(), stderr=subprocess.DEVNULL,
                                  cwd=dst_dir, timeout=RUN_TIMEOUT_S, check=False)
            rz_done["rc"] = proc.returncode
        finally:
            received.set()

    server = SocketServer(receiver, listen, max_connections=1, blocking=True).start()
    sim = None
    url_addr = connect or server.address
    if line is not None and connect is None:
        sim = LineSim(url_addr, **line).start()
        url_addr = sim.address
    try:
        with socket.create_connection(url_addr, timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(None)
            start = time.monotonic()
            proc = subprocess.run(["sz", "-b", str(src)], stdin=sock.fileno(),
                                  stdout=sock.fileno(), stderr=subprocess.DEVNULL,
                                  timeout=RUN_TIMEOUT_S, check=False)
            received.wait(RUN_TIMEOUT_S)
            seconds = time.monotonic() - start
    finally:
        if sim is not None:
            sim.stop()
        server.stop()
    got = dst_dir / "bundle.bin"
    ok = proc.returncode == 0 and got.exists() and got.read_bytes() == data
    return Result("lrzsz ZMODEM", len(data), seconds, ok,
                  f"sz rc {proc.returncode} rz rc {rz_done.get('rc')}")


class SimHHU:
    """The simulated HHU for a run: its own process by default (as a real HHU has its own
    CPU; sharing our GIL would halve both sides), or a thread with ``inproc``."""

    def __init__(self, workdir: Path, key: bytes, listen: tuple[str, int], inproc: bool,
                 settings: LinkSettings | None = None) -> None:
        self.flash_dir = workdir / "flash"
        self.flash = FlashStore(self.flash_dir, capacity=1 << 31)
        self.proc: subprocess.Popen | None = None
        self.server: DeviceServer | None = None
        if inproc:
            device = SimulatedHHU(HHU_ID, key, self.flash, idle_limit_s=60.0,
                                  settings=settings)
            self.server = DeviceServer(device, listen).start()
            self.address = self.server.address
            return
        key_file = workdir / f"{HHU_ID}.key"
        write_private_file(key_file, key.hex().encode() + b"\n", overwrite=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hhu_firmware_sim.cli", "serve",
             "--listen", f"{listen[0]}:{listen[1]}", "--id", HHU_ID,
             "--key-file", str(key_file), "--flash", str(self.flash_dir),
             *(["--window", str(settings.window), "--max-frame",
                str(settings.max_frame_payload)] if settings else [])],
            stdout=subprocess.PIPE, text=True, cwd=ROOT)
        first = self.proc.stdout.readline()   # "HHU-BENCH listening on socket://h:p"
        if "socket://" not in first:
            self.close()
            raise RuntimeError(f"simulated HHU did not start: {first!r}")
        self.address = _hostport(first.split("socket://", 1)[1].strip())

    @property
    def url(self) -> str:
        return f"socket://{self.address[0]}:{self.address[1]}"

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> SimHHU:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _settings(args: argparse.Namespace) -> LinkSettings | None:
    """Link settings for both ends, when --window/--max-frame override the defaults."""
    if args.window is None and args.max_frame is None:
        return None
    base = LinkSettings()
    return dataclasses.replace(base, window=args.window or base.window,
                               max_frame_payload=args.max_frame or base.max_frame_payload)


def _line_kwargs(args: argparse.Namespace) -> dict:
    return {"baud": args.baud or 0, "ber": args.ber, "latency_ms": args.latency_ms,
            "seed": args.seed}


def _line_for(args: argparse.Namespace) -> dict | None:
    """Line simulator settings, or None for a straight loopback (nothing to simulate)."""
    if args.port is None and (args.baud or args.ber or args.latency_ms):
        return _line_kwargs(args)
    return None


def ours_runs(args: argparse.Namespace, workdir: Path, key: bytes) -> list[Result]:
    """``--repeat`` pushes of fresh transfer files through one simulated HHU (and line)."""
    results = []
    line = _line_for(args)
    with SimHHU(workdir, key, args.sim_listen, args.sim_inproc, _settings(args)) as sim_hhu:
        sim = LineSim(sim_hhu.address, **line).start() if line else None
        try:
            url = args.port or (sim.url if sim else sim_hhu.url)
            for i in range(args.repeat):
                bundle_id, data = make_transfer(args.size, args.compressible, key, args.seed + i)
                results.append(run_ours(url, key, sim_hhu.flash, bundle_id, data,
                                        _settings(args)))
                sim_hhu.flash.delete_bundle(bundle_id)
        finally:
            if sim is not None:
                sim.stop()
    return results


def zmodem_runs(args: argparse.Namespace, workdir: Path, key: bytes) -> list[Result]:
    """``--repeat`` sz -> rz runs of the same-sized file through the same kind of line."""
    connect = _hostport(args.port.removeprefix("socket://")) if args.port else None
    results = []
    for i in range(args.repeat):
        _, data = make_transfer(args.size, args.compressible, key, args.seed + i)
        listen = args.sim_listen if i == 0 else (args.sim_listen[0], 0)
        results.append(run_zmodem(listen, data, workdir, connect=connect,
                                  line=_line_for(args)))
    return results


def summary(results: list[Result]) -> Result:
    """The median run (by time); the note gains the best and worst times."""
    ordered = sorted(results, key=lambda r: r.seconds)
    med = ordered[len(ordered) // 2]
    ok = all(r.ok for r in results)
    note = med.note
    if len(results) > 1:
        note += f" | {len(results)} runs, best {ordered[0].seconds:.3f} s " \
                f"worst {ordered[-1].seconds:.3f} s"
    return Result(med.name, med.nbytes, med.seconds, ok, note)


def single(args: argparse.Namespace, workdir: Path, key: bytes) -> int:
    runs = zmodem_runs if args.zmodem else ours_runs
    res = summary(runs(args, workdir, key))
    print(f"{res.name}: ok={res.ok} {res.note}")
    print(f"link: {res.nbytes} bytes in {res.seconds:.3f} s = {res.rate:.0f} B/s")
    return 0 if res.ok else 1


def compare(args: argparse.Namespace, workdir: Path, key: bytes) -> int:
    ours = summary(ours_runs(args, workdir, key))
    zmodem = summary(zmodem_runs(args, workdir, key))
    line_rate = args.baud / 10 if args.baud else 0
    print(f"size {ours.nbytes} B, baud {args.baud or 'unpaced'}, BER {args.ber:g}, "
          f"latency {args.latency_ms:g} ms, median of {args.repeat}")
    print(f"{'':16} {'ok':>4} {'seconds':>9} {'goodput B/s':>12} {'of line':>8}")
    for res in (ours, zmodem):
        share = f"{res.rate / line_rate:.3f}" if line_rate else "-"
        print(f"{res.name:16} {('yes' if res.ok else 'NO'):>4} {res.seconds:9.3f} "
              f"{res.rate:12.0f} {share:>8}   {res.note}")
    print(f"link: {ours.nbytes} bytes in {ours.seconds:.3f} s = {ours.rate:.0f} B/s")
    return 0 if ours.ok and zmodem.ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sim-listen", type=_hostport, default=("127.0.0.1", 0),
                   metavar="HOST:PORT", help="where the simulated HHU listens")
    p.add_argument("--port", metavar="URL", help="dock port URL (default: see above)")
    p.add_argument("--size", type=int, default=128 * 1024, help="transfer file size, bytes")
    p.add_argument("--compressible", action="store_true", help="text-like instead of random")
    p.add_argument("--zmodem", action="store_true", help="time lrzsz sz->rz instead of ours")
    p.add_argument("--compare", action="store_true", help="ours and ZMODEM, same line")
    p.add_argument("--baud", type=int, default=0, help="line baud rate (0 = unpaced)")
    p.add_argument("--ber", type=float, default=0.0)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--window", type=int, help="link window, frames (both ends)")
    p.add_argument("--max-frame", type=int, help="largest frame payload, bytes (both ends)")
    p.add_argument("--repeat", type=int, default=1, help="runs per side; the median counts")
    p.add_argument("--sim-inproc", action="store_true",
                   help="run the simulated HHU in a thread of this process")
    args = p.parse_args(argv)
    key = os.urandom(32)
    with tempfile.TemporaryDirectory(prefix="hhu-bench-") as tmp:
        workdir = Path(tmp)
        return compare(args, workdir, key) if args.compare else single(args, workdir, key)


if __name__ == "__main__":
    sys.exit(main())
