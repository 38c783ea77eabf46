"""`hhu-sync validate PATH...`: check schemes and meter lists, one line per problem."""

from __future__ import annotations

import argparse
import sys

from hhu_sync.cli.common import catalog_of, config_of
from hhu_sync.model.inputs import load_inputs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check schemes and meter lists (files or folders)",
                       description="Check schemes (TOML) and meter lists (TOML, CSV) against "
                                   "the meter model catalog. Exit 0 when all are valid, else 1 "
                                   "with one line per problem: FILE:LINE: field: message.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--schemes", action="append", default=[], metavar="DIR",
                   help="also read schemes from DIR, for meter lists that name them")
    p.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_of(args)
    catalog = catalog_of(config)
    known = load_inputs(args.schemes, catalog).schemes if args.schemes else None
    result = load_inputs(args.paths, catalog, known)
    for problem in sorted(result.problems, key=lambda p: (p.file, p.line or 0)):
        print(problem)
    if result.problems:
        print(f"{len(result.problems)} problem(s) found", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"ok: {len(result.schemes)} scheme(s), {len(result.lists)} meter list(s)")
    return 0
