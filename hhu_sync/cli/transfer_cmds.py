"""`hhu-sync pack` and `hhu-sync inspect`: make and read transfer files.

``inspect`` shows files from anywhere, sealed by anyone holding a key: the codec checks a
bundle payload's shape, this checks what it shows of a readings upload, and every value
shown is escaped (no rich markup, no terminal control codes) so a hostile file can
neither crash the command nor rewrite the terminal.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hhu_sync.cli.common import (
    catalog_of,
    config_of,
    keystore_of,
    read_key,
    store_exists,
    store_of,
)
from hhu_sync.cli.humanize import counted
from hhu_sync.errors import CliError, HhuSyncError, TransferError
from hhu_sync.fsutil import atomic_write, user_path
from hhu_sync.model.inputs import load_inputs
from hhu_sync.model.meterlist import SINCE_LAST
from hhu_sync.packing import last_ends_held, pack_meter_list, pack_quick_send, resolve_since_last
from hhu_sync.safetext import escape_controls
from hhu_sync.transfer import Transfer, decode_transfer, decrypt_password
from hhu_sync.transfer.codec import DEFAULT_LIMITS
from hhu_sync.transfer.shape import READINGS_VIEW, check_plain

TRANSFER_SUFFIX = ".hhux"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pack", help="package a scheme or meter list for one HHU",
                       description="Package a scheme (a Quick send) or a meter list with the "
                                   "schemes it names into a sealed transfer file for one HHU.")
    p.add_argument("file", metavar="FILE", help="scheme or meter list (TOML or CSV)")
    p.add_argument("--hhu", required=True, metavar="ID", help="target handheld")
    p.add_argument("-o", "--output", metavar="OUT",
                   help=f"transfer file to write (default: FILE-stem.ID{TRANSFER_SUFFIX})")
    p.add_argument("--key-file", metavar="K", help="the HHU's key (default: from the key store)")
    p.add_argument("--schemes", action="append", default=[], metavar="DIR",
                   help="where to find schemes a meter list names (default: FILE's folder)")
    p.add_argument("--keystore", metavar="DIR",
                   help="key store folder (default: the configuration's paths.keystore)")
    p.set_defaults(func=run_pack)

    i = sub.add_parser("inspect", help="check and show a transfer file",
                       description="Check a transfer file's digest (and its seal with "
                                   "--key-file) and show what it carries.")
    i.add_argument("transfer", metavar="TRANSFER", help="transfer file (.hhux)")
    i.add_argument("--key-file", metavar="K", help="check the seal with this HHU key")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=run_inspect)


def run_pack(args: argparse.Namespace) -> int:
    config = config_of(args)
    catalog = catalog_of(config)
    source = Path(args.file)
    scheme_dirs = args.schemes or ([str(source.parent)] if source.parent.is_dir() else [])
    library = load_inputs(scheme_dirs, catalog)
    inputs = load_inputs([source], catalog, library.schemes)
    if inputs.problems:
        for problem in inputs.problems:
            print(problem, file=sys.stderr)
        raise CliError(f"{source}: not packed, {counted(len(inputs.problems), 'problem')}")
    store = keystore_of(args, config)
    if args.key_file:
        key = read_key(args.key_file)
    else:
        try:
            key_path = store.key_path(args.hhu)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        if not key_path.exists():
            raise CliError(f"{args.hhu} is not enrolled (no key at {key_path}); "
                           f"run 'hhu-sync enroll {args.hhu}' or give --key-file")
        key = read_key(key_path)
    try:
        if inputs.schemes:
            (scheme,) = inputs.schemes.values()
            package = pack_quick_send(scheme, hhu=args.hhu, hhu_key=key, secrets=store,
                                      source=config.depot_id)
            what = f"scheme {scheme.id}"
        else:
            (mlist,) = inputs.lists.values()
            if any(m.since == SINCE_LAST for m in mlist.meters):
                # "last" is what the depot holds: its database says, if it has one;
                # a depot that holds nothing reads everything
                held: dict[str, int] = {}
                if store_exists(config):
                    db = store_of(config)
                    try:
                        held = last_ends_held(db, mlist)
                    finally:
                        db.close()
                mlist = resolve_since_last(mlist, held)
            package = pack_meter_list(mlist, {**library.schemes}, hhu=args.hhu, hhu_key=key,
                                      secrets=store, source=config.depot_id)
            what = f"meter list {mlist.id} ({counted(len(mlist.meters), 'meter')})"
    except (HhuSyncError, ValueError) as exc:
        raise CliError(f"{source}: {exc}") from None
    out = user_path(args.output or f"{source.stem}.{args.hhu}{TRANSFER_SUFFIX}")
    atomic_write(out, package.data)
    print(f"packed {what} ({package.kind}) for {args.hhu}: bundle {package.bundle_id}, "
          f"{len(package.data)} bytes -> {out}")
    return 0


def read_transfer_file(path: str | Path) -> bytes:
    """At most the format's largest file; never blocks on a FIFO or a device."""
    path = Path(path)
    limit = DEFAULT_LIMITS.max_file
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError
            if not stat.S_ISREG(mode):
                raise CliError(f"{path}: not a regular file")
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a folder, not a transfer file") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise CliError(f"{path}: larger than the {limit} byte limit for a transfer file")
    if not data:
        raise CliError(f"{path}: is empty")
    return data


def _state(transfer: Transfer, key: bytes | None, record: dict[str, Any]) -> str:
    """Whether a sealed password record decrypts with ``key``; never the password."""
    if key is None:
        return "encrypted"
    h = transfer.header
    try:
        decrypt_password(key, record["enc"], bundle_id=h.bundle_id, target=h.target,
                         name=record["secret"])
    except TransferError:
        return "encrypted, DOES NOT decrypt with this key"
    return "encrypted, decrypts with this key"


def _passwords(transfer: Transfer, key: bytes | None) -> list[dict[str, Any]]:
    """Each password record, with whether it decrypts; never the password itself."""
    out: list[dict[str, Any]] = []
    if transfer.header.kind == "readings":   # no schemes travel in an upload
        return out
    for scheme in transfer.payload.get("schemes", []):
        for pw in scheme["passwords"]:
            out.append({"scheme": scheme["id"], "level": pw["level"],
                        "secret": pw["secret"], "state": _state(transfer, key, pw)})
    return out


def _read_passwords(transfer: Transfer, key: bytes | None) -> list[dict[str, Any]]:
    """Each list entry's reading-password record, with whether it decrypts."""
    if transfer.header.kind != "meter_list":
        return []
    return [{"meter": m["serial"], "secret": m["read_password"]["secret"],
             "state": _state(transfer, key, m["read_password"])}
            for m in transfer.payload["meter_list"]["meters"] if "read_password" in m]


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _cell(value: Any) -> Text:
    """A value as plain text: never read as rich markup, controls escaped."""
    return Text(escape_controls("" if value is None else str(value)))


def run_inspect(args: argparse.Namespace) -> int:
    data = read_transfer_file(args.transfer)
    key = read_key(args.key_file) if args.key_file else None
    try:
        transfer = decode_transfer(data, key)
        check_plain(transfer.payload, "payload")       # depth, key and value types
        if transfer.header.kind == "readings":
            READINGS_VIEW.check(transfer.payload, "payload")
        passwords = _passwords(transfer, key)
        read_passwords = _read_passwords(transfer, key)
    except TransferError as exc:
        raise CliError(f"{args.transfer}: {exc}") from None
    h = transfer.header
    seal = "verified" if transfer.sealed else "not checked (give --key-file)"
    if args.json:
        doc = {
            "file": str(args.transfer), "size": len(data), "digest": transfer.digest.hex(),
            "seal": seal,
            "header": {"kind": h.kind, "bundle_id": h.bundle_id,
                       "created": h.created.isoformat(), "source": h.source, "target": h.target,
                       "compression": h.compression, "expanded_size": h.expanded_size,
                       "version": ".".join(map(str, h.version)), "manifest": list(h.manifest)},
            "passwords": passwords,
            "read_passwords": read_passwords,
            "payload": _jsonable(transfer.payload),
        }
        print(json.dumps(doc, indent=2, default=str))
        return 0
    console = Console(highlight=False)
    table = Table(title=_cell(args.transfer), show_header=False)
    for name, value in (("kind", h.kind), ("bundle id", h.bundle_id),
                        ("created", h.created.isoformat()), ("from", h.source),
                        ("to", h.target), ("format", ".".join(map(str, h.version))),
                        ("size", f"{len(data)} bytes ({h.compression}, "
                                 f"{h.expanded_size} expanded)"),
                        ("sha-256", f"{transfer.digest.hex()} (ok)"), ("seal", seal)):
        table.add_row(name, _cell(value))
    console.print(table)
    p = transfer.payload
    if h.kind == "meter_list" and "meter_list" in p:
        ml = p["meter_list"]
        t = Table(title=_cell(f"meter list {ml['id']}: {ml['name']} (due {ml['due']})"))
        for col in ("#", "serial", "site", "task", "scheme", "notes"):
            t.add_column(col)
        for n, m in enumerate(ml["meters"][:MAX_ROWS], start=1):
            t.add_row(str(n), *(_cell(m[k] or "") for k in
                                ("serial", "site", "task", "scheme", "notes")))
        console.print(t)
        _more(console, len(ml["meters"]), "meter")
    if h.kind != "readings":
        for s in p.get("schemes", []):
            console.print(_cell(
                f"scheme {s['id']} v{s['version']} for {s['model']}: "
                f"{counted(len(s['rates']), 'rate')}, "
                f"{counted(len(s['day_profiles']), 'day profile')}, "
                f"{counted(len(s['seasons']), 'season')}, demand "
                f"{s['demand_period_minutes']} min"))
    for pw in passwords:
        console.print(_cell(f"  password level {pw['level']} ({pw['secret']}): {pw['state']}"))
    for pw in read_passwords:
        console.print(_cell(f"  reading password of meter {pw['meter']} ({pw['secret']}): "
                            f"{pw['state']}"))
    if h.kind == "readings":
        visits = p.get("visits") or []
        t = Table(title=_cell(f"readings upload {p.get('upload_id', h.bundle_id)} "
                              f"from {h.source}"))
        for col in ("meter", "time", "outcome", "registers", "flags", "scheme", "notes"):
            t.add_column(col)
        for v in visits[:MAX_ROWS]:
            t.add_row(_cell(v.get("meter")), _cell(v.get("time")), _cell(v.get("outcome")),
                      str(len(v.get("registers") or [])), _cell(v.get("error_flags") or ""),
                      _cell(f"{v.get('scheme') or ''} {v.get('verify') or ''}".strip()),
                      _cell(v.get("notes") or ""))
        console.print(t)
        _more(console, len(visits), "visit")
    return 0


#: Rows a text view shows: rich lays a table out as a whole (100,000 visits took 51 s and
#: 8 MB of output); --json gives every one.
MAX_ROWS = 200


def _more(console: Console, count: int, what: str) -> None:
    """``what``: the noun, singular."""
    if count > MAX_ROWS:
        more = count - MAX_ROWS
        console.print(_cell(f"… {more:,} more {what}{'' if more == 1 else 's'} (--json "
                            f"shows all {count:,})"))
