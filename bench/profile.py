"""The whole route of interval data: field trip, cradle link, store (issue 15's bench).

    python bench/profile.py [--meters 200] [--channels 4] [--days 35] [--interval 30]
                            [--baud 115200] [--dialect vdew|elster] [--workdir DIR]

Defaults: a route of 200 meters x 4 channels x 35 days at 30 minutes (1,344,000 values).
Why a bench of its own: ``profile_parse.py`` and ``profile_ingest.py`` time the parts
on made-up input; this one runs the parts the depot and the HHU really run, in turn:

1. **field trip** (this process): the meter list, packed by the depot's packer for the
   HHU, in the simulated HHU's flash; ``run_trip`` with ``FleetVisitor`` walks the
   fleet (simulated meters recording from their load model, an outage each) and reads
   each meter's registers, then its profile and logbook (``P.01``/``P.98``, or the
   Elster registers) through the IEC 62056-21 client, into one sealed upload of
   version 3 (values in byte planes; version 2 on code before it) in flash. The
   meters' own time (they compute their answers) is measured apart, so the HHU's part
   shows: bytes read from the meters / the HHU's seconds.
2. **link**: the HHU (``DeviceServer`` on that flash) behind a ``LineSim`` paced at
   ``--baud`` (8N1: baud/10 bytes a second, 2 ms latency, 62-byte pieces as in
   ``docks.py``), in a child process; the daemon (``Daemon``, one dock on ``socket://``
   to the line) in another, pulling the upload as it does any HHU's.
3. **ingest**: in that daemon, the upload checked by its worker and committed by its
   committer (``Store.ingest``, timed where the committer calls it); then, in a child
   of its own, SQLite's raw ``executemany`` of the same rows into the store's
   ``intervals`` DDL (one transaction, WAL, synchronous=FULL), for the ratio.

``--workdir DIR`` keeps the depot, the fleet and the flash (a test compares the stored
intervals with what the meters recorded). Last line:
``route: M meters, V values, field F values/s, link G x line rate (payload version N; G2
as version 2), B B a value on the line, ingest R``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import msgpack

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hhu_firmware_sim import field_trip  # noqa: E402
from hhu_firmware_sim.field_trip import FleetVisitor, InProcessProbe, run_trip  # noqa: E402
from hhu_firmware_sim.flash import FlashStore  # noqa: E402
from hhu_sync.dock.readings import check_upload  # noqa: E402
from hhu_sync.keys import KeyStore  # noqa: E402
from hhu_sync.model.catalog import load_catalog  # noqa: E402
from hhu_sync.model.inputs import load_inputs  # noqa: E402
from hhu_sync.packing import pack_meter_list  # noqa: E402
from hhu_sync.profile.series import ChannelSeries  # noqa: E402
from hhu_sync.profile.wire import encode_profile  # noqa: E402
from hhu_sync.store.interval_rules import interval_rows  # noqa: E402
from hhu_sync.transfer import decode_transfer  # noqa: E402

HHU = "HHU-ROUTE"
VISIT = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)     # every meter read at midnight UTC
VDEW_CHANNELS = ("1.8", "2.8", "3.8", "4.8")
ELSTER_CHANNELS = ("1.8.0", "2.8.0", "5.8.0", "8.8.0")
LIST_ID = "route-bench"
FLASH_BYTES = 256 * 2**20


# -- the route: a fleet file and a meter list ---------------------------------------------

def serial_of(i: int) -> str:
    return f"{36000000 + i}"


def fleet_toml(meters: int, channels: int, days: int, interval: int, dialect: str) -> str:
    """``meters`` simulated meters, each with a daily load shape of its own (steps at
    whole quarter hours), recording since a day before the read span, one outage each."""
    codes = (VDEW_CHANNELS if dialect == "vdew" else ELSTER_CHANNELS)[:channels]
    model = "LZQJ" if dialect == "vdew" else "A1700"
    start = VISIT.replace(tzinfo=None) - timedelta(days=days + 1)
    out = []
    for i in range(meters):
        rnd = random.Random(f"route:{i}")
        base = rnd.randrange(5, 400)
        minutes = sorted({0, *(rnd.randrange(1, 96) * 15 for _ in range(rnd.randrange(3, 9)))})
        load = ", ".join(f'["{m // 60:02d}:{m % 60:02d}", "{base * rnd.uniform(0.3, 1.6):.2f}"]'
                         for m in minutes)
        down = start + timedelta(days=1 + rnd.randrange(days), minutes=rnd.randrange(80) * 15)
        up = down + timedelta(minutes=rnd.randrange(10, 200))
        out.append(f'[[meters]]\nserial = "{serial_of(i)}"\nmodel = "{model}"\n'
                   f"start = {start:%Y-%m-%dT%H:%M:%S}\nload = [{load}]\n"
                   f'outages = [["{down:%Y-%m-%dT%H:%M:%S}", "{up:%Y-%m-%dT%H:%M:%S}"]]\n'
                   f"profile = {{ interval_minutes = {interval}, depth_days = {days + 1}, "
                   f"channels = {json.dumps(list(codes))} }}\n")
    return "\n".join(out)


def list_toml(meters: int, days: int) -> str:
    since = (VISIT - timedelta(days=days)).date().isoformat()
    rows = [f'[[meters]]\nserial = "{serial_of(i)}"\ntask = "read"\n' for i in range(meters)]
    return (f'[list]\nid = "{LIST_ID}"\nhhu = "{HHU}"\ndue = 2026-12-01\n'
            f'profile = true\nevents = true\nsince = {since}\n\n' + "\n".join(rows))


def prepare(root: Path, args: argparse.Namespace) -> tuple[bytes, Path]:
    """The depot's key store (the HHU enrolled), the fleet, the list packed into the
    HHU's flash as a docking would leave it: the HHU's key and the fleet file."""
    keystore = KeyStore(root / "var" / "keystore")
    keystore.enroll(HHU)
    key = keystore.hhu_key(HHU)
    assert key is not None
    fleet = root / "fleet.toml"
    fleet.write_text(fleet_toml(args.meters, args.channels, args.days, args.interval,
                                args.dialect))
    lists = root / "lists"
    lists.mkdir()
    (lists / f"{LIST_ID}.toml").write_text(list_toml(args.meters, args.days))
    inputs = load_inputs([lists], load_catalog())
    if inputs.problems:
        raise SystemExit(f"the bench's meter list does not check: {inputs.problems}")
    pkg = pack_meter_list(inputs.lists[LIST_ID], inputs.schemes, hhu=HHU, hhu_key=key,
                          secrets=keystore, source="DEPOT")
    FlashStore(root / "flash", capacity=FLASH_BYTES).store_bundle(pkg.bundle_id, pkg.data)
    return key, fleet


class NoisyLoad:
    """A meter's daily load shape with noise of a 25th of the load, drawn per 15 minutes
    from the serial and the time (the same meter always draws the same). Why: the fleet
    file's shapes repeat every day exactly, so zlib takes whole days back from its
    window and the link's "goodput" says more about the simulator than about a route;
    a real load is never the same two days running (``--load steps`` keeps the shapes)."""

    SLOT_S = 900

    def __init__(self, shape: Any, serial: str) -> None:
        self.shape = shape
        self.seed = int(serial) * 7919
        self.cache: dict[int, Decimal] = {}

    def kw_at(self, when: datetime) -> Decimal:
        slot = int(when.replace(tzinfo=UTC).timestamp()) // self.SLOT_S
        kw = self.cache.get(slot)
        if kw is None:
            base = float(self.shape.kw_at(when))
            noise = random.Random(self.seed + slot).gauss(0.0, base / 25)
            kw = self.cache[slot] = Decimal(f"{max(0.0, base + noise):.3f}")
        return kw

    def next_change(self, when: datetime) -> datetime:
        stamp = int(when.replace(tzinfo=UTC).timestamp())
        edge = datetime.fromtimestamp((stamp // self.SLOT_S + 1) * self.SLOT_S, UTC)
        return min(self.shape.next_change(when), edge.replace(tzinfo=None))


def load_route_fleet(fleet: Path, load: str) -> Any:
    """The fleet file's meters, with ``--load noisy`` their loads made :class:`NoisyLoad`
    (the meter's registers and its recorder both read the one model)."""
    field = field_trip.load_field_fleet(fleet)
    if load == "noisy":
        for meter in field.fleet.meters:
            meter.load = NoisyLoad(meter.load, meter.serial)
            if meter.recorder is not None:
                meter.recorder.kw_at = meter.load.kw_at
    return field


# -- stage 1: the field trip ---------------------------------------------------------------

class Tally:
    """What the probes saw: bytes from the meters, and time the meters spent answering
    (their simulation is not the HHU's work), over the whole visits and the profile
    reads alone."""

    def __init__(self) -> None:
        self.read = self.profile_read = 0
        self.meter_s = self.profile_meter_s = self.profile_s = 0.0
        self.in_profile = False


TALLY = Tally()


class CountingProbe(InProcessProbe):
    """The trip's optical probe, counting what the meter answers and how long the meter
    took to compute it."""

    def write(self, data: bytes) -> None:
        t0 = time.perf_counter()
        super().write(data)
        spent = time.perf_counter() - t0
        TALLY.meter_s += spent
        if TALLY.in_profile:
            TALLY.profile_meter_s += spent

    def read(self, timeout: float) -> bytes:
        out = super().read(timeout)
        TALLY.read += len(out)
        if TALLY.in_profile:
            TALLY.profile_read += len(out)
        return out


class TimedVisitor(FleetVisitor):
    """The fleet visitor, its profile and logbook reads timed apart."""

    def _interval_data(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        TALLY.in_profile = True
        t0 = time.perf_counter()
        try:
            return super()._interval_data(*args, **kwargs)
        finally:
            TALLY.profile_s += time.perf_counter() - t0
            TALLY.in_profile = False


def field_stage(root: Path, key: bytes, fleet: Path, load: str) -> dict[str, Any]:
    """Run the trip; its figures, and the upload it left in flash."""
    field_trip.InProcessProbe = CountingProbe       # type: ignore[misc] - a bench looks in
    flash = FlashStore(root / "flash", capacity=FLASH_BYTES)
    visitor = TimedVisitor(load_route_fleet(fleet, load))
    t0 = time.perf_counter()
    for meter in visitor.fleet.fleet.meters:    # the meters live until the crew comes
        meter.at(VISIT.replace(tzinfo=None))
    lived = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = run_trip(flash, HHU, key, visit=visitor, start=VISIT, minutes_per_visit=0)
    seconds = time.perf_counter() - t0
    (upload_id,) = result.uploads
    data = flash.read_upload(upload_id)
    (root / "upload.hhux").write_bytes(data)      # for the raw baseline: acked, it goes
    return {"seconds": seconds, "lived": lived, "visits": result.visits, "upload_id": upload_id,
            "outcomes": dict(Counter(o for _, o in result.outcomes)),
            "read": TALLY.read, "profile_read": TALLY.profile_read,
            "meter_s": TALLY.meter_s, "profile_s": TALLY.profile_s,
            "profile_meter_s": TALLY.profile_meter_s, "sealed": len(data)}


def upload_sizes(data: bytes, key: bytes, upload_id: str) -> dict[str, int]:
    """The upload's sizes: sealed (what the link carries), its payload expanded (msgpack,
    as the HHU encodes it before zlib: version 2 values delta-coded in arrays, version 3
    in byte planes), that payload written as version 2 (the reference of 2026-12-02),
    and with every value written as itself (not delta-coded); the intervals and values."""
    transfer = decode_transfer(data, key)
    expanded = transfer.header.expanded_size
    version = transfer.payload.get("version", 1)
    upload = check_upload(data, hhu_id=HHU, hhu_key=key, upload_id=upload_id,
                          received_at=VISIT + timedelta(hours=12))

    def field(series: ChannelSeries, run: Any, version: int) -> int:
        one = ChannelSeries(series.channel, series.interval_s, series.exponent, (run,))
        # main's encoder (version 2 only) takes no version: run against it side by side
        profile = encode_profile(one) if version < 3 else encode_profile(one, version)
        return len(msgpack.packb(profile[4][0][1]))

    runs = [(series, run) for _, series in upload.profiles for run in series.runs]
    sent = sum(field(series, run, version) for series, run in runs)
    v2 = expanded - sent + sum(field(series, run, 2) for series, run in runs)
    plain = expanded - sent + sum(len(msgpack.packb(list(run.values))) for _, run in runs)
    return {"expanded": expanded, "v2": v2, "plain": plain, "version": version,
            "values": upload.interval_count(), "series": len(upload.profiles)}


# -- stage 2: the HHU behind its line (a child process) ------------------------------------

def serve_hhu(root: Path, baud: int, latency_ms: float, piece_ms: float) -> int:
    """Child: the simulated HHU on the trip's flash behind a paced line; print the line's
    URL; when the bench closes our stdin, print what the line carried (JSON)."""
    from hhu_firmware_sim.device import load_device
    from hhu_firmware_sim.line import LineSim
    from hhu_firmware_sim.server import DeviceServer

    key_file = root / "var" / "keystore" / "hhus" / f"{HHU}.key"
    server = DeviceServer(load_device(HHU, key_file, root / "flash")).start()
    line = LineSim(server.pair, baud=baud, latency_ms=latency_ms, piece_ms=piece_ms).start()
    print(line.url, flush=True)
    sys.stdin.read()
    stats = line.stats
    line.stop()
    server.stop()
    # the line's client is the depot's cradle: "up" is depot to HHU
    print(json.dumps({"to_hhu": stats.up.bytes_out, "to_depot": stats.down.bytes_out,
                      "sessions": stats.sessions}), flush=True)
    return 0


# -- stage 2 and 3: the daemon docks the HHU and ingests (a child process) ------------------

def serve_depot(root: Path, url: str, baud: int, bound_s: float) -> int:
    """Child: the daemon with one cradle on the line, until the HHU's upload is committed,
    acknowledged and cleared; print the docking's times and the ingest's (JSON)."""
    from hhu_sync.config import load_config
    from hhu_sync.daemon import Daemon
    from hhu_sync.dock.events import (
        Direction,
        HhuAuthenticated,
        TransferProgress,
        UploadAcknowledged,
        UploadCommitted,
    )
    from hhu_sync.logsetup import setup_logging

    setup_logging("text", "warning")
    (root / "hhu-sync.toml").write_text(
        "[limits]\ndebounce_seconds = 0.05\nhandshake_seconds = 5\noutbox_workers = 0\n"
        "[schedule]\npoll_seconds = 0.5\n"
        f'[[docks]]\nname = "cradle-1"\nport = "{url}"\nbaud = {baud}\n')
    daemon = Daemon(load_config(root / "hhu-sync.toml"))
    marks: dict[str, float] = {}
    done = threading.Event()

    def heard(event: object) -> None:
        now = time.monotonic()
        if isinstance(event, HhuAuthenticated):
            marks.setdefault("authenticated", now)
        elif isinstance(event, TransferProgress) and event.direction == Direction.UP:
            marks.setdefault("first_progress", now)
            if event.done >= event.total:
                marks["received"] = now
                marks["upload_bytes"] = event.total
        elif isinstance(event, UploadCommitted):
            marks["committed"] = now
        elif isinstance(event, UploadAcknowledged):
            marks["acknowledged"] = now
            done.set()

    daemon.docks.events.subscribe(heard)
    store = daemon.store
    ingest = store.ingest
    timing: dict[str, Any] = {}

    def timed_ingest(upload: Any, *a: Any, **kw: Any) -> Any:
        """The committer's own call, timed where it makes it."""
        t0 = time.perf_counter()
        timing["ingest_start"] = time.monotonic()
        report = ingest(upload, *a, **kw)
        timing["ingest_s"] = time.perf_counter() - t0
        timing["intervals"] = report.intervals_stored
        timing["events"] = report.events_stored
        timing["readings"] = report.readings_stored
        timing["rss_after_ingest"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return report

    store.ingest = timed_ingest                # type: ignore[method-assign]
    daemon.docks.decoder.start()               # start-up is not part of a docking
    thread = threading.Thread(target=daemon.run, daemon=True)
    t0 = time.monotonic()
    thread.start()
    ok = done.wait(bound_s)
    # cleared on the HHU and in the store: the docking's work is done
    with closing(sqlite3.connect(f"file:{daemon.config.paths.database}?mode=ro",
                                 uri=True)) as db:
        while ok and time.monotonic() - t0 < bound_s:
            if db.execute("SELECT count(*) FROM uploads WHERE cleared_at IS NOT NULL"
                          ).fetchone()[0]:
                break
            time.sleep(0.05)
    # the export the commit set off (CSV, CMEP, the interval files) ends its worker's work
    exports = daemon.config.paths.exports
    while ok and time.monotonic() - t0 < bound_s and not any(exports.rglob("*.intervals.cmep")):
        time.sleep(0.05)
    workers = {kind: max((hwm_mb(pid) for pid in (pool._processes or {})), default=0.0)
               for kind, pool in daemon.docks.decoder._pools.items()}   # noqa: SLF001
    daemon.stop.set()
    thread.join(120)
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    timing["ingest_start"] = timing.get("ingest_start", t0) - t0
    print(json.dumps({"ok": ok, **timing, **{k: v - t0 if k != "upload_bytes" else v
                                             for k, v in marks.items()},
                      "peak_check_mb": workers.get("check", 0.0),
                      "peak_export_mb": workers.get("export", 0.0),
                      "peak_mb": peak_self, "peak_worker_mb": peak_child,
                      "peak_mb_at_ingest": timing.get("rss_after_ingest", 0) / 1024}),
          flush=True)
    return 0 if ok else 1


def hwm_mb(pid: int) -> float:
    """A live process's peak resident memory (VmHWM), from /proc, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- stage 3's baseline: raw executemany of the same rows (a child process) ----------------

def intervals_ddl() -> str:
    """The store's own ``intervals`` table, from its schema."""
    schema = resources.files("hhu_sync.store").joinpath("schema.sql").read_text()
    start = schema.index("CREATE TABLE IF NOT EXISTS intervals")
    return schema[start:schema.index(";", start) + 1]


def raw_baseline(root: Path, upload_id: str) -> int:
    """Child: the same upload checked, its interval rows prebuilt, inserted by SQLite's
    executemany into a fresh database; print rows, seconds, peak MB."""
    keystore = KeyStore(root / "var" / "keystore")
    key = keystore.hhu_key(HHU)
    upload = check_upload((root / "upload.hhux").read_bytes(), hhu_id=HHU, hhu_key=key,
                          upload_id=upload_id, received_at=VISIT + timedelta(hours=12))
    rows = [row for _, _, it in interval_rows(upload) for row in it]
    del upload
    path = root / "raw.sqlite"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(intervals_ddl())
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.executemany(f"INSERT INTO intervals VALUES ({','.join('?' * 10)})", rows)
        db.execute("COMMIT")
        seconds = time.perf_counter() - t0
    path.unlink()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": len(rows), "seconds": seconds, "peak_mb": peak}), flush=True)
    return 0


# -- the bench -----------------------------------------------------------------------------

def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)


def table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def run(root: Path, args: argparse.Namespace) -> int:
    key, fleet = prepare(root, args)
    field = field_stage(root, key, fleet, args.load)
    data = (root / "upload.hhux").read_bytes()
    sizes = upload_sizes(data, key, field["upload_id"])
    values = sizes["values"]
    hhu_s = field["seconds"] - field["meter_s"]
    parse_s = field["profile_s"] - field["profile_meter_s"]
    source = "P.01 + P.98" if args.dialect == "vdew" else "Elster registers 550/551, events"
    table(f"field trip: {field['visits']} meters, {args.channels} channels, {args.days} days "
          f"at {args.interval} min ({args.dialect} dialect, {args.load} load)", [
        ("visits", ", ".join(f"{n} {o}" for o, n in sorted(field["outcomes"].items()))),
        ("series / values", f"{sizes['series']} / {values:,}"),
        ("wall seconds", f"{field['seconds']:.2f} (of it the meters computing their "
                         f"answers {field['meter_s']:.2f}, the HHU {hhu_s:.2f}; the meters' "
                         f"life up to the visit, {field['lived']:.2f} s, not counted)"),
        ("meters/s, values/s", f"{field['visits'] / field['seconds']:.1f}, "
                               f"{values / field['seconds']:,.0f} (wall); "
                               f"{field['visits'] / hhu_s:.1f}, {values / hhu_s:,.0f} (HHU)"),
        ("bytes read from meters", f"{field['read']:,} (of it {source}: "
                                   f"{field['profile_read']:,})"),
        ("profile parse MB/s", f"{field['profile_read'] / 1e6 / parse_s:.2f} (framing, BCC, "
                               f"parse, series: the HHU's {parse_s:.2f} s)"),
        ("upload in flash", f"{field['sealed']:,} bytes sealed (zlib), payload (version "
                            f"{sizes['version']}) {sizes['expanded']:,} expanded, "
                            f"{sizes['v2']:,} as version 2, {sizes['plain']:,} with values "
                            "not delta-coded"),
    ])

    line_rate = args.baud / 10
    hhu_proc = spawn("--serve-hhu", str(root), "--baud", str(args.baud), "--latency-ms",
                     str(args.latency_ms), "--piece-ms", str(args.piece_ms))
    try:
        assert hhu_proc.stdout is not None and hhu_proc.stdin is not None
        url = hhu_proc.stdout.readline().strip()
        bound = 120 + 3 * len(data) / line_rate
        depot = spawn("--depot", str(root), "--port", url, "--baud", str(args.baud),
                      "--bound", str(bound))
        out, _ = depot.communicate(timeout=bound + 180)
        dock = json.loads(out.strip().splitlines()[-1])
    finally:
        if hhu_proc.stdin is not None:
            hhu_proc.stdin.close()
        line = json.loads(hhu_proc.stdout.readline()) if hhu_proc.stdout else {}
        hhu_proc.wait(30)
    if not dock.get("ok"):
        print(f"the docking did not finish: {dock}")
        return 1
    link_s = dock["received"] - dock["authenticated"]
    wire = line["to_hhu"] + line["to_depot"]

    def goodput(nbytes: int) -> str:
        return f"{nbytes / link_s:,.0f} B/s = {nbytes / link_s / line_rate:.2f} x line rate"

    table(f"link: {args.baud} baud (8N1: {line_rate:,.0f} B/s), {args.latency_ms:g} ms "
          f"latency", [
        ("bytes on the line", f"{wire:,} (HHU to depot {line['to_depot']:,}, depot to HHU "
                              f"{line['to_hhu']:,}: frames, handshake, acknowledgements)"),
        ("upload seconds", f"{link_s:.2f} (authenticated to the upload's last byte); "
                           f"docking to acknowledged {dock['acknowledged']:.2f}"),
        ("goodput: sealed file", goodput(field["sealed"]) + " (the bytes the link carried "
                                                             "as data: its efficiency)"),
        ("goodput: payload as the HHU holds it", goodput(sizes["expanded"]) +
         f" (msgpack, version {sizes['version']}, before zlib)"),
        ("goodput: payload as version 2", goodput(sizes["v2"]) + " (the same values in "
                                                                 "version 2's arrays)"),
        ("goodput: values plain", goodput(sizes["plain"]) + " (that payload, each value "
                                                             "as itself)"),
        ("goodput: meter text", goodput(field["profile_read"]) + f" ({source} as the "
                                                                  "meters sent it)"),
        ("on the line per value", f"{line['to_depot'] / values:.3f} bytes (HHU to depot)"),
    ])

    raw_proc = spawn("--raw", str(root), "--upload-id", field["upload_id"])
    raw_out, _ = raw_proc.communicate(timeout=600)
    raw = json.loads(raw_out.strip().splitlines()[-1])
    ours_rate = dock["intervals"] / dock["ingest_s"]
    raw_rate = raw["rows"] / raw["seconds"]
    table("ingest: the daemon's committer (Store.ingest: readings, visits, intervals, "
          "events, VEE, upload row) against raw executemany", [
        ("daemon", f"{dock['intervals']:,} intervals in {dock['ingest_s']:.2f} s = "
                   f"{ours_rate:,.0f} rows/s ({dock['events']} events, "
                   f"{dock['readings']} readings)"),
        ("raw executemany", f"{raw['rows']:,} rows in {raw['seconds']:.2f} s = "
                            f"{raw_rate:,.0f} rows/s (rows prebuilt, peak "
                            f"{raw['peak_mb']:.0f} MB)"),
        ("ratio", f"{ours_rate / raw_rate:.2f}"),
        ("check (worker) seconds", f"{dock['ingest_start'] - dock['received']:.2f} (the "
                                   "upload's last byte to its commit's start)"),
        ("peak RSS", f"daemon {dock['peak_mb_at_ingest']:.0f} MB at its commit "
                     f"({dock['peak_mb']:.0f} MB by its end); its workers: check "
                     f"{dock['peak_check_mb']:.0f} MB, export (after the commit: CSV, CMEP, "
                     f"the interval files) {dock['peak_export_mb']:.0f} MB"),
    ])
    check = None
    if args.check and args.dialect != "vdew":
        # the Elster records keep their own resolution and leave an outage's intervals out
        # (docs/iec62056.md): what the meter computed is not what its records can carry
        print("\nstored = recorded: not compared (the Elster dialect's records)")
    elif args.check:
        check = stored_equals_recorded(root, fleet, args)
        print(f"\nstored = recorded: {check}")
    print(f"\nroute: {field['visits']} meters, {values:,} values, "
          f"field {values / field['seconds']:,.0f} values/s, link "
          f"{sizes['expanded'] / link_s / line_rate:.2f} x line rate (payload version "
          f"{sizes['version']}; {sizes['v2'] / link_s / line_rate:.2f} as version 2), "
          f"{line['to_depot'] / values:.3f} B a value on the line, ingest "
          f"{ours_rate / raw_rate:.2f} of executemany")
    return 0 if check in (None, "yes") else 1


def stored_equals_recorded(root: Path, fleet: Path, args: argparse.Namespace) -> str:
    """Whether the store holds, per meter and channel, exactly the intervals (end, value,
    status) each meter recorded over the span read: "yes", or the first difference."""
    from hhu_sync.store import open_store

    expected = recorded(fleet, args.days, args.load)
    store = open_store(root / "var" / "hhu-sync.db")
    try:
        for serial, channels in expected.items():
            held: dict[str, list[tuple[int, int | None, int]]] = {}
            for h in store.intervals(serial):
                held.setdefault(h.channel, []).append((h.interval_end, h.value, h.status))
            if held != channels:
                return f"no: meter {serial} differs"
    finally:
        store.close()
    return "yes"


Recorded = dict[str, dict[str, list[tuple[int, int | None, int]]]]


def recorded(fleet: Path, days: int, load: str) -> Recorded:
    """What each meter of the fleet recorded over the span the list asked for, by serial
    and channel code: (interval end, mantissa, status) per interval, as the simulated
    meter computes them (its own model, not our reading; the VDEW status as its
    documented bits translate)."""
    from hhu_sync.iec62056.loadprofile import interval_status

    def status(raw: int) -> int:
        return int(interval_status(raw, "vdew"))

    out = {}
    now = int(VISIT.timestamp())
    since = int((VISIT - timedelta(days=days)).timestamp())
    for meter in load_route_fleet(fleet, load).fleet.meters:
        rec = meter.recorder
        ends = [e for e in rec.ends(now, since + 1) if e > since]
        per: dict[str, list[tuple[int, int | None, int]]] = {}
        for end in ends:
            for code, value in zip(rec.config.channels, rec.values(end), strict=True):
                per.setdefault(code, []).append((end, value, int(status(rec.status(end)))))
        out[meter.serial] = per
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--meters", type=int, default=200)
    ap.add_argument("--channels", type=int, default=4, choices=(1, 2, 3, 4))
    ap.add_argument("--days", type=int, default=35)
    ap.add_argument("--interval", type=int, default=30, choices=(15, 30, 60))
    ap.add_argument("--load", choices=("noisy", "steps"), default="noisy",
                    help="the meters' load: their daily shapes with noise, or as they are")
    ap.add_argument("--dialect", choices=("vdew", "elster"), default="vdew")
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--latency-ms", type=float, default=2.0)
    ap.add_argument("--piece-ms", type=float, default=5.4)
    ap.add_argument("--check", action="store_true",
                    help="compare the stored intervals with what the meters recorded")
    ap.add_argument("--workdir", type=Path, help="keep everything here (an empty folder)")
    ap.add_argument("--serve-hhu", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--depot", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--port", help=argparse.SUPPRESS)
    ap.add_argument("--bound", type=float, default=600.0, help=argparse.SUPPRESS)
    ap.add_argument("--upload-id", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_hhu:
        return serve_hhu(args.serve_hhu, args.baud, args.latency_ms, args.piece_ms)
    if args.depot:
        return serve_depot(args.depot, args.port, args.baud, args.bound)
    if args.raw:
        return raw_baseline(args.raw, args.upload_id)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        if any(args.workdir.iterdir()):
            raise SystemExit(f"--workdir {args.workdir}: not empty")
        return run(args.workdir, args)
    tmp = tempfile.mkdtemp(prefix="hhu-route-")
    try:
        return run(Path(tmp), args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
