"""`hhu-sync ingest FILE...`: store uploads saved by `hhu-sync pull`, as a docking would."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from hhu_sync.cli.common import config_of, keystore_of, read_key
from hhu_sync.errors import CliError
from hhu_sync.ingest import escape
from hhu_sync.ingest.saved import SavedResult, ingest_saved
from hhu_sync.store import StoreError, open_store

_EPILOG = ("exit codes: 0 every file stored or already held, 1 a file was refused "
           "(named on stderr with the byte offset or field) or could not be read")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="store readings uploads saved by hhu-sync pull",
                       description="Check each saved upload (seal, every field) and store it "
                                   "with its exceptions, exactly as a docking does, then write "
                                   "its exports. Safe to repeat: a file already stored is "
                                   "reported as already held.",
                       epilog=_EPILOG)
    p.add_argument("files", nargs="+", metavar="FILE", help="saved upload(s), UPLOAD.hhux")
    p.add_argument("--key-file", metavar="FILE",
                   help="the HHU's key (stem = its id); default: the depot's key store")
    p.add_argument("--keystore", metavar="DIR", help="key store folder (default: config)")
    p.add_argument("--no-export", action="store_true", help="store only; write no exports")
    p.set_defaults(func=run_ingest)


def _summary(r: SavedResult) -> str:
    rep = r.report
    assert rep is not None
    name = escape(r.path, 200)
    if rep.already_held:
        return f"{name}: upload {r.upload_id} from {r.hhu_id} already held"
    return (f"{name}: upload {r.upload_id} from {r.hhu_id}: {rep.visits} visits, "
            f"{rep.readings_stored} readings stored ({rep.readings_not_billable} not billable), "
            f"{rep.readings_rejected} rejected, {rep.readings_already_held} already held, "
            f"{rep.conflicts} conflicts, {rep.not_on_list} not on list, "
            f"{rep.findings} findings")


def run_ingest(args: argparse.Namespace) -> int:
    config = config_of(args)
    if args.key_file:
        hhu, key = Path(args.key_file).stem, read_key(args.key_file)

        def keys(hhu_id: str) -> bytes | None:
            return key if hhu_id == hhu else None
    else:
        keys = keystore_of(args, config).hhu_key
    try:
        store = open_store(config.paths.database)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    refused = 0
    try:
        for path in args.files:
            result = ingest_saved(store, path, keys, now=datetime.now(UTC),
                                  exports=None if args.no_export else config.paths.exports,
                                  sender=config.depot_id, catalog=config.paths.catalog)
            if result.refused:
                refused += 1
                print(f"hhu-sync: {escape(path, 200)}: refused: {escape(result.refused, 300)}",
                      file=sys.stderr)
                continue
            print(_summary(result))
            if result.warning:
                print(f"hhu-sync: {escape(path, 200)}: {escape(result.warning, 300)}",
                      file=sys.stderr)
    finally:
        store.close()
    if refused:
        raise CliError(f"{refused} of {len(args.files)} file(s) refused; nothing of them "
                       "was stored")
    return 0
