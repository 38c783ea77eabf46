"""`hhu-sync status`: what the depot holds and what wants a person's attention.

The database says what was seen; this adds what only the time and the configuration can
tell: whether an HHU is in a cradle now (the last poll found it, or its session is still
committing) or when it last was; warnings (low HHU battery, meter error flags, meters
that failed on a partial list); the outbox files not yet taken (a meter list waiting
for its schemes) and the files in rejected/. ``--json`` keeps every value raw and every
key of earlier versions; the tables show numbers for people.

Depots sharing one store: every HHU, session and upload says which depot recorded it
(:mod:`hhu_sync.store.depots`). Plain ``status`` shows every depot's, each named;
``--depot X`` one depot's handhelds, docks, sessions and uploads (the meter lists, the
queue and the exceptions are the whole store's, whichever depot is shown).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from datetime import UTC, datetime
from typing import Any, NoReturn

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hhu_sync.cli.common import (
    config_of,
    config_source,
    database_of,
    store_name,
    store_of,
    store_refused,
)
from hhu_sync.cli.humanize import ago, counted, first_line, parse_time, size
from hhu_sync.cli.status_inputs import rejected_inputs, waiting_inputs
from hhu_sync.config import Config
from hhu_sync.daemon_health import read_health
from hhu_sync.daemon_lock import daemon_info, lock_path
from hhu_sync.errors import CliError
from hhu_sync.store.base import StorageUnavailable
from hhu_sync.store.depots import NOT_RECORDED
from hhu_sync.store.pending import StoreState

BATTERY_LOW_PCT = 20
#: F.F bits the simulated meters set (hhu_firmware_sim.meter.meter.FLAG_BITS).
FLAG_NAMES = {0x1: "battery low", 0x2: "reverse run", 0x4: "cover opened"}


def register_status(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("status", help="docks, HHUs, queues, lists, sessions, exceptions",
                       description="The database shown (and where its path came from), "
                                   "whether a daemon serves it, then what the depot holds: "
                                   "docks (which HHU is docked now, "
                                   "or when one last was), handhelds, queued and failed "
                                   "deliveries, meter lists (and which meter failed on a "
                                   "partial one), waiting and rejected inputs, warnings.")
    s.add_argument("--json", action="store_true", help="raw values, for scripts")
    s.add_argument("--depot", metavar="ID",
                   help="one depot's handhelds, docks, sessions and uploads (default: "
                        "every depot's, each named; this configuration's is [depot] id)")
    s.add_argument("--battery-low", type=int, default=BATTERY_LOW_PCT, metavar="PCT",
                   help=f"warn for an HHU battery below PCT %% (default {BATTERY_LOW_PCT})")
    s.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    config = config_of(args)
    try:
        store = store_of(config, unavailable=True)
        try:
            status = store.status(depot=args.depot)
            library = store.library()
            waiting = waiting_inputs(config, library)
        finally:
            store.close()
    except StorageUnavailable as exc:
        return _store_down(args, config, exc)
    status["rejected_folder"] = rejected_inputs(config.paths.rejected)
    now = datetime.now(UTC)
    status["daemon"] = _daemon(config)
    enrich(status, config, now, args.battery_low)
    status["waiting_inputs"] = waiting
    status["database"] = store_name(config)
    status["config"] = str(config.file) if config.file is not None else None
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    console = console_for_people()
    # Which database this is: an empty status of the default one, when the demo's was
    # meant, is a forgotten --config.
    console.print(Text(_clean(f"database {status['database']} ({config_source(config)})")),
                  overflow="fold")
    console.print(Text(_clean(_daemon_line(status["daemon"], now))), overflow="fold")
    console.print(Text(_clean(_depot_line(status, config))), overflow="fold")
    show(status, now, console)
    return 0


def _daemon(config: Config) -> dict[str, Any]:
    """Whether a daemon serves the database, and (while one does) its store's health
    as it last wrote it (``store``: None without a health file)."""
    daemon = daemon_info(config.paths.database).as_dict(lock_path(config.paths.database))
    daemon["store"] = read_health(config.paths.database) if daemon["running"] else None
    return daemon


def _store_down(args: argparse.Namespace, config: Config, exc: BaseException) -> NoReturn:
    """The database cannot be used (a server down, a file that is not one): what the
    daemon says of it on stdout, the fault in one line on stderr, a non-zero exit
    (nothing of what the depot holds can be shown)."""
    now = datetime.now(UTC)
    daemon = _daemon(config)
    if args.json:
        print(json.dumps({"database": store_name(config), "daemon": daemon,
                          "store_unavailable": str(exc),
                          "now": now.isoformat(timespec="seconds")}, indent=2))
    else:
        console = console_for_people()
        console.print(Text(_clean(f"database {store_name(config)} "
                                  f"({config_source(config)})")), overflow="fold")
        console.print(Text(_clean(_daemon_line(daemon, now))), overflow="fold")
    raise CliError(store_refused(config, database_of(config), exc))


def _daemon_line(daemon: dict[str, Any], now: datetime) -> str:
    if not daemon["running"]:
        return "daemon: not running"
    pid = f"pid {daemon['pid']}" if daemon["pid"] is not None else "pid unknown"
    since = f", since {ago(daemon['since'], now)}" if daemon["since"] else ""
    return f"daemon: running ({pid}{since}){_store_words(daemon.get('store'), now)}"


def _store_words(store: dict[str, Any] | None, now: datetime) -> str:
    """The daemon's store as the daemon sees it, when it is not simply open."""
    if not store or store["state"] == StoreState.OPEN:
        return ""
    since = f" since {ago(store['since'], now)}" if store["since"] else ""
    if store["state"] == StoreState.REFUSED:
        return f"; its store refused{since}: {store['error']}"
    tries = (f", {counted(store['attempts'], 'failed attempt')} to open it"
             if not store["opened"] and store["attempts"] else "")
    fault = f" ({store['error']})" if store["error"] else ""
    return f"; its store is UNAVAILABLE{since}{tries}{fault}: nothing is committed or " \
           "acknowledged until it is back"


def _depot_line(status: dict[str, Any], config: Config) -> str:
    """Which depot's records follow (and this configuration's own)."""
    known = [d["depot"] or "(not recorded)" for d in status["depots"]]
    if status["depot"] is None:
        return (f"depots: all ({', '.join(known) or 'none yet'}); this configuration's is "
                f"{config.depot_id}")
    if status["depot"] not in {d["depot"] for d in status["depots"]}:
        return (f"depot {status['depot']}: nothing recorded by it (depots in this store: "
                f"{', '.join(known) or 'none yet'})")
    return (f"depot {status['depot']}: its handhelds, docks, sessions and uploads; the "
            "lists, queue and exceptions are the whole store's")


def docked_window(config: Config) -> float:
    """Seconds since the last sign of an HHU in its cradle for it to count as docked now.

    A docked HHU is seen at every poll (``last_seen``), and while a session runs its
    commits are signs too (an upload stored, a delivery confirmed, the session's end);
    two polls without one, and it has left. A session that moves one large bundle for
    longer than this is docked by its running session row (see :func:`_in_session`).
    """
    return 2 * config.schedule.poll_seconds + config.limits.handshake_seconds + 2


def _in_session(hhu: dict[str, Any], config: Config, now: datetime, window: float) -> bool:
    """A session of this HHU was recorded as started and has not ended. No session
    outlives ``limits.session_seconds``: a running row older than that is one a daemon
    that stopped mid-session left, not an HHU in its cradle."""
    since = parse_time(hhu.get("session_running_since"))
    return bool(since and -window <= (now - since).total_seconds()
                <= config.limits.session_seconds + window)


def enrich(status: dict[str, Any], config: Config, now: datetime, battery_low: int) -> None:
    """Add what the time and the configuration tell (keys added; none renamed)."""
    window = docked_window(config)
    # No daemon, no poll: an HHU seen a moment ago by a daemon that has since stopped
    # (run --once just ended) is not in a cradle that anyone serves.
    # (Another depot's daemon is not this machine's to ask: its HHUs are told by their
    # last signs alone.)
    serving = status.get("daemon", {}).get("running", True)
    status["now"] = now.isoformat(timespec="seconds")
    status["battery_low_pct"] = battery_low
    for hhu in status["hhus"]:
        seen = parse_time(hhu["last_activity"] or hhu["last_seen"])
        recent = bool(seen and -window <= (now - seen).total_seconds() <= window)
        hhu["in_session"] = _in_session(hhu, config, now, window)
        served = serving or not _ours(hhu, config)
        hhu["docked_now"] = bool(served and hhu["dock"] and hhu["dock"] != "revoked"
                                 and (recent or hhu["in_session"]))
        hhu["battery_low"] = hhu["battery"] is not None and hhu["battery"] < battery_low
    status["docks"] = _docks(status, config)
    warnings: list[dict[str, Any]] = []
    for hhu in status["hhus"]:
        if hhu["battery_low"]:
            warnings.append({"code": "hhu_battery_low", "hhu": hhu["hhu_id"],
                             "detail": f"battery {hhu['battery']}% (below {battery_low}%)"})
    for m in status["meter_flags"]:
        warnings.append({"code": "meter_error_flags", "meter": m["meter"],
                         "detail": f"F.F {m['error_flags']} ({describe_flags(m['error_flags'])})"
                                   f" at its last visit{_on_list(m['list_id'])}"})
    for v in status["failed_visits"]:
        outcome = v["outcome"] or "not visited"
        note = f": {first_line(v['notes'], 80)}" if v["notes"] else ""
        warnings.append({"code": "visit_failed", "meter": v["meter"], "list_id": v["list_id"],
                         "detail": f"{outcome}{note} (list {v['list_id']} is partial)"})
    status["warnings"] = warnings


def _ours(hhu: dict[str, Any], config: Config) -> bool:
    """Last seen by this configuration's depot (or before depots were recorded, when
    one depot was all there was)."""
    return hhu["depot"] in (config.depot_id, NOT_RECORDED)


def _docks(status: dict[str, Any], config: Config) -> list[dict[str, Any]]:
    """This configuration's docks with the HHU each last held, when its depot is shown;
    another depot's, as its HHUs recorded them (its configuration is not here)."""
    shown = status.get("depot")
    docks: list[dict[str, Any]] = []
    if shown is None or shown == config.depot_id:
        for d in config.docks:
            here = [h for h in status["hhus"] if h["dock"] == d.name and _ours(h, config)]
            docks.append(_dock(d.name, config.depot_id, here, port=d.port,
                               usb_serial=d.usb_serial, baud=d.baud))
        return docks
    names = sorted({h["dock"] for h in status["hhus"] if h["dock"] and h["dock"] != "revoked"})
    return [_dock(name, shown, [h for h in status["hhus"] if h["dock"] == name])
            for name in names]


def _dock(name: str, depot: str, here: list[dict[str, Any]], *, port: str | None = None,
          usb_serial: str | None = None, baud: int | None = None) -> dict[str, Any]:
    last = max(here, key=lambda h: h["last_activity"] or "", default=None)
    return {"name": name, "depot": depot, "port": port, "usb_serial": usb_serial,
            "baud": baud, "hhu": last["hhu_id"] if last else None,
            "docked_now": bool(last and last["docked_now"]),
            "last_docked": last["last_activity"] if last else None}


def _on_list(list_id: str | None) -> str:
    return f" (list {list_id})" if list_id else ""


def describe_flags(text: str) -> str:
    """``00000005`` → ``battery low, cover opened``; unknown bits by number."""
    try:
        value = int(text, 16)
    except (TypeError, ValueError):
        return "unreadable"
    names = [name for bit, name in FLAG_NAMES.items() if value & bit]
    names += [f"bit {n}" for n in range(32) if value & (1 << n) and (1 << n) not in FLAG_NAMES]
    return ", ".join(names) or "none"


# -- for people -------------------------------------------------------------------------------


def console_for_people() -> Console:
    """The terminal's width, or $COLUMNS; piped without $COLUMNS: 200, not 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return Console(width=int(columns))
    console = Console()
    return console if console.is_terminal else Console(width=200)


def print_table(console: Console, title: str, columns: list[str],
                rows: list[list[Any]]) -> None:
    """A titled table that fits ``console.width`` without breaking a short word; too
    narrow for that, one record per line, wrapped. Cells are text, never markup."""
    if not rows:
        console.print(f"[bold]{title}[/bold]: none")
        return
    cells = [["" if v is None else _clean(v) for v in row] for row in rows]
    widths = column_widths(columns, cells, console.width)
    if widths is not None:
        t = Table(title=title, title_justify="left")
        for col, width in zip(columns, widths, strict=True):
            t.add_column(col, overflow="fold", width=width)
        for row in cells:
            t.add_row(*(Text(v) for v in row))     # Text: a note's "[/]" is not markup
        console.print(t)
        return
    # Too narrow for the columns' longest words: one record per row, wrapped.
    console.print(f"[bold]{title}[/bold]")
    for row in cells:
        text = " · ".join(f"{col} {value}" for col, value in zip(columns, row, strict=True)
                          if value)
        console.print(Text("- " + text), overflow="fold")


def show(status: dict[str, Any], now: datetime, console: Console) -> None:
    def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
        print_table(console, title, columns, rows)

    for w in status["warnings"]:
        subject = w.get("hhu") or f"meter {w.get('meter')}"
        console.print(Text.assemble(("warning", "bold yellow"),
                                    _clean(f" {w['code']}: {subject}: {w['detail']}")),
                      overflow="fold")

    # Which depot a row is of, when the store holds more than this one's (one depot's
    # status names it in its first lines, and narrow terminals keep their room).
    many = status.get("depot") is None and len(status["depots"]) > 1

    def named(head: list[Any], depot: str, tail: list[Any]) -> list[Any]:
        return [*head, _depot(depot), *tail] if many else [*head, *tail]

    if many:
        table("depots", ["depot", "HHUs", "sessions", "uploads", "last seen"],
              [[_depot(d["depot"]), d["hhus"], d["sessions"], d["uploads"],
                ago(d["last_seen"], now) if d["last_seen"] else ""]
               for d in status["depots"]])
    table("docks", named([], "depot", ["dock", "port", "HHU"]),
          [named([], d["depot"], [d["name"], _dock_port(d), _docked(d, now)])
           for d in status["docks"]])
    table("handhelds", named(["HHU", "crew", "battery", "free flash"], "depot",
                             ["dock", "seen"]),
          [named([h["hhu_id"], h["crew"], _battery(h), size(h["free_flash"])], h["depot"],
                 [h["dock"], "docked now" if h["docked_now"] else
                  ago(h["last_activity"], now)])
           for h in status["hhus"]])
    table("queued deliveries", ["HHU", "crew", "kind", "n"],
          [[q["target_hhu"], q["target_crew"], q["kind"], q["n"]] for q in status["queue"]])
    table("failed deliveries", ["id", "kind", "ref", "HHU", "attempts", "last error"],
          [[f["delivery_id"], f["kind"], f["ref"], f["target_hhu"], f["attempts"],
            first_line(f["last_error"])] for f in status["failed_deliveries"]])
    table("meter lists", ["list", "name", "for", "due", "state", "meters", "on"],
          [[m["list_id"], m["name"], m["hhu"] or m["crew"] or "remote", m["due"], m["state"],
            m["entries"], m["delivered_to"]] for m in status["lists"]])
    table("failed visits on partial lists", ["list", "meter", "outcome", "note", "when"],
          [[v["list_id"], v["meter"], v["outcome"] or "not visited", first_line(v["notes"]),
            ago(v["time"], now) if v["time"] else ""] for v in status["failed_visits"]])
    waiting = status["waiting_inputs"]
    table(f"waiting in the outbox ({waiting['count']})", ["file", "since", "why"],
          [[w["name"], ago(w["since"], now), w["reason"]] for w in waiting["files"]])
    rejected = status["rejected_folder"]
    table(f"rejected inputs ({rejected['count']} in {rejected['folder']})",
          ["file", "when", "reason"],
          [[r["name"], ago(r["since"], now), r["reason"]] for r in rejected["files"]])
    table("last sessions", named(["id"], "depot", ["HHU", "dock", "ended", "outcome",
                                                   "pushed", "pulled"]),
          [named([s["session_id"]], s["depot"],
                 [s["hhu_id"], s["dock"], ago(s["ended_at"], now) if s["ended_at"]
                  else "running", s["outcome"], s["pushed"], s["pulled"]])
           for s in status["sessions"]])
    table("exceptions", ["kind", "n"], [[e["kind"], e["n"]] for e in status["exceptions"]])
    of = "" if status.get("depot") is None else _clean(f" of depot {status['depot']}")
    console.print(f"readings: {status['readings']} from "
                  f"{counted(status['uploads'], 'upload')}{of}")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean(value: object) -> str:
    """Text from the field or the outbox, safe for a terminal: control characters (an
    escape sequence in a file name or a crew's note) shown as ``\\x1b``, never sent."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


FOLD_FROM = 24    # a word longer than this (a URL, a path) may be folded across lines
KEEP_WHOLE = 12   # a cell this short (``67.1 MB``, ``3 min ago``) is never wrapped


def column_widths(columns: list[str], cells: list[list[str]], width: int) -> list[int] | None:
    """Each column's text width for a table ``width`` cells wide (borders and padding
    take 3 per column, and 1), such that no word shorter than FOLD_FROM is broken and
    no cell up to KEEP_WHOLE is wrapped (a number stays with its unit); None when that
    cannot be done.

    rich shrinks the widest columns first when a table is too wide, and breaks short
    words (``crew-no|rth``) although another column had room to spare: so the widths
    are decided here, every column at least its longest unbreakable piece, the rest
    shared out to the columns that would wrap, in proportion to what they still lack.
    """
    room = width - 1 - 3 * len(columns)
    want, least = [], []
    for n, col in enumerate(columns):
        data = [row[n] for row in cells]
        lines = [line for text in [col, *data] for line in text.splitlines() or [""]]
        want.append(max(1, *(cell_len(line) for line in lines)))
        pieces = [w for line in col.splitlines() for w in line.split()]
        for cell in data:
            pieces += ([cell] if cell_len(cell) <= KEEP_WHOLE
                       else [w for line in cell.splitlines() for w in line.split()])
        least.append(min(want[-1], FOLD_FROM, max((cell_len(p) for p in pieces), default=1)))
    if sum(want) <= room:
        return want
    if sum(least) > room:
        return None
    widths = list(least)
    spare = room - sum(widths)
    while spare > 0:
        lacking = [n for n in range(len(widths)) if widths[n] < want[n]]
        total = sum(want[n] - widths[n] for n in lacking)
        given = 0
        for n in lacking:
            share = min(want[n] - widths[n], (spare * (want[n] - widths[n])) // total)
            widths[n] += share
            given += share
        if given == 0:          # every share rounded down to nothing: one cell each
            for n in sorted(lacking, key=lambda k: widths[k] - want[k])[:spare]:
                widths[n] += 1
                given += 1
        spare -= given
    return widths


def _port(port: str) -> str:
    """A port URL for people: its options (``hhusim://HHU-001?flash=...&key=...``) are
    paths a table cannot show usefully; ``--json`` has the whole URL."""
    head, sep, _query = port.partition("?")
    return f"{head}?…" if sep and "://" in head else port


def _dock_port(dock: dict[str, Any]) -> str:
    if dock["port"]:
        return _port(dock["port"])
    if dock["usb_serial"]:
        return f"usb_serial={dock['usb_serial']}"
    return ""                                  # another depot's: its configuration's


def _depot(depot: str) -> str:
    """A depot id for people: one not recorded (a row from before schema version 2)
    said so, not left blank."""
    return depot or "(not recorded)"


def _docked(dock: dict[str, Any], now: datetime) -> str:
    if dock["hhu"] is None:
        return "none yet"
    if dock["docked_now"]:
        return f"{dock['hhu']} docked now"
    return f"{dock['hhu']} last docked {ago(dock['last_docked'], now)}"


def _battery(hhu: dict[str, Any]) -> str:
    if hhu["battery"] is None:
        return ""
    return f"{hhu['battery']}% low" if hhu["battery_low"] else f"{hhu['battery']}%"
