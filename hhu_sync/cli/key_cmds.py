"""`hhu-sync enroll` and `hhu-sync secret`: the key store, from the command line."""

from __future__ import annotations

import argparse
import getpass
import sys

from hhu_sync.cli.common import (
    cli_actor,
    config_of,
    config_source,
    keystore_of,
    shown,
    store_exists,
    store_of,
)
from hhu_sync.errors import CliError, KeyStoreError

_KEYSTORE_HELP = "key store folder (default: paths.keystore of the configuration)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("enroll", help="make a key for a handheld (HHU)",
                       description="Make a fresh random key for HHU-ID in the key store "
                                   "(mode 0600). Refuses to replace a key without --force.")
    p.add_argument("hhu_id", metavar="HHU-ID", help="the handheld's id, e.g. HHU-001")
    p.add_argument("--force", action="store_true", help="replace an existing key")
    p.add_argument("--keystore", metavar="DIR", help=_KEYSTORE_HELP)
    p.set_defaults(func=run_enroll)

    r = sub.add_parser("revoke", help="make a lost or stolen HHU useless to the depot",
                       description="Move HHU-ID's key out of the key store (kept under "
                                   "revoked/ for audit), cancel what is queued for it and give "
                                   "its crew deliveries back to the crew.")
    r.add_argument("hhu_id", metavar="HHU-ID", help="the handheld's id, e.g. HHU-001")
    r.add_argument("--keystore", metavar="DIR", help=_KEYSTORE_HELP)
    r.set_defaults(func=run_revoke)

    s = sub.add_parser("secret", help="store meter passwords that schemes name",
                       description="Meter passwords, by name, in the key store (mode 0600): "
                                   "a scheme's [[passwords]] names a secret, never a password "
                                   "in clear.")
    s.add_argument("--keystore", metavar="DIR", help=_KEYSTORE_HELP)
    ssub = s.add_subparsers(dest="action", metavar="ACTION")
    ssub.required = True
    sset = ssub.add_parser("set", help="store a secret, read from standard input",
                           description="Store the secret NAME: its value is the first line "
                                       "of standard input (echo VALUE | hhu-sync secret set "
                                       "NAME), or asked for without echo on a terminal.")
    sset.add_argument("name", metavar="NAME",
                      help="the name a scheme's [[passwords]] secret = gives, e.g. a1700-level3")
    sset.add_argument("--force", action="store_true", help="replace an existing secret")
    sset.add_argument("--keystore", metavar="DIR", default=argparse.SUPPRESS,
                      help=_KEYSTORE_HELP)
    sset.set_defaults(func=run_secret_set)
    slist = ssub.add_parser("list", help="list secret names (never their values)",
                            description="The names of the secrets stored, one a line; "
                                        "never their values.")
    slist.add_argument("--keystore", metavar="DIR", default=argparse.SUPPRESS,
                       help=_KEYSTORE_HELP)
    slist.set_defaults(func=run_secret_list)


def run_enroll(args: argparse.Namespace) -> int:
    store = keystore_of(args, config_of(args))
    try:
        path = store.enroll(args.hhu_id, force=args.force)
    except (KeyStoreError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"enrolled {args.hhu_id}: key written to {path} (mode 0600); "
          f"copy it to the handheld over a trusted cable, never by e-mail")
    return 0


def run_secret_set(args: argparse.Namespace) -> int:
    store = keystore_of(args, config_of(args))
    if sys.stdin.isatty():
        value = getpass.getpass(f"value of secret {args.name}: ")
    else:
        value = sys.stdin.readline(1024).rstrip("\r\n")
    if not value:
        raise CliError(f"secret {args.name}: nothing read from standard input; give the "
                       f"value as its first line: echo 'VALUE' | hhu-sync secret set {args.name}")
    try:
        path = store.set_secret(args.name, value, force=args.force)
    except (KeyStoreError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"stored secret {args.name} in {path} (mode 0600)")
    return 0


def run_secret_list(args: argparse.Namespace) -> int:
    store = keystore_of(args, config_of(args))
    folder = store.root / "secrets"
    names = sorted(p.stem for p in folder.glob("*.secret")) if folder.is_dir() else []
    for name in names:
        print(name)
    if not names:
        print(f"hhu-sync: no secrets in {folder} (hhu-sync secret set NAME stores one)",
              file=sys.stderr)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from hhu_sync.keys.revoke import revoke_handheld

    config = config_of(args)
    store = keystore_of(args, config)
    db = store_of(config) if store_exists(config) else None
    try:
        try:
            done = revoke_handheld(store, db, args.hhu_id,
                                   datetime.now(UTC).isoformat(timespec="seconds"),
                                   user=cli_actor())
        except (KeyStoreError, ValueError) as exc:
            raise CliError(str(exc)) from None
    finally:
        if db is not None:
            db.close()
    print(f"revoked {args.hhu_id}: its key is now {done.key_moved_to}; the depot will "
          "refuse it")
    counts = done.counts
    if counts is None:
        print(f"no database at {shown(config.paths.database)} "
              f"({config_source(config)}): nothing was queued for {args.hhu_id}")
    else:
        print(f"{counts['cancelled']} queued deliveries cancelled, "
              f"{counts['returned_to_crew']} returned to the crew; "
              f"{counts['lists_on_hhu']} meter lists were on it (hhu-sync requeue LIST-ID "
              "to send them to another HHU)")
    return 0
