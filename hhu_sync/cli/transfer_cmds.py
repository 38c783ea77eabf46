"""`hhu-sync pack` and `hhu-sync inspect`: make and read transfer files."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hhu_sync.cli.common import catalog_of, config_of, keystore_of, read_key
from hhu_sync.errors import CliError, HhuSyncError, TransferError
from hhu_sync.fsutil import atomic_write
from hhu_sync.model.inputs import load_inputs
from hhu_sync.packaging import pack_meter_list, pack_quick_send
from hhu_sync.transfer import Transfer, decode_transfer, decrypt_password
from hhu_sync.transfer.codec import DEFAULT_LIMITS

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
    p.add_argument("--keystore", metavar="DIR", help="key store folder (default: config)")
    p.set_defaults(func=run_pack)

    i = sub.add_parser("inspect", help="check and show a transfer file",
                       description="Check a transfer file's digest (and its seal with "
                                   "--key-file) and show what it carries.")
    i.add_argument("transfer", metavar="TRANSFER")
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
        raise CliError(f"{source}: not packed, {len(inputs.problems)} problem(s)")
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
            package = pack_meter_list(mlist, {**library.schemes}, hhu=args.hhu, hhu_key=key,
                                      secrets=store, source=config.depot_id)
            what = f"meter list {mlist.id} ({len(mlist.meters)} meters)"
    except (HhuSyncError, ValueError) as exc:
        raise CliError(f"{source}: {exc}") from None
    out = Path(args.output or f"{source.stem}.{args.hhu}{TRANSFER_SUFFIX}")
    atomic_write(out, package.data)
    print(f"packed {package.kind} {what} for {args.hhu}: bundle {package.bundle_id}, "
          f"{len(package.data)} bytes -> {out}")
    return 0


def read_transfer_file(path: str | Path) -> bytes:
    path = Path(path)
    limit = DEFAULT_LIMITS.max_file
    try:
        with open(path, "rb") as fh:
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


def _passwords(transfer: Transfer, key: bytes | None) -> list[dict[str, Any]]:
    """Each password record, with whether it decrypts; never the password itself."""
    out = []
    h = transfer.header
    for scheme in transfer.payload.get("schemes", []) or []:
        for pw in scheme.get("passwords", []) or []:
            state = "encrypted"
            if key is not None:
                try:
                    decrypt_password(key, pw.get("enc"), bundle_id=h.bundle_id,
                                     target=h.target, name=str(pw.get("secret")))
                    state = "encrypted, decrypts with this key"
                except TransferError:
                    state = "encrypted, DOES NOT decrypt with this key"
            out.append({"scheme": scheme.get("id"), "level": pw.get("level"),
                        "secret": pw.get("secret"), "state": state})
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def run_inspect(args: argparse.Namespace) -> int:
    data = read_transfer_file(args.transfer)
    key = read_key(args.key_file) if args.key_file else None
    try:
        transfer = decode_transfer(data, key)
    except TransferError as exc:
        raise CliError(f"{args.transfer}: {exc}") from None
    h = transfer.header
    seal = "verified" if transfer.sealed else "not checked (give --key-file)"
    passwords = _passwords(transfer, key)
    if args.json:
        doc = {
            "file": str(args.transfer), "size": len(data), "digest": transfer.digest.hex(),
            "seal": seal,
            "header": {"kind": h.kind, "bundle_id": h.bundle_id,
                       "created": h.created.isoformat(), "source": h.source, "target": h.target,
                       "compression": h.compression, "expanded_size": h.expanded_size,
                       "version": ".".join(map(str, h.version)), "manifest": list(h.manifest)},
            "passwords": passwords,
            "payload": _jsonable(transfer.payload),
        }
        print(json.dumps(doc, indent=2, default=str))
        return 0
    console = Console()
    table = Table(title=f"{args.transfer}", show_header=False)
    for name, value in (("kind", h.kind), ("bundle id", h.bundle_id),
                        ("created", h.created.isoformat()), ("from", h.source),
                        ("to", h.target), ("format", ".".join(map(str, h.version))),
                        ("size", f"{len(data)} bytes ({h.compression}, "
                                 f"{h.expanded_size} expanded)"),
                        ("sha-256", f"{transfer.digest.hex()} (ok)"), ("seal", seal)):
        table.add_row(name, value)
    console.print(table)
    p = transfer.payload
    if isinstance(p.get("meter_list"), dict):
        ml = p["meter_list"]
        t = Table(title=f"meter list {ml.get('id')}: {ml.get('name')} (due {ml.get('due')})")
        for col in ("#", "serial", "site", "task", "scheme", "notes"):
            t.add_column(col)
        for n, m in enumerate(ml.get("meters", []), start=1):
            t.add_row(str(n), str(m.get("serial")), str(m.get("site")), str(m.get("task")),
                      str(m.get("scheme") or ""), str(m.get("notes") or ""))
        console.print(t)
    for s in p.get("schemes", []) or []:
        console.print(f"scheme {s.get('id')} v{s.get('version')} for {s.get('model')}: "
                      f"{len(s.get('rates', []))} rates, {len(s.get('day_profiles', []))} day "
                      f"profiles, {len(s.get('seasons', []))} seasons, demand "
                      f"{s.get('demand_period_minutes')} min")
    for pw in passwords:
        console.print(f"  password level {pw['level']} ({pw['secret']}): {pw['state']}")
    if h.kind == "readings":
        visits = p.get("visits", []) or []
        t = Table(title=f"readings upload {p.get('upload_id', h.bundle_id)} from {h.source}")
        for col in ("meter", "time", "outcome", "registers", "flags", "scheme", "notes"):
            t.add_column(col)
        for v in visits:
            t.add_row(str(v.get("meter")), str(v.get("time")), str(v.get("outcome")),
                      str(len(v.get("registers", []) or [])), str(v.get("error_flags") or ""),
                      f"{v.get('scheme') or ''} {v.get('verify') or ''}".strip(),
                      str(v.get("notes") or ""))
        console.print(t)
    return 0
