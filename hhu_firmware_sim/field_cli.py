"""``hhu-sim field-trip``: send a simulated HHU into the field with the lists in its flash.

``add_field_trip_commands(subparsers)`` adds the sub-command (wired by ``cli.py``).
With ``--fleet`` the crew talks IEC 62056-21 to the simulated meters of a fleet file
(state kept in ``fleet-state.json`` in the flash folder); with ``--synthetic`` it makes
readings up. Faults pick meters by serial, for rehearsing what the depot does with
failed visits.
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from hhu_firmware_sim.field_trip import FAULT_NAMES, FieldFaults, fleet_trip, run_trip
from hhu_firmware_sim.flash import FlashStore
from hhu_sync.keys import load_key_file


def _faults(text: str) -> FieldFaults:
    try:
        return FieldFaults.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _when(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO date-time, got {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)   # naive: UTC


def cmd_field_trip(args: argparse.Namespace) -> int:
    """Run the trip; exit 0 even when visits failed (those are the crew's findings)."""
    flash = FlashStore(args.flash)
    key = load_key_file(args.key_file)
    extra = {"operator": args.operator, "start": args.start}
    if args.fleet:
        result = fleet_trip(flash, args.id, key, args.fleet, faults=args.faults,
                            state_path=args.fleet_state, **extra)
    else:
        if args.fleet_state is not None:
            raise ValueError("--fleet-state needs --fleet")
        if args.faults != FieldFaults():
            raise ValueError("--faults needs --fleet (synthetic visits always succeed)")
        result = run_trip(flash, args.id, key, **extra)
    for serial, outcome in result.outcomes:
        print(f"  {serial:<12} {outcome}")
    counts = Counter(outcome for _, outcome in result.outcomes)
    summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "no visits"
    print(f"{args.id}: {len(result.lists)} list(s) {', '.join(result.lists) or '-'}; "
          f"{result.visits} visit(s) ({summary}); {result.readings} reading(s) in "
          f"{len(result.uploads)} upload(s) waiting for the dock")
    return 0


def add_field_trip_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``field-trip`` to an ``add_subparsers()`` object; sets ``func=cmd_field_trip``."""
    p = subparsers.add_parser("field-trip", help="work the meter lists in a flash folder",
                              description=__doc__)
    p.add_argument("--flash", required=True, metavar="DIR")
    p.add_argument("--id", required=True, help="HHU id, e.g. HHU-001")
    p.add_argument("--key-file", required=True, metavar="FILE")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--fleet", metavar="FLEET.toml", help="simulated meters to visit")
    how.add_argument("--synthetic", action="store_true", help="made-up readings, no meters")
    p.add_argument("--faults", type=_faults, default=FieldFaults(),
                   metavar="NAME=SERIAL,...",
                   help=f"inject faults by meter serial; NAME one of {', '.join(FAULT_NAMES)}")
    p.add_argument("--fleet-state", type=Path, metavar="FILE",
                   help="keep the meters' state here, shared with other HHUs' trips "
                        "(default: fleet-state.json in the flash folder)")
    p.add_argument("--start", type=_when, help="time of the first visit (default: now)")
    p.add_argument("--operator", default="crew", help="who made the visits")
    p.set_defaults(func=cmd_field_trip)
    return p
