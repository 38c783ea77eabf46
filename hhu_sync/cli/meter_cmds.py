"""`hhu-sync meter read|program|clock|profile|events`: IEC 62056-21 to one meter, from the PC.

For the bench and the meter shop: a meter on an optical probe (``/dev/ttyUSB0``) or
behind a TCP bridge (``socket://host:port``). Exit codes say what went wrong, so a
script can tell a refused password from a meter that never answered:

    0 done (programmed and verified)    1 bad input, missing secret, port not opened
    4 password refused                  5 no answer / time-out / broken protocol
    6 verify failed (a scheme, or a clock not where it was set) or a write refused
    7 the scheme does not fit the meter (another model, or over its catalog limits):
      nothing was written; ``program --force`` writes it all the same
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from serial import SerialException

from hhu_sync.cli.common import catalog_of, config_of
from hhu_sync.cli.humanize import counted, duration
from hhu_sync.config import Config
from hhu_sync.errors import CliError, KeyStoreError
from hhu_sync.iec62056 import Identification
from hhu_sync.keys import KeyStore
from hhu_sync.meterio import (
    DriverSettings,
    MeterClient,
    MeterIOError,
    MeterRefused,
    PasswordRefused,
    ProgrammingSession,
    SchemeEncodingError,
    SerialTransport,
    plan_scheme,
    program_scheme,
)
from hhu_sync.meterio.clock import DATE, TIME, TOLERANCE_S, clock_writes, parse_clock
from hhu_sync.meterio.program import TABLES
from hhu_sync.meterio.transport import READ_SLICE_S
from hhu_sync.model.catalog import Catalog
from hhu_sync.model.fit import model_of_identification, scheme_fit_problems
from hhu_sync.model.loader import load_toml
from hhu_sync.model.problems import ModelError
from hhu_sync.model.scheme import Scheme, parse_scheme

EXIT_PASSWORD = 4
EXIT_NO_ANSWER = 5
EXIT_VERIFY = 6
EXIT_MISFIT = 7
_SETTINGS = ("128.6.0", "128.7.0", "128.8.0")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("meter", help="read or program a meter directly (IEC 62056-21)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    msub = p.add_subparsers(dest="action", metavar="ACTION")
    msub.required = True
    r = msub.add_parser("read", help="full readout as a table (or JSON)")
    r.add_argument("--password-ref", metavar="REF",
                   help="key-store secret: also log in and show the programmed tables")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    _common(r)
    r.set_defaults(func=run_read)
    g = msub.add_parser("program", help="program a scheme, verify it by reading back")
    g.add_argument("--scheme", required=True, metavar="FILE", help="scheme TOML")
    g.add_argument("--password-ref", required=True, metavar="REF",
                   help="key-store secret holding the meter's programming password")
    g.add_argument("--json", action="store_true", help="machine-readable report")
    g.add_argument("--force", action="store_true",
                   help="program even a scheme made for another model than the meter's")
    _common(g)
    g.set_defaults(func=run_program)
    c = msub.add_parser("clock", help="the meter's clock against this PC's; --set sets it")
    c.add_argument("--set", nargs="?", const="now", metavar="TIME",
                   help="set the clock: to this PC's local time, or to TIME "
                        "(ISO, e.g. 2026-11-25T10:00:00, the meter's local time)")
    c.add_argument("--password-ref", metavar="REF",
                   help="key-store secret holding the programming password (for --set)")
    c.add_argument("--json", action="store_true", help="machine-readable report")
    _common(c)
    c.set_defaults(func=run_clock)
    from hhu_sync.cli import meter_profile_cmds  # it builds on this module's helpers

    meter_profile_cmds.register(msub)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, metavar="URL",
                   help="device or pyserial URL (/dev/ttyUSB0, socket://host:port)")
    p.add_argument("--address", default="", help="device address for /?ADDRESS! (RS-485, TCP)")
    p.add_argument("--echo", action="store_true", help="the probe echoes what is sent")
    p.add_argument("--password-kind", choices=("auto", "P1", "P2"), default="auto",
                   help="P1 plain, P2 ciphered with the seed; auto: P2 for 8 characters")
    p.add_argument("--timeout", type=float, default=1.5, metavar="S",
                   help="silence before a retry (default 1.5 s)")
    p.add_argument("--retries", type=int, default=3, help="retries per request (default 3)")
    p.add_argument("--budget", type=float, default=900.0, metavar="S",
                   help="most one readout or programming session may take, whatever the "
                        "meter sends (default 900 s)")
    p.add_argument("--reaction-ms", type=float, metavar="MS",
                   help="wait before the option select (default: what the meter announces)")


def _client(args: argparse.Namespace, config: Config) -> tuple[MeterClient, Any]:
    from hhu_sync.io.ports import PortError, open_port, register_handler_packages

    register_handler_packages(config.handler_packages)
    try:
        port = open_port(args.port, baudrate=300, timeout=READ_SLICE_S, bytesize=7,
                         parity="E")
    except PortError as exc:
        raise CliError(str(exc)) from None
    settings = DriverSettings(
        echo=args.echo, max_retries=max(0, args.retries), answer_timeout_s=args.timeout,
        budget_s=max(1.0, args.budget),
        reaction_s=None if args.reaction_ms is None else args.reaction_ms / 1000)
    return MeterClient(SerialTransport(port), settings), port


def _secret(config: Config, ref: str) -> str:
    try:
        return KeyStore(config.paths.keystore).secret(ref)
    except (KeyStoreError, ValueError) as exc:
        raise CliError(str(exc)) from None


def _fail(exc: MeterIOError) -> int:
    print(f"hhu-sync: {exc}", file=sys.stderr)
    if isinstance(exc, PasswordRefused):
        return EXIT_PASSWORD
    if isinstance(exc, MeterRefused):
        return EXIT_VERIFY
    return EXIT_NO_ANSWER


class LineDropped(Exception):
    """The port failed during a command (``cause``) after the meter had sent ``heard``
    bytes: carried out of a read to :func:`_line_lost`, which says which it was."""

    def __init__(self, cause: BaseException, heard: int) -> None:
        super().__init__(str(cause))
        self.cause, self.heard = cause, heard


def heard_from(client: MeterClient) -> int:
    """Bytes the meter has sent this client (0 when its transport does not count)."""
    return int(getattr(client.transport, "bytes_received", 0))


def _line_lost(args: argparse.Namespace, exc: BaseException, heard: int = 0) -> int:
    """The port itself failed (the peer hung up, the adapter went, a modem dropped the
    call): exit 5. Before the meter said anything, nothing answered at that port and
    address; after, the line dropped mid-conversation and calling again may do."""
    if isinstance(exc, LineDropped):
        heard = exc.heard
        exc = exc.cause
    if heard:
        print(f"hhu-sync: {args.port}: the line dropped during the conversation with "
              f"meter {args.address or '(any)'} ({heard} bytes heard from it): {exc}; "
              "call again (a modem line may drop; check the line if it keeps happening)",
              file=sys.stderr)
    else:
        print(f"hhu-sync: {args.port}: the line failed while talking to meter "
              f"{args.address or '(any)'}: {exc}; no meter answered there "
              f"(check --port and --address)", file=sys.stderr)
    return EXIT_NO_ANSWER


def _read_tables(session: ProgrammingSession) -> dict[str, str]:
    """The programmed tables as the meter holds them (bounded by each table's size)."""
    out: dict[str, str] = {}
    for t, (_, limit) in TABLES.items():
        count = int(session.read_value(f"128.{t}.0") or 0)
        found = 0
        for k in range(1, limit + 1):
            if found >= count:
                break
            value = session.read_value(f"128.{t}.{k}")
            if value:
                out[f"128.{t}.{k}"] = value
                found += 1
    for address in _SETTINGS:
        out[address] = session.read_value(address)
    return out


def run_read(args: argparse.Namespace) -> int:
    config = config_of(args)
    password = _secret(config, args.password_ref) if args.password_ref else None
    client, port = _client(args, config)
    try:
        result = client.readout(args.address)
        tables: dict[str, str] | None = None
        if password is not None:
            with client.programming(args.address, password, args.password_kind) as session:
                tables = _read_tables(session)
    except MeterIOError as exc:
        return _fail(exc)
    except (SerialException, OSError) as exc:
        return _line_lost(args, exc, heard_from(client))
    finally:
        port.close()
    ident = result.identification
    rows: list[dict[str, Any]]
    rows = [{"obis": ds.key, "value": ds.value, "unit": ds.unit or "",
             "extra": [v.text for v in ds.values[1:]]} for ds in result.readout.datasets]
    if args.json:
        print(json.dumps({"manufacturer": ident.manufacturer, "identification": ident.ident,
                          "baud": result.baud, "registers": rows, "tables": tables,
                          "baud_fallbacks": client.stats.baud_fallbacks,
                          "retransmits": client.stats.retransmits}, indent=2))
        return 0
    console = Console()
    table = Table(title=f"{ident.manufacturer} {ident.ident} at {result.baud} baud")
    for col in ("OBIS", "value", "unit", "also"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for row in rows:
        table.add_row(row["obis"], row["value"], row["unit"], " ".join(row["extra"]))
    console.print(table)
    if tables is not None:
        prog = Table(title="programmed tables")
        prog.add_column("address")
        prog.add_column("value")
        for address, value in tables.items():
            prog.add_row(address, value)
        console.print(prog)
    return 0


def _load_scheme(args: argparse.Namespace, config: Config) -> Scheme:
    try:
        data, locate = load_toml(args.scheme)
        return parse_scheme(data, str(args.scheme), catalog_of(config), locate)
    except ModelError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise CliError(f"{args.scheme}: not a valid scheme "
                       f"({counted(len(exc.problems), 'problem')})") from None


def _misfit(scheme: Scheme, ident: Identification, catalog: Catalog) -> list[str]:
    """Why the scheme must not go to this meter: the check meter lists apply to entries."""
    model = model_of_identification(f"{ident.manufacturer} {ident.ident}", catalog)
    if model is None:
        return [f"the meter identifies as {ident.manufacturer} {ident.ident}, which names no "
                f"model of the catalog ({', '.join(sorted(catalog))}); scheme "
                f"{scheme.id!r} is for the {scheme.model}"]
    return scheme_fit_problems(scheme, model, catalog)


def run_program(args: argparse.Namespace) -> int:
    config = config_of(args)
    catalog = catalog_of(config)
    scheme = _load_scheme(args, config)
    try:
        model = catalog.get(scheme.model)
        plan = plan_scheme(scheme, takes_ratios=model is not None and model.takes_ratios)
    except SchemeEncodingError as exc:
        raise CliError(f"{args.scheme}: {exc}") from None
    password = _secret(config, args.password_ref)
    client, port = _client(args, config)
    misfit: list[str] = []
    try:
        with client.programming(args.address, password, args.password_kind) as session:
            ident = session.identification
            misfit = _misfit(scheme, ident, catalog)   # before the first write
            report = None if misfit and not args.force else program_scheme(session, plan)
    except MeterIOError as exc:
        return _fail(exc)
    except (SerialException, OSError) as exc:
        return _line_lost(args, exc, heard_from(client))
    finally:
        port.close()
    if report is None:
        for problem in misfit:
            print(f"hhu-sync: {args.scheme}: {problem}", file=sys.stderr)
        print("hhu-sync: nothing written to the meter (--force programs it all the same)",
              file=sys.stderr)
        return EXIT_MISFIT
    for problem in misfit:
        print(f"hhu-sync: warning: --force: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps({"scheme": scheme.id, "writes": report.writes,
                          "deleted": report.deleted, "checked": report.checked,
                          "verified": report.verified,
                          "mismatches": [{"address": a, "expected": w, "read": g}
                                         for a, w, g in report.mismatches]}, indent=2))
    else:
        for address, want, got in report.mismatches:
            print(f"{address}: wrote {want!r}, read back {got!r}")
        state = "verified" if report.verified else "VERIFY FAILED"
        print(f"{scheme.id} v{scheme.version} on {ident.manufacturer} {ident.ident}: "
              f"{counted(report.writes, 'write')}, "
              f"{counted(len(report.deleted), 'old entry', 'old entries')} deleted, "
              f"{report.checked} read back, {state}")
    if not report.verified:
        print("hhu-sync: verify failed: the meter does not hold what was written",
              file=sys.stderr)
        return EXIT_VERIFY
    return 0


def _set_time(value: str) -> datetime:
    if value == "now":
        return datetime.now().replace(microsecond=0)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"--set: {value!r} is not a time such as 2026-11-25T10:00:00") from None
    if when.tzinfo is not None:
        raise CliError("--set: give the meter's local time, without a UTC offset")
    return when.replace(microsecond=0)


def run_clock(args: argparse.Namespace) -> int:
    """Show the meter's clock and its drift from this PC's; with --set, set and verify."""
    config = config_of(args)
    target = _set_time(args.set) if args.set else None
    if target is not None and not args.password_ref:
        raise CliError("--set needs --password-ref (setting the clock is programming)")
    password = _secret(config, args.password_ref) if target is not None else None
    client, port = _client(args, config)
    after = None
    try:
        if target is None or password is None:      # (both None, or neither)
            datasets = {ds.key: ds.value for ds in client.readout(args.address).readout.datasets}
            if TIME not in datasets or DATE not in datasets:
                raise CliError(f"the meter's readout has no {TIME} and {DATE} clock registers")
            pc = datetime.now()
            before = parse_clock(datasets[DATE], datasets[TIME])
        else:
            with client.programming(args.address, password, args.password_kind) as session:
                pc = datetime.now()
                before = parse_clock(session.read_value(DATE), session.read_value(TIME))
                started = time.monotonic()
                for address, value in clock_writes(target):
                    session.write(address, value)
                after = parse_clock(session.read_value(DATE), session.read_value(TIME))
                elapsed = time.monotonic() - started
    except MeterIOError as exc:
        return _fail(exc)
    except (SerialException, OSError) as exc:
        return _line_lost(args, exc, heard_from(client))
    finally:
        port.close()
    drift = (before - pc).total_seconds()
    off = None if after is None or target is None else (after - target).total_seconds() - elapsed
    if args.json:
        print(json.dumps({"meter": before.isoformat(), "pc": pc.isoformat(timespec="seconds"),
                          "drift_s": round(drift, 1),
                          "set_to": target.isoformat() if target else None,
                          "read_back": after.isoformat() if after else None,
                          "off_s": None if off is None else round(off, 1)}, indent=2))
    else:
        way = "fast" if drift > 0 else "slow"
        print(f"meter clock {before.isoformat(sep=' ')}, {duration(drift)} {way} "
              f"against this PC ({pc.isoformat(sep=' ', timespec='seconds')})")
        if after is not None and target is not None:
            print(f"set to {target.isoformat(sep=' ')}; reads back {after.isoformat(sep=' ')}")
    if off is not None and after is not None and abs(off) > TOLERANCE_S:
        print(f"hhu-sync: clock verify failed: the meter reads {after.isoformat(sep=' ')}, "
              f"{off:+.0f} s from the time set", file=sys.stderr)
        return EXIT_VERIFY
    return 0
