"""`hhu-sync run`, `export`, `requeue`, `cancel`: the daemon and its queue (status: status_cmd)."""

from __future__ import annotations

import argparse
import difflib
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hhu_sync.cli.common import (
    cli_actor,
    config_of,
    config_source,
    database_of,
    store_name,
    store_of,
)
from hhu_sync.cli.humanize import counted
from hhu_sync.cli.status_cmd import register_status
from hhu_sync.cli.status_inputs import waiting_inputs
from hhu_sync.config import Config, store_url
from hhu_sync.errors import CliError, HhuSyncError
from hhu_sync.export import FORMATS, export
from hhu_sync.fsutil import user_path
from hhu_sync.keys import KeyStore
from hhu_sync.logsetup import setup_logging
from hhu_sync.model.problems import ModelError
from hhu_sync.store import StoreError, open_store
from hhu_sync.store.list_actions import UnknownList, change_list

log = logging.getLogger("hhu_sync.daemon")

_LIST_HELP = "a meter list's [list] id (hhu-sync status lists them)"


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("run", help="run the sync daemon",
                       description="Watch the outbox, serve docked HHUs, ingest and export "
                                   "readings. SIGTERM or Ctrl-C stops cleanly.")
    r.add_argument("--once", action="store_true",
                   help="exit when the outbox is drained and no work is left; print a summary "
                        "(exit 3 when deliveries are left that docked HHUs did not take)")
    r.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="with --once: give up after S seconds (default 600)")
    r.add_argument("--log-format", choices=("auto", "text", "json", "rich"), default="auto",
                   help="json: one JSON object per event (journald & co); text: plain "
                        "lines; rich: coloured; auto (default): rich on a terminal, else text")
    r.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                   default="info", help="the least severe events logged (default info)")
    r.set_defaults(func=run_daemon)

    register_status(sub)

    e = sub.add_parser("export", help="export readings for billing",
                       description="Write the database's readings for billing, atomically: "
                                   "CSV, CMEP (MEPMD01, times in UTC) or JSON lines. Every "
                                   "column is documented in docs/exports.md; only status ok "
                                   "is billable.")
    e.add_argument("--format", choices=FORMATS, default="csv", help="default csv")
    e.add_argument("--since", metavar="TIME",
                   help="readings received at or after TIME (ISO 8601; UTC without a zone)")
    e.add_argument("-o", "--output", metavar="FILE",
                   help="default: readings-NOW.EXT in paths.exports")
    e.set_defaults(func=run_export)

    q = sub.add_parser("requeue", help="send a meter list again (lost or wiped HHU)",
                       description="Queue the meter list LIST-ID again, for its HHU or crew: "
                                   "the next docking takes it. Exit 1 when the database does "
                                   "not hold it (the message names the database).")
    q.add_argument("list_id", metavar="LIST-ID", help=_LIST_HELP)
    q.set_defaults(func=run_requeue)

    c = sub.add_parser("cancel", help="withdraw a meter list",
                       description="Withdraw the meter list LIST-ID: it is marked cancelled "
                                   "and what is queued of it is not sent. Exit 1 when the "
                                   "database does not hold it (the message names the "
                                   "database).")
    c.add_argument("list_id", metavar="LIST-ID", help=_LIST_HELP)
    c.set_defaults(func=run_cancel)


def _prepare_demo(config: Config) -> None:
    demo = config.demo
    if demo is None:
        return
    from hhu_sync.daemon import seed_demo

    try:
        store = KeyStore(config.paths.keystore)
        for hhu in demo.enroll:
            if store.hhu_key(hhu) is None:
                store.enroll(hhu)
        for name, value in demo.secrets.items():
            if not store.secret_path(name).exists():
                store.set_secret(name, value)
    except (HhuSyncError, OSError) as exc:
        # The demo's keys are a convenience: a key store it cannot use (a symlinked
        # hhus/, wrong permissions) is logged and the daemon starts anyway; refusing
        # would stop it again at every restart. The dock manager reports the store too.
        log.error("demo: cannot enroll its HHUs or set its secrets in the key store %s "
                  "(%s); starting without them", config.paths.keystore, exc)
    fresh = not config.paths.database.exists()
    config.paths.outbox.mkdir(parents=True, exist_ok=True)
    if fresh:
        seed_demo(config, list(demo.seed))
    if demo.users:
        _demo_users(config, demo.users, demo.web_password)


def _demo_users(config: Config, users: dict[str, str], password: str) -> None:
    """The demo's web accounts, made once (a password changed since is kept)."""
    from hhu_sync.web.accounts import Accounts

    try:
        store = open_store(store_url(config), open_wait_s=5.0, depot=config.depot_id)
    except HhuSyncError as exc:
        log.error("demo: cannot make its web accounts (%s); starting without them", exc)
        return
    try:
        accounts = Accounts(store)
        for name, role in users.items():
            if store.user(name) is None:
                accounts.add(name, role, password, actor="demo")
    except HhuSyncError as exc:
        log.error("demo: cannot make its web accounts (%s); starting without them", exc)
    finally:
        store.close()


def run_daemon(args: argparse.Namespace) -> int:
    restore = setup_logging(args.log_format, args.log_level)
    try:
        return _serve(args)
    finally:
        restore()      # run inside a longer-lived process: no handler left behind


def _serve(args: argparse.Namespace) -> int:
    from hhu_sync.daemon import Daemon

    config = config_of(args)
    if not config.docks and not args.once:
        print("hhu-sync: no [[docks]] configured; only the outbox will be served",
              file=sys.stderr)
    try:
        _prepare_demo(config)
        daemon = Daemon(config, once=args.once)
    except (HhuSyncError, ModelError, OSError) as exc:
        raise CliError(f"cannot start: {exc}") from None
    if daemon.web is not None:
        print(f"hhu-sync: web app on {daemon.web.url}"
              + (" (demo accounts: see README)" if config.demo and config.demo.users else ""),
              file=sys.stderr, flush=True)

    def _stop(signum, _frame):
        daemon.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    timeout = args.timeout if args.timeout is not None else (600.0 if args.once else None)
    if sys.stderr.isatty() and args.log_format in ("auto", "rich"):
        summary = _run_with_progress(daemon, timeout)
    else:
        summary = daemon.run(timeout=timeout)
    _print_summary(config, summary)
    if summary.store_refused:
        print(f"hhu-sync: stopped: {summary.store_refused}", file=sys.stderr)
        return 1
    if args.once and not summary.finished:
        return 1
    if args.once and summary.errors and summary.queued_left:
        return 3   # work is left that the docked HHUs refused or could not take
    return 0


def _run_with_progress(daemon, timeout: float | None):
    """A person is watching: a live bar per transfer, above the log lines."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskID,
        TextColumn,
        TransferSpeedColumn,
    )

    from hhu_sync.dock.events import Direction, DockEvent, TransferProgress

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn())
    with Progress(*columns, transient=True) as bars:
        tasks: dict[tuple[str, str], TaskID] = {}

        def show(event: DockEvent) -> None:
            if not isinstance(event, TransferProgress):
                return
            key = (event.dock, event.object_id)
            if key not in tasks:
                arrow = "→" if event.direction is Direction.DOWN else "←"
                tasks[key] = bars.add_task(f"{event.dock} {arrow} {event.object_id[:28]}",
                                           total=event.total)
            bars.update(tasks[key], completed=event.done)
            if event.done >= event.total:
                bars.remove_task(tasks.pop(key))

        daemon.docks.events.subscribe(show)
        return daemon.run(timeout=timeout)


def _print_summary(config: Config, summary) -> None:
    try:
        store = open_store(store_url(config), open_wait_s=5.0, depot=config.depot_id)
        try:
            status = store.status()
            waiting = waiting_inputs(config, store.library())["count"]
        finally:
            store.close()
    except StoreError as exc:     # the database down (or refused): what the run counted
        status = {"lists_by_state": {}, "exceptions": [], "readings": "unknown"}
        waiting = 0
        print(f"hhu-sync: the summary's database figures are missing: {exc}",
              file=sys.stderr)
    lines = [
        ("files", ", ".join(f"{v} {k}" for k, v in sorted(summary.files.items())) or "none"),
        ("bundles pushed", str(summary.bundles_pushed)),
        ("uploads pulled", str(summary.uploads_pulled)),
        ("readings stored", str(summary.readings_stored)),
        ("readings already held", str(summary.readings_already_held)),
        ("readings rejected", str(summary.readings_rejected)),
        ("readings not billable", str(summary.readings_not_billable)),
        ("field check findings", str(summary.findings)),
        ("intervals stored", f"{summary.intervals_stored} ({summary.intervals_already_held} "
                             f"already held, "
                             f"{counted(summary.interval_conflicts, 'conflict')})"),
        ("events stored", str(summary.events_stored)),
        ("validation findings", str(summary.vee_findings)),
        ("lists", ", ".join(f"{v} {k}" for k, v in sorted(status["lists_by_state"].items()))
         or "none"),
        ("exceptions", ", ".join(f"{r['n']} {r['kind']}" for r in status["exceptions"])
         or "none"),
        ("readings in database", str(status["readings"])),
        ("exports", str(config.paths.exports)),
    ]
    if waiting:
        # Left in the outbox (a meter list waiting for its schemes, a file still written):
        # `--once` ends without them, so say so rather than let "files: none" read as done.
        lines.append(("waiting in the outbox", counted(waiting, "file", "files")
                      + " not taken yet (hhu-sync status says why)"))
    if summary.queued_left:
        lines.append(("still queued", counted(summary.queued_left, "delivery",
                                              "deliveries")))
    if summary.errors:
        count = max(summary.error_count, len(summary.errors))
        lines.append(("errors", f"{count} (last: {summary.errors[-1]})"))
    console = Console(stderr=False)
    table = Table(title="hhu-sync summary", show_header=False)
    for k, v in lines:
        table.add_row(k, v)
    if console.is_terminal:
        console.print(table)
    else:
        for k, v in lines:
            print(f"{k}: {v}")


def run_export(args: argparse.Namespace) -> int:
    config = config_of(args)
    ext = {"csv": "csv", "cmep": "cmep", "jsonl": "jsonl"}[args.format]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = user_path(Path(args.output or config.paths.exports / f"readings-{stamp}.{ext}"))
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise CliError(f"--since {args.since!r} is not an ISO 8601 time") from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        args.since = since.astimezone(UTC).isoformat(timespec="seconds")
    store = store_of(config)
    try:
        count = export(store.readings(args.since, catalog=config.paths.catalog), args.format,
                       out, sender=config.depot_id)
    finally:
        store.close()
    unit = "records" if args.format == "cmep" else "readings"
    print(f"exported {count} {unit} to {out}")
    if count == 0:
        received = f" received since {args.since}" if args.since else ""
        print(f"hhu-sync: note: the database {store_name(config)} "
              f"({config_source(config)}) holds no {unit}{received}", file=sys.stderr)
    return 0


def _list_action(args: argparse.Namespace, action: str) -> int:
    config = config_of(args)
    database = database_of(config)
    store = store_of(config)
    try:
        try:
            state = change_list(store, args.list_id, action,
                                datetime.now(UTC).isoformat(timespec="seconds"),
                                user=cli_actor()).after
        except UnknownList:
            held = [r["list_id"] for r in store.status()["lists"]]
            raise CliError(unknown_list(args.list_id, held, database, config)) from None
    except StoreError as exc:
        raise CliError(f"{exc} (database {database})") from None
    finally:
        store.close()
    print(f"meter list {args.list_id}: {state}")
    return 0


def unknown_list(list_id: str, held: list[str], database: str, config: Config) -> str:
    """Which database was looked in, where its path came from, what it holds and the
    nearest id: a forgotten --config and a typo are a newcomer's two usual causes."""
    near = difflib.get_close_matches(list_id, held, n=1, cutoff=0.6)
    known = (f"it holds {len(held)}: {', '.join(held[:5])}"
             f"{', ...' if len(held) > 5 else ''}") if held else "it holds none"
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return (f"no meter list {list_id!r} in the database {database} "
            f"({config_source(config)}; {known}){hint}")


def run_requeue(args: argparse.Namespace) -> int:
    return _list_action(args, "requeue")


def run_cancel(args: argparse.Namespace) -> int:
    return _list_action(args, "cancel")
