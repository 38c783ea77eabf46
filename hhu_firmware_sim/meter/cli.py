"""``hhu-sim meter``: serve simulated IEC 62056-21 meters over TCP.

``add_meter_commands(subparsers)`` adds the ``meter`` sub-command to the ``hhu-sim``
parser (wired by ``hhu_firmware_sim/cli.py``).
"""

from __future__ import annotations

import argparse
from datetime import datetime

from hhu_firmware_sim.cliutil import hostport, wait_for_signal
from hhu_firmware_sim.meter.fleet import Fleet, FleetError, default_profile, load_fleet
from hhu_firmware_sim.meter.meter import LoadProfile, SimMeter
from hhu_firmware_sim.meter.session import QUIRK_NAMES, Quirks


def build_fleet(args: argparse.Namespace) -> Fleet:
    """The fleet the arguments describe (a fleet file, or one meter from the flags)."""
    if args.fleet:
        fleet = load_fleet(args.fleet)
        if args.quirk:
            fleet.quirks = Quirks.from_names(args.quirk)
        return fleet
    if not args.serial:
        raise FleetError("give --serial (and --password) or --fleet FILE")
    passwords = {1: args.password} if args.password else None
    start = datetime.fromisoformat(args.start) if args.start else datetime(2026, 1, 1)
    meter = SimMeter(args.serial, model=args.model, address=args.address, passwords=passwords,
                     start=start, load=LoadProfile.constant(args.load_kw),
                     profile=default_profile(args.model))
    return Fleet([meter], Quirks.from_names(args.quirk or []))


def cmd_meter(args: argparse.Namespace) -> int:
    """Run the server until SIGINT/SIGTERM."""
    from hhu_firmware_sim.meter.server import MeterServer

    fleet = build_fleet(args)
    server = MeterServer(fleet, args.listen, time_scale=args.time_scale).start()
    names = ", ".join(m.serial for m in fleet.meters)
    print(f"meters {names} listening on {server.url}", flush=True)
    wait_for_signal()
    server.stop()
    return 0


def add_meter_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``meter`` to an ``add_subparsers()`` object; sets ``func=cmd_meter``."""
    p = subparsers.add_parser("meter", help="serve simulated IEC 62056-21 meters over TCP")
    p.add_argument("--listen", required=True, type=hostport, metavar="[HOST:]PORT")
    p.add_argument("--serial", help="meter serial (also its device address by default)")
    p.add_argument("--password", help="level 1 password (8 characters for P2)")
    p.add_argument("--model", default="A1700", help="A1700, A1140, AS230, MT174, ZMD120")
    p.add_argument("--address", help="device address, default the serial")
    p.add_argument("--load-kw", default="1.0", help="constant load, kW (decimal text)")
    p.add_argument("--start", help="simulated clock at start, ISO date-time")
    p.add_argument("--time-scale", type=float, default=None,
                   help="advance the meters' clocks with wall time × this factor")
    p.add_argument("--fleet", metavar="FILE", help="fleet TOML file (see docs/iec62056.md)")
    p.add_argument("--quirk", action="append", choices=QUIRK_NAMES,
                   help="inject a quirk (repeatable)")
    p.set_defaults(func=cmd_meter)
    return p
