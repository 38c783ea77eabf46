"""``hhu-sim``: run a simulated HHU, a simulated serial line, or look into a flash folder."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Sequence

from hhu_firmware_sim.cliutil import hostport, wait_for_signal
from hhu_firmware_sim.flash import FlashError, FlashStore
from hhu_sync.errors import HhuSyncError


def _cmd_flash(args: argparse.Namespace) -> int:
    store = FlashStore(args.flash)
    info = store.describe()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"flash {info['root']}: {info['used']} of {info['capacity']} bytes used, "
          f"{info['free']} free")
    for b in info["bundles"]:
        print(f"  bundle   {b['id']}  {b['size']} bytes  committed")
    for p in info["partial"]:
        print(f"  bundle   {p['id']}  {p['held']}/{p['size']} bytes  partial")
    for u in info["uploads"]:
        print(f"  upload   {u['id']}  {u['size']} bytes  waiting for the dock")
    return 0


def _cmd_add_upload(args: argparse.Namespace) -> int:
    """Record a readings upload as the HHU would after a round (for trying ``pull``)."""
    from datetime import UTC, datetime

    from hhu_sync.ids import new_bundle_id
    from hhu_sync.keys import load_key_file
    from hhu_sync.transfer import encode_transfer

    now = datetime.now(UTC).isoformat(timespec="seconds")
    visits = [{"meter": f"{10000000 + i}", "list": "", "time": now, "outcome": "done",
               "registers": [{"obis": "1.8.0", "value": f"{1000 + i:06d}.0", "unit": "kWh",
                              "time": now}],
               "error_flags": "00000000", "scheme": None, "verify": None,
               "operator": args.operator, "notes": ""} for i in range(args.visits)]
    key = load_key_file(args.key_file)
    upload_id = new_bundle_id()
    payload = {"upload_id": upload_id, "hhu_id": args.id, "operator": args.operator,
               "visits": visits}
    data = encode_transfer("readings", payload, source=args.id, target=args.depot, key=key,
                           bundle_id=upload_id)
    FlashStore(args.flash).store_upload(upload_id, data)
    print(upload_id)
    return 0



def _cmd_line(args: argparse.Namespace) -> int:
    from hhu_firmware_sim.line import LineSim

    latency = args.latency_ms + (args.rtt_ms / 2 if args.rtt_ms else 0.0)
    line = LineSim(args.target, listen=args.listen, baud=args.baud, ber=args.ber,
                   latency_ms=latency, cut_after=args.cut_after, seed=args.seed,
                   piece_ms=args.piece_ms, connect_ms=args.connect_ms,
                   drops=dict(args.drop or ()), drop_chance=args.drop_chance,
                   drop_within=args.drop_within)
    line.start()
    print(f"line {line.address[0]}:{line.address[1]} -> {args.target[0]}:{args.target[1]} "
          f"baud={args.baud} ber={args.ber:g} latency={latency:g}ms "
          f"connect={args.connect_ms:g}ms", flush=True)
    wait_for_signal()
    line.stop()
    s = line.stats
    print(f"sessions={s.sessions} cuts={s.cuts} dropped={s.dropped} "
          f"up={s.up.bytes_out}B down={s.down.bytes_out}B "
          f"flips={s.up.bit_flips + s.down.bit_flips}")
    return 0


def _drop(text: str) -> tuple[int, int]:
    """``SESSION:BYTES`` for ``--drop``."""
    session, sep, after = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(session), int(after)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected SESSION:BYTES (e.g. 0:2000: the first call drops after 2000 bytes), "
            f"got {text!r}") from None


def _settings(args: argparse.Namespace) -> object | None:
    """LinkSettings from --window/--max-frame, or None for the defaults."""
    if args.window is None and args.max_frame is None:
        return None
    import dataclasses

    from hhu_sync.link import LinkSettings

    changes = {k: v for k, v in (("window", args.window), ("max_frame_payload", args.max_frame))
               if v is not None}
    return dataclasses.replace(LinkSettings(), **changes)


def _cmd_serve(args: argparse.Namespace) -> int:
    from hhu_firmware_sim.device import Faults, load_device

    faults = Faults(cut_after=args.cut_after, ber=args.ber, reboot_after=args.reboot_after,
                    slow_ms=args.slow_ms, seed=args.seed)
    settings = _settings(args)
    device = load_device(args.id, args.key_file, args.flash, capacity=args.capacity,
                         wrong_key=args.wrong_key, faults=faults, firmware=args.firmware,
                         **({"settings": settings} if settings else {}))

    def report(result: object) -> None:
        print(f"session: {result}", flush=True)

    if args.pty:
        from hhu_firmware_sim.server import open_pty, serve_pty

        master, _slave, path = open_pty()
        print(path, flush=True)
        stop = threading.Event()
        thread = threading.Thread(target=serve_pty, args=(device, master, stop, report),
                                  daemon=True)
        thread.start()
        wait_for_signal()
        stop.set()
        thread.join(5.0)
        return 0
    from hhu_firmware_sim.server import DeviceServer

    server = DeviceServer(device, args.listen, on_session=report,
                          faulty_sessions=args.faulty_sessions).start()
    print(f"{args.id} listening on {server.url}", flush=True)
    wait_for_signal()
    server.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hhu-sim", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("flash", help="list what a flash folder holds")
    p.add_argument("--flash", required=True, metavar="DIR")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_flash)

    p = sub.add_parser("add-upload", help="store a readings upload on a flash (for pull)")
    p.add_argument("--flash", required=True, metavar="DIR")
    p.add_argument("--id", required=True, help="HHU id, e.g. HHU-001")
    p.add_argument("--key-file", required=True, metavar="FILE")
    p.add_argument("--visits", type=int, default=3)
    p.add_argument("--operator", default="crew-a")
    p.add_argument("--depot", default="depot", help="target depot id")
    p.set_defaults(func=_cmd_add_upload)

    p = sub.add_parser("line", help="relay TCP through a simulated serial line")
    p.add_argument("--listen", required=True, type=hostport, metavar="[HOST:]PORT")
    p.add_argument("--target", required=True, type=hostport, metavar="HOST:PORT")
    p.add_argument("--baud", type=int, default=115200, help="0 = unpaced (default 115200)")
    p.add_argument("--ber", type=float, default=0.0, help="bit error rate per direction")
    p.add_argument("--latency-ms", type=float, default=0.0, help="one-way latency")
    p.add_argument("--rtt-ms", type=float, default=0.0,
                   help="added round-trip latency (half of it each way, on --latency-ms)")
    p.add_argument("--connect-ms", type=float, default=0.0,
                   help="a call is connected this long after it is made (a modem dialling)")
    p.add_argument("--cut-after", type=int, metavar="N",
                   help="close every session after N bytes relayed")
    p.add_argument("--drop", type=_drop, action="append", metavar="SESSION:BYTES",
                   help="drop session SESSION (0 = the first call) after BYTES bytes; "
                        "repeatable; later calls go through")
    p.add_argument("--drop-chance", type=float, default=0.0, metavar="P",
                   help="drop each other session with probability P (seeded by --seed)")
    p.add_argument("--drop-within", type=int, default=4096, metavar="BYTES",
                   help="a random drop falls within the session's first BYTES bytes")
    p.add_argument("--seed", type=int)
    p.add_argument("--piece-ms", type=float, default=2.0,
                   help="deliver bytes in pieces this long (5.4 = a USB adapter's packets)")
    p.set_defaults(func=_cmd_line)

    p = sub.add_parser("serve", help="run a simulated HHU, one dock at a time")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--listen", type=hostport, metavar="[HOST:]PORT")
    where.add_argument("--pty", action="store_true", help="serve on a new pty; prints its path")
    p.add_argument("--id", required=True, help="HHU id, e.g. HHU-001")
    p.add_argument("--key-file", required=True, metavar="FILE")
    p.add_argument("--flash", required=True, metavar="DIR")
    p.add_argument("--capacity", type=int, metavar="BYTES")
    p.add_argument("--firmware", default="sim-1.0")
    p.add_argument("--ber", type=float, default=0.0)
    p.add_argument("--cut-after", type=int, metavar="N")
    p.add_argument("--reboot-after", type=int, metavar="N", help="reboot after N bundle bytes")
    p.add_argument("--slow-ms", type=float, default=0.0)
    p.add_argument("--wrong-key", action="store_true")
    p.add_argument("--window", type=int, metavar="FRAMES", help="receive window (link setting)")
    p.add_argument("--max-frame", type=int, metavar="BYTES", help="largest frame payload")
    p.add_argument("--faulty-sessions", type=int, metavar="K",
                   help="apply the faults to the first K sessions only")
    p.add_argument("--seed", type=int)
    p.set_defaults(func=_cmd_serve)
    from hhu_firmware_sim.field_cli import add_field_trip_commands
    from hhu_firmware_sim.meter.cli import add_meter_commands

    add_meter_commands(sub)
    add_field_trip_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FlashError, HhuSyncError, OSError, ValueError) as exc:
        print(f"hhu-sim: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
