"""`hhu-sync db status` and `hhu-sync db upgrade`: the store's schema version, looked at
and moved forward (hhu_sync.store.migrations)."""

from __future__ import annotations

import argparse
import json

from hhu_sync.cli.common import config_of, database_of, store_name
from hhu_sync.config import store_url
from hhu_sync.errors import CliError
from hhu_sync.store import StoreError
from hhu_sync.store.migrations import schema_state, upgrade

_VERDICT = {
    "current": "this hhu-sync's version",
    "empty": "no schema yet: hhu-sync db upgrade (or the daemon's first start) makes it",
    "older": "older: hhu-sync db upgrade moves it to this hhu-sync's version",
    "newer": "newer: made by a later hhu-sync; the daemon refuses it, db upgrade too",
    "unknown": "not a version any hhu-sync writes; the daemon refuses it",
}


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("db", help="the store's schema: status, upgrade",
                       description="The configured store ([store] url, else the SQLite "
                                   "file paths.database): its schema version beside the "
                                   "one this hhu-sync knows, and the upgrade between them.")
    dsub = d.add_subparsers(dest="action", metavar="ACTION")
    dsub.required = True
    s = dsub.add_parser("status", help="the store's URL, backend, schema version and rows",
                        description="Show the store (its URL without a password), its "
                                    "backend, the schema version it holds and the one this "
                                    "hhu-sync knows, and its rows per table. Changes "
                                    "nothing. Exit 1 when the versions differ.")
    s.add_argument("--json", action="store_true", help="raw values, for scripts")
    s.set_defaults(func=run_status)
    u = dsub.add_parser("upgrade", help="move the store's schema to this hhu-sync's version",
                        description="Make the schema of an empty store, or apply the "
                                    "migrations from the version it holds to the one this "
                                    "hhu-sync knows, each in one transaction. A newer "
                                    "store is refused (exit 1), naming both versions, and "
                                    "left as it was.")
    u.set_defaults(func=run_upgrade)


def run_status(args: argparse.Namespace) -> int:
    config = config_of(args)
    database_of(config)                       # a missing SQLite file: one line, none made
    try:
        state = schema_state(store_url(config))
    except StoreError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps({"store": state.store, "backend": state.backend,
                          "schema_version": state.held, "known_version": state.known,
                          "verdict": state.verdict, "rows": state.counts}, indent=2))
    else:
        print(f"store: {state.store}")
        print(f"backend: {state.backend}")
        print(f"schema version: {state.held or 'none'} (this hhu-sync: {state.known}; "
              f"{_VERDICT[state.verdict]})")
        for table, n in state.counts.items():
            print(f"rows {table}: {n}")
    return 0 if state.verdict == "current" else 1


def run_upgrade(args: argparse.Namespace) -> int:
    config = config_of(args)
    try:
        held, steps = upgrade(store_url(config))
    except StoreError as exc:
        raise CliError(str(exc)) from None
    where = store_name(config)
    known = schema_state(store_url(config)).known
    if held is None:
        print(f"{where}: schema version {known} made")
    elif not steps:
        print(f"{where}: schema version {known} already; nothing to do")
    else:
        for step in steps:
            print(f"{where}: version {step.from_version} to {step.to_version}: {step.what}")
        print(f"{where}: schema version {held} upgraded to {known}")
    return 0
