"""`hhu-sync scheme add|list`: the scheme library, by hand.

``add`` takes scheme files into the library with the checks the outbox applies (the
catalog, then the version rule: versions only move forward); ``--force`` replaces a
newer edition on purpose. ``list`` shows what the library holds.

    0 taken (or already held)    1 not a valid scheme, or refused by the version rule
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path

from hhu_sync.cli.common import catalog_of, config_of, is_sqlite, store_exists, store_name
from hhu_sync.cli.humanize import ago, counted
from hhu_sync.cli.status_cmd import console_for_people, print_table
from hhu_sync.config import store_url
from hhu_sync.errors import CliError
from hhu_sync.model.inputs import load_inputs
from hhu_sync.model.loader import MAX_INPUT_BYTES, decode_text, parse_toml
from hhu_sync.model.problems import ModelError
from hhu_sync.model.scheme import Scheme
from hhu_sync.model.versions import HeldScheme, Verdict, judge
from hhu_sync.safetext import escape_controls
from hhu_sync.store import Store, StoreError, open_store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scheme", help="add schemes to the library, list it",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ssub = p.add_subparsers(dest="action", metavar="ACTION")
    ssub.required = True
    a = ssub.add_parser("add", help="take scheme files into the library (as the outbox does)")
    a.add_argument("files", nargs="+", metavar="FILE", help="scheme TOML")
    a.add_argument("--force", action="store_true",
                   help="replace the library's scheme even if it has a higher version")
    a.set_defaults(func=run_add)
    s = ssub.add_parser("list", help="the schemes held: id, version, model, received")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=run_list)


def _read(path: Path) -> bytes:
    """The file's bytes, bounded as the outbox bounds them. Opened non-blocking and read
    only when ``fstat`` on the open descriptor says it is a regular file: a FIFO or a
    device named by mistake (or planted in a folder given as DIR/*.toml) cannot hang
    the command or feed it endless bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CliError(f"{path}: not a regular file (a folder, pipe, socket or "
                           "device); not read")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_INPUT_BYTES:
        raise CliError(f"{path}: larger than {MAX_INPUT_BYTES} bytes")
    return raw


def _scheme(path: Path, raw: bytes, catalog) -> Scheme:
    if _is_meter_list(path, raw):
        raise CliError(f"{path}: a meter list, not a scheme (meter lists go to the outbox)")
    inputs = load_inputs([path], catalog, None, {path: raw})
    for problem in inputs.problems:
        print(escape_controls(str(problem)), file=sys.stderr)
    if inputs.problems:
        raise CliError(f"{path}: not a valid scheme "
                       f"({counted(len(inputs.problems), 'problem')})")
    if not inputs.schemes:
        raise CliError(f"{path}: not a scheme")
    return next(iter(inputs.schemes.values()))


def _is_meter_list(path: Path, raw: bytes) -> bool:
    """A CSV, or TOML with a [list] table and no [scheme]: the outbox's kind, not ours."""
    if path.suffix.lower() == ".csv":
        return True
    try:
        data, _ = parse_toml(decode_text(raw, path), path)
    except ModelError:
        return False        # load_inputs names the problem
    return "list" in data and "scheme" not in data


def _add_one(store: Store, path: Path, catalog, force: bool) -> str:
    raw = _read(path)
    scheme = _scheme(path, raw, catalog)
    held = store.scheme(scheme.id)
    if held is not None and judge(scheme.version, scheme.json,
                                  HeldScheme(held.version, held.json, "", "")) is Verdict.SAME:
        return f"{path}: scheme {scheme.id} version {scheme.version} is already held"
    now = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        store.accept_input(sha256=hashlib.sha256(raw).hexdigest(), name=path.name,
                           kind="scheme", moved_to="", now=now, scheme=scheme, force=force)
    except StoreError as exc:
        raise CliError(f"{path}: {exc}") from None
    was = f" (was version {held.version})" if held is not None else ""
    return (f"{path}: scheme {scheme.id} version {scheme.version} ({scheme.model}) "
            f"taken into the library{was}")


def run_add(args: argparse.Namespace) -> int:
    config = config_of(args)
    catalog = catalog_of(config)
    try:
        store = open_store(store_url(config), depot=config.depot_id)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    failed = 0
    try:
        for name in args.files:
            try:
                # A file name (or a scheme's text) may hold a newline or an escape
                # sequence: each message stays one visible line on the terminal.
                print(escape_controls(_add_one(store, Path(name), catalog, args.force)))
            except CliError as exc:
                print(escape_controls(f"hhu-sync: {exc}"), file=sys.stderr)
                failed += 1
    finally:
        store.close()
    return 1 if failed else 0


def run_list(args: argparse.Namespace) -> int:
    config = config_of(args)
    if not store_exists(config):
        raise CliError(f"no database at {config.paths.database}; the library is empty")
    try:
        store = open_store(store_url(config), depot=config.depot_id)
        try:
            entries = store.library_entries()
        finally:
            store.close()
    except StoreError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps([{"id": e.scheme_id, "version": e.version, "model": e.model,
                           "received": e.received, "from": e.source} for e in entries],
                         indent=2))
        return 0
    if not entries:
        where = config.paths.database if is_sqlite(config) else store_name(config)
        print(f"no schemes in the library ({where})")
        return 0
    now = datetime.now(UTC)
    print_table(console_for_people(), f"schemes in the library ({len(entries)})",
                ["id", "version", "model", "received", "from file"],
                [[e.scheme_id, e.version, e.model, ago(e.received, now), e.source]
                 for e in entries])
    return 0
