"""``hhu-sim meter``: serve simulated IEC 62056-21 meters over TCP, one port per link.

``add_meter_commands(subparsers)`` adds the ``meter`` sub-command to the ``hhu-sim``
parser (wired by ``hhu_firmware_sim/cli.py``).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import TYPE_CHECKING

from hhu_firmware_sim.cliutil import hostport, wait_for_signal
from hhu_firmware_sim.meter.fleet import Fleet, FleetError, default_profile, load_fleet
from hhu_firmware_sim.meter.links import DIRECT, LinkedFleet, load_linked_fleet
from hhu_firmware_sim.meter.meter import LoadProfile, SimMeter
from hhu_firmware_sim.meter.session import QUIRK_NAMES, Quirks

if TYPE_CHECKING:
    from hhu_firmware_sim.meter.network import FleetNetwork


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


def build_network(args: argparse.Namespace) -> FleetNetwork:
    """The (unstarted) servers the arguments describe: a fleet file's links, and its
    meters that name none on ``--listen``; or one meter from the flags on ``--listen``."""
    from hhu_firmware_sim.meter.network import FleetNetwork

    if args.fleet:
        linked = load_linked_fleet(args.fleet)
    else:
        if args.listen is None:
            raise FleetError("give --listen [HOST:]PORT (or --fleet FILE with [[links]])")
        linked = LinkedFleet(None, direct=build_fleet(args))
    quirks = Quirks.from_names(args.quirk) if args.quirk else None
    return FleetNetwork(linked, listen=args.listen, time_scale=args.time_scale,
                        quirks=quirks)


def describe_lines(network: FleetNetwork) -> list[str]:
    """One line per link: name, kind, URL and the meters (serial@address) behind it."""
    lines = []
    for link in network.describe()["links"]:
        meters = ", ".join(m["serial"] if m["address"] == m["serial"]
                           else f"{m['serial']}@{m['address']}" for m in link["meters"])
        if link["kind"] == DIRECT:
            lines.append(f"meters {meters} listening on {link['url']}")
        else:
            extra = " echo" if link["kind"] != "bus" and link["echo"] else ""
            lines.append(f"link {link['name']} {link['kind']} {link['url']} "
                         f"sessions={link['sessions']}{' line' if link['line'] else ''}"
                         f"{extra} meters {meters}")
    return lines


def cmd_meter(args: argparse.Namespace) -> int:
    """Run the servers until SIGINT/SIGTERM; first print where each link listens."""
    network = build_network(args).start()
    if args.json:
        print(json.dumps(network.describe()), flush=True)
    else:
        print("\n".join(describe_lines(network)), flush=True)
    wait_for_signal()
    network.stop()
    return 0


def add_meter_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``meter`` to an ``add_subparsers()`` object; sets ``func=cmd_meter``."""
    p = subparsers.add_parser("meter", help="serve simulated IEC 62056-21 meters over TCP")
    p.add_argument("--listen", type=hostport, metavar="[HOST:]PORT",
                   help="where meters that name no link are served (all of them without "
                        "[[links]]); a fleet whose meters all sit behind links needs none")
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
                   help="inject a quirk (repeatable), on every link")
    p.add_argument("--json", action="store_true",
                   help="print the links as one JSON line: name, kind, url, meters")
    p.set_defaults(func=cmd_meter)
    return p
