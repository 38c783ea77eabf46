"""`hhu-sync validate PATH...`: check schemes and meter lists, one line per problem."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hhu_sync.cli.common import catalog_of, config_of
from hhu_sync.cli.humanize import counted
from hhu_sync.errors import CliError
from hhu_sync.model.inputs import is_candidate, load_inputs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check schemes and meter lists (files or folders)",
                       description="Check schemes (TOML) and meter lists (TOML, CSV) against "
                                   "the meter model catalog. Exit 0 when all are valid, else 1 "
                                   "with one line per problem: FILE:LINE: field: message (and 1 "
                                   "when no scheme or meter list was found to check).")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="scheme or meter list files (.toml, .csv), or folders of them")
    p.add_argument("--schemes", action="append", default=[], metavar="DIR",
                   help="also read schemes from DIR, for meter lists that name them "
                        "(default: the schemes beside each FILE named, as pack does)")
    p.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_of(args)
    catalog = catalog_of(config)
    sources = args.schemes or _beside(args.paths)
    known = load_inputs(sources, catalog).schemes if sources else None
    result = load_inputs(args.paths, catalog, known)
    for problem in sorted(result.problems, key=lambda p: (p.file, p.line or 0)):
        print(problem)
    if result.problems:
        print(f"{counted(len(result.problems), 'problem')} found", file=sys.stderr)
        return 1
    if not result.schemes and not result.lists:
        # A mistyped or wrong folder must not read as "all valid".
        raise CliError(f"nothing to validate in {', '.join(args.paths)}: no scheme or meter "
                       "list (.toml, .csv) found")
    if not args.quiet:
        against = ""
        if result.lists and known:
            # "0 schemes" alone reads as if the lists' schemes went unchecked.
            one = len(result.lists) == 1
            where = (f"from {', '.join(args.schemes)}" if args.schemes else
                     f"beside {'it' if one else 'them'} in "
                     + ", ".join(sorted({str(Path(p).parent) for p in sources})))
            against = (f" ({'its' if one else 'their'} schemes checked "
                       f"against {counted(len(known), 'scheme')} {where})")
        print(f"ok: {counted(len(result.schemes), 'scheme')}, "
              f"{counted(len(result.lists), 'meter list')}{against}")
    return 0


def _beside(paths: list[str]) -> list[Path]:
    """The TOML files beside each file named (not under folders, not recursively): a
    meter list checked alone finds the schemes kept with it, as ``pack`` finds them."""
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            for sibling in sorted(path.parent.glob("*.toml")):
                if sibling != path and sibling.is_file() and is_candidate(sibling):
                    found[sibling] = None
    return list(found)
