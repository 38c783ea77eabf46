"""`hhu-sync user ...`: web app accounts, from the command line.

A password is read from standard input (its first line), or asked for twice without
echo on a terminal: never an argument, which other users could read in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from hhu_sync.cli.common import cli_actor, config_of, store_of
from hhu_sync.errors import CliError
from hhu_sync.store import StoreError
from hhu_sync.web.accounts import AccountError, Accounts
from hhu_sync.web.passwords import MAX_BYTES, PasswordRefused
from hhu_sync.web.roles import Role

_NAME_HELP = "the user's login name, e.g. jsmith"


def register(sub: argparse._SubParsersAction) -> None:
    u = sub.add_parser("user", help="web app accounts: add, passwd, disable, enable, list",
                       description="Accounts of the web app. Roles: depot (docks, handhelds, "
                                   "lists, requeue), office (also resolves exceptions, "
                                   "cancels lists, uploads schemes), admin (also manages "
                                   "users and revokes HHUs).")
    usub = u.add_subparsers(dest="action", metavar="ACTION")
    usub.required = True
    add = usub.add_parser("add", help="add a user; the password is read from standard input",
                          description="Add user NAME with ROLE. The password is the first "
                                      "line of standard input (printf '%%s\\n' PASSWORD | "
                                      "hhu-sync user add NAME --role office), or asked for "
                                      "twice on a terminal.")
    add.add_argument("name", metavar="NAME", help=_NAME_HELP)
    add.add_argument("--role", required=True, choices=[r.value for r in Role],
                     help="what the user may do (see hhu-sync user --help)")
    add.set_defaults(func=run_add)
    pw = usub.add_parser("passwd", help="set a user's password (read from standard input)",
                         description="Set NAME's password (first line of standard input, "
                                     "or asked for twice on a terminal); logs NAME out "
                                     "everywhere.")
    pw.add_argument("name", metavar="NAME", help=_NAME_HELP)
    pw.set_defaults(func=run_passwd)
    for verb, flag in (("disable", True), ("enable", False)):
        d = usub.add_parser(verb, help=f"{verb} a user" + (" (logs them out)" if flag else ""),
                            description=f"{verb.capitalize()} user NAME.")
        d.add_argument("name", metavar="NAME", help=_NAME_HELP)
        d.set_defaults(func=run_disable if flag else run_enable)
    ls = usub.add_parser("list", help="list users and their roles",
                         description="One user a line: name, role, enabled or disabled.")
    ls.set_defaults(func=run_list)


def _password(name: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != first:
            raise CliError(f"user {name}: the two passwords differ; nothing changed")
        return first
    line = sys.stdin.readline(MAX_BYTES + 2).rstrip("\r\n")
    if not line:
        raise CliError(f"user {name}: no password read from standard input; give it as "
                       "its first line, e.g. printf '%s\\n' 'PASSWORD' | hhu-sync user ...")
    return line


def _accounts(args: argparse.Namespace, *, create: bool = False) -> Accounts:
    """The accounts of the configured database; ``create``: the first user of a new
    depot may be added before its daemon has ever run."""
    config = config_of(args)
    return Accounts(store_of(config, create=create))


def run_add(args: argparse.Namespace) -> int:
    accounts = _accounts(args, create=True)
    try:
        accounts.add(args.name, args.role, _password(args.name), actor=cli_actor())
    except (AccountError, PasswordRefused, StoreError) as exc:
        raise CliError(str(exc)) from None
    print(f"user {args.name} added ({args.role})")
    return 0


def run_passwd(args: argparse.Namespace) -> int:
    accounts = _accounts(args)
    if accounts.store.user(args.name) is None:
        raise CliError(f"no user {args.name!r}; hhu-sync user list shows who there is")
    try:
        accounts.set_password(args.name, _password(args.name), actor=cli_actor())
    except (AccountError, PasswordRefused, StoreError) as exc:
        raise CliError(str(exc)) from None
    print(f"user {args.name}: password changed; logged out everywhere")
    return 0


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    accounts = _accounts(args)
    try:
        accounts.set_disabled(args.name, disabled, actor=cli_actor())
    except (AccountError, StoreError) as exc:
        raise CliError(str(exc)) from None
    print(f"user {args.name} {'disabled (logged out)' if disabled else 'enabled'}")
    return 0


def run_disable(args: argparse.Namespace) -> int:
    return _set_disabled(args, True)


def run_enable(args: argparse.Namespace) -> int:
    return _set_disabled(args, False)


def run_list(args: argparse.Namespace) -> int:
    for user in _accounts(args).store.users():
        print(f"{user.name}\t{user.role}\t{'disabled' if user.disabled else 'enabled'}")
    return 0
