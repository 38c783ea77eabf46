"""`hhu-sync ingest FILE...`: store uploads saved by `hhu-sync pull`, as a docking would."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from hhu_sync.cli.common import config_of, keystore_of, read_key, shown
from hhu_sync.cli.humanize import counted
from hhu_sync.config import store_url
from hhu_sync.errors import CliError
from hhu_sync.ingest import escape
from hhu_sync.ingest.saved import Refusal, SavedResult, ingest_saved
from hhu_sync.keys.names import hhu_id_of_key_file
from hhu_sync.store import StoreError, open_store

_EPILOG = ("A folder is refused, not searched: give the files in it (hhu-sync ingest "
           "DIR/*.hhux), so what is stored is what was named. "
           "exit codes: 0 every file stored or already held, 1 a file was refused "
           "(named on stderr with the byte offset or field) or could not be read")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="store readings uploads saved by hhu-sync pull",
                       description="Check each saved upload (seal, every field) and store it "
                                   "with its exceptions, exactly as a docking does, then write "
                                   "its exports. Safe to repeat: a file already stored is "
                                   "reported as already held.",
                       epilog=_EPILOG)
    p.add_argument("files", nargs="+", metavar="FILE", help="saved uploads, UPLOAD.hhux")
    p.add_argument("--key-file", metavar="FILE",
                   help="the HHU's key (its name up to .key is its id); default: the depot's key "
                        "store")
    p.add_argument("--keystore", metavar="DIR",
                   help="key store folder (default: the configuration's paths.keystore)")
    p.add_argument("--no-export", action="store_true", help="store only; write no exports")
    p.set_defaults(func=run_ingest)


def _is_dir(path: str) -> bool:
    """Whether ``path`` names a folder; a name the system refuses (too long, a loop of
    links) is not one, and :func:`ingest_saved` says why it cannot be read."""
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False


def _summary(r: SavedResult) -> str:
    rep = r.report
    assert rep is not None
    name = escape(r.path, 200)
    if rep.already_held:
        return f"{name}: upload {r.upload_id} from {r.hhu_id} already held"
    return (f"{name}: upload {r.upload_id} from {r.hhu_id}: {counted(rep.visits, 'visit')}, "
            f"{counted(rep.readings_stored, 'reading')} stored "
            f"({rep.readings_not_billable} not billable), "
            f"{rep.readings_rejected} rejected, {rep.readings_already_held} already held, "
            f"{counted(rep.conflicts, 'conflict')}, {rep.not_on_list} not on list, "
            f"{counted(rep.findings, 'finding')}{_intervals(rep)}")


def _intervals(rep) -> str:
    """Upload version 2's counts, said only when it brought intervals or events."""
    if not (rep.intervals_stored or rep.intervals_already_held or rep.interval_conflicts
            or rep.events_stored or rep.events_already_held or rep.vee_findings):
        return ""
    return (f"; {counted(rep.intervals_stored, 'interval')} stored, "
            f"{rep.intervals_already_held} already held, "
            f"{counted(rep.interval_conflicts, 'interval conflict')}, "
            f"{counted(rep.events_stored, 'event')} stored, "
            f"{rep.events_already_held} already held, "
            f"{counted(rep.vee_findings, 'validation finding')}")


def _key_named(result: SavedResult, key_source: Callable[[str], str]) -> str:
    """Where the key came from, said only where a key was the question: a seal that does
    not match (the key used) or a maker whose key is not held (where it was looked for).
    Decided by the refusal's code; a file refused before that names no key."""
    if result.refusal is Refusal.BAD_SEAL:
        return f" (key used: {escape(key_source(result.hhu_id), 300)})"
    if result.refusal is Refusal.NO_KEY:
        return f" (looked for in: {escape(key_source(result.hhu_id), 300)})"
    return ""


def run_ingest(args: argparse.Namespace) -> int:
    config = config_of(args)
    if args.key_file:
        hhu, key = hhu_id_of_key_file(args.key_file), read_key(args.key_file)

        def keys(hhu_id: str) -> bytes | None:
            return key if hhu_id == hhu else None

        def key_source(hhu_id: str) -> str:
            return (f"key file {shown(Path(args.key_file))}" if hhu_id == hhu else
                    f"only {hhu}'s key given, key file {shown(Path(args.key_file))}")
    else:
        keystore = keystore_of(args, config)
        keys = keystore.hhu_key

        def key_source(hhu_id: str) -> str:
            # A wrong key store (a forgotten or extra --config) is the usual cause of a
            # seal that does not match: name the store and the key file it gave.
            where = f"key store {shown(keystore.root)}"
            try:
                return f"{where}, key file {shown(keystore.key_path(hhu_id))}"
            except Exception:  # noqa: BLE001 - an id no key file can have
                return where
    try:
        store = open_store(store_url(config), depot=config.depot_id)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    refused = 0
    try:
        for path in args.files:
            if _is_dir(path):
                refused += 1
                print(f"hhu-sync: {escape(path, 200)}: refused: a folder: give the files "
                      f"in it (hhu-sync ingest {escape(path.rstrip('/'), 200)}/*.hhux)",
                      file=sys.stderr)
                continue
            result = ingest_saved(store, path, keys, now=datetime.now(UTC),
                                  exports=None if args.no_export else config.paths.exports,
                                  sender=config.depot_id, catalog=config.paths.catalog)
            if result.refused:
                refused += 1
                used = _key_named(result, key_source)
                print(f"hhu-sync: {escape(path, 200)}: refused: {escape(result.refused, 300)}"
                      f"{used}", file=sys.stderr)
                continue
            print(_summary(result))
            if result.warning:
                print(f"hhu-sync: {escape(path, 200)}: {escape(result.warning, 300)}",
                      file=sys.stderr)
    finally:
        store.close()
    if refused:
        raise CliError(f"{refused} of {counted(len(args.files), 'file')} refused; "
                       f"nothing of {'it' if refused == 1 else 'them'} was stored")
    return 0
