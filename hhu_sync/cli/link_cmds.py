"""`hhu-sync push` and `hhu-sync pull`: talk to one docked HHU over a port URL.

Exit codes (also in ``--help``): 0 done and confirmed by the HHU; 1 other error
(bad file, port will not open); 3 the HHU refused; 4 the link was cut; 5 timed out;
6 authentication failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hhu_sync.cli.common import read_key
from hhu_sync.errors import CliError, KeyStoreError, TransferError
from hhu_sync.fsutil import atomic_write
from hhu_sync.ids import is_safe_name
from hhu_sync.keys.names import hhu_id_of_key_file

EXIT_REFUSED = 3
EXIT_CUT = 4
EXIT_TIMEOUT = 5
EXIT_AUTH = 6
UPLOAD_SUFFIX = ".hhux"
HANDSHAKE_DEADLINE_S = 30.0
MIN_RATE_BPS = 1000     # slowest line we wait for when sizing the default deadline

_EXIT_EPILOG = ("exit codes: 0 confirmed by the HHU, 1 error, 3 refused by the HHU, "
                "4 link cut, 5 timed out, 6 authentication failed")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("push", help="send transfer files to one docked HHU (Quick send)",
                       description="Send transfer files to the HHU docked on PORT and wait "
                                   "until it confirms each one is committed to its flash.",
                       epilog=_EXIT_EPILOG)
    p.add_argument("transfers", nargs="+", metavar="TRANSFER", help="transfer file(s)")
    _common_args(p)
    p.set_defaults(func=run_push)

    q = sub.add_parser("pull", help="fetch readings uploads from one docked HHU",
                       description="Fetch every readings upload the HHU docked on PORT holds; "
                                   "each is written durably to DIR/<upload_id>.hhux before the "
                                   "HHU is told it may delete it.",
                       epilog=_EXIT_EPILOG)
    q.add_argument("--out", required=True, metavar="DIR", help="folder for the uploads")
    _common_args(q)
    q.set_defaults(func=run_pull)


def _common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, metavar="URL",
                   help="serial device or pyserial URL (socket://host:port, hhusim://...)")
    p.add_argument("--key-file", required=True, metavar="FILE",
                   help="the HHU's key; its name up to .key is its id (HHU-001.key)")
    p.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="give up after S seconds in all (default: sized to the data)")
    p.add_argument("--handler-package", action="append", default=[], metavar="NAME",
                   help="register a pyserial URL handler package (repeatable), "
                        "e.g. hhu_firmware_sim.urlhandler for hhusim://")


# --- shared plumbing ------------------------------------------------------------------------


class _Deadline:
    """One time budget for the whole command; each step gets what is left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.001, self.until - time.monotonic())


@contextmanager
def _docked(args: argparse.Namespace, on_event: Callable[[Any], None] | None = None
            ) -> Iterator[Any]:
    """Open the port, authenticate, yield the (blocking) DockSession; map link errors to
    exit codes."""
    from hhu_sync.io.dock import AuthFailed, Refused, key_lookup_for
    from hhu_sync.io.driver import (
        BlockingDockSession,
        LinkAborted,
        LinkClosed,
        LinkCut,
        LinkTimedOut,
    )
    from hhu_sync.io.ports import PortError, open_port, register_handler_packages

    key = read_key(args.key_file)
    try:
        keys = key_lookup_for(args.key_file, key)
    except KeyStoreError as exc:
        raise CliError(str(exc)) from None
    register_handler_packages(args.handler_package)
    try:
        port = open_port(args.port, baudrate=args.baud)
    except PortError as exc:
        raise CliError(str(exc)) from None
    session = BlockingDockSession(port, keys, on_event=on_event)
    try:
        yield session
    except AuthFailed as exc:
        raise CliError(str(exc), EXIT_AUTH) from None
    except Refused as exc:
        raise CliError(f"HHU refused {exc}", EXIT_REFUSED) from None
    except (LinkCut, LinkClosed) as exc:
        raise CliError(str(exc), EXIT_CUT) from None
    except LinkTimedOut as exc:
        raise CliError(str(exc), EXIT_TIMEOUT) from None
    except LinkAborted as exc:
        raise CliError(str(exc), abort_exit_code(exc.code)) from None
    finally:
        session.release()
        port.close()



def abort_exit_code(code: int) -> int:
    """The exit status for an aborted link, by its reason code (never its text)."""
    from hhu_sync.link.reasons import AUTHENTICATION, SILENCE

    if code in SILENCE:
        return EXIT_TIMEOUT
    if code in AUTHENTICATION:
        return EXIT_AUTH
    return EXIT_CUT


class _ProgressView:
    """A rich progress bar on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.progress = None
        self.tasks: dict[str, Any] = {}
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     DownloadColumn(), TransferSpeedColumn(),
                                     console=Console(stderr=True), transient=True)

    def __enter__(self) -> _ProgressView:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def on_event(self, event: Any) -> None:
        if self.progress is None or type(event).__name__ != "Progress":
            return
        task = self.tasks.get(event.object_id)
        if task is None:
            task = self.progress.add_task(f"{event.direction} {event.object_id}",
                                          total=event.total)
            self.tasks[event.object_id] = task
        self.progress.update(task, completed=event.done, total=event.total)


# --- push -----------------------------------------------------------------------------------


def _load_transfers(paths: list[str], hhu_id: str, key: bytes) -> list[tuple[str, bytes]]:
    """Read and check every file before touching the port: nothing half-sent for a typo."""
    from hhu_sync.transfer import decode_transfer

    out = []
    for name in paths:
        try:
            data = Path(name).read_bytes()
        except OSError as exc:
            raise CliError(f"{name}: {exc.strerror}") from None
        try:
            transfer = decode_transfer(data, key)
        except TransferError as exc:
            raise CliError(f"{name}: {exc}") from None
        if transfer.header.target != hhu_id:
            raise CliError(f"{name}: made for {transfer.header.target}, not {hhu_id}")
        out.append((transfer.header.bundle_id, data))
    return out


def run_push(args: argparse.Namespace) -> int:
    hhu_id = hhu_id_of_key_file(args.key_file)
    bundles = _load_transfers(args.transfers, hhu_id, read_key(args.key_file))
    total = sum(len(d) for _, d in bundles)
    deadline = _Deadline(args.timeout or HANDSHAKE_DEADLINE_S + 30 + total / MIN_RATE_BPS)
    refused: list[str] = []
    with _ProgressView() as view, _docked(args, view.on_event) as session:
        session.handshake(min(HANDSHAKE_DEADLINE_S, deadline.left()))
        from hhu_sync.io.dock import Refused

        for bundle_id, data in bundles:
            try:
                held = session.put(bundle_id, data, deadline.left())
            except Refused as exc:
                refused.append(str(exc))
                print(f"{session.hhu_id}: refused {bundle_id} ({exc.code.name}): {exc.reason}",
                      file=sys.stderr)
                continue
            verb = "already held" if held else "stored"
            print(f"{session.hhu_id}: {verb} {bundle_id} ({len(data)} bytes)")
        session.close()
    if refused:
        raise CliError(f"{len(refused)} of {len(bundles)} refused; first: {refused[0]}",
                       EXIT_REFUSED)
    return 0


# --- pull -----------------------------------------------------------------------------------


def run_pull(args: argparse.Namespace) -> int:
    out_dir = Path(args.out).expanduser().resolve()   # the user's links are theirs to follow
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"{out_dir}: {exc.strerror}") from None
    with _ProgressView() as view, _docked(args, view.on_event) as session:
        hello = session.handshake(HANDSHAKE_DEADLINE_S)
        total = sum(u.size for u in hello.uploads)
        deadline = _Deadline(args.timeout or 30 + total / MIN_RATE_BPS)
        for info in hello.uploads:
            if not is_safe_name(info.upload_id):
                print(f"{session.hhu_id}: skipped upload with unsafe id {info.upload_id!r}",
                      file=sys.stderr)
                continue
            data = session.get(info.upload_id, deadline.left())
            atomic_write(out_dir / f"{info.upload_id}{UPLOAD_SUFFIX}", data)
            session.ack(info.upload_id, deadline.left())
            print(f"{session.hhu_id}: pulled {info.upload_id} ({len(data)} bytes)")
        if not hello.uploads:
            print(f"{session.hhu_id}: no uploads waiting")
        session.close()
    return 0
