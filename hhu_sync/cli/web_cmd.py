"""`hhu-sync web`: the web app alone, from the store (for a back office that reads and
acts on the queue without cradles)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from hhu_sync.cli.common import config_of, store_of
from hhu_sync.config import parse_listen
from hhu_sync.errors import CliError
from hhu_sync.logsetup import setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("web", help="serve the web app alone (no cradles)",
                       description="Serve the web app from the configured database until "
                                   "Ctrl-C, on [web] listen (default 127.0.0.1:8080). The "
                                   "daemon serves it too when [web] listen is set; this is "
                                   "for a back office without cradles. Log in with an account "
                                   "made by hhu-sync user add.")
    p.add_argument("--listen", metavar="HOST:PORT",
                   help="instead of [web] listen, e.g. 127.0.0.1:8081")
    p.set_defaults(func=run_web)


def run_web(args: argparse.Namespace) -> int:
    from hhu_sync.web.server import WebError, WebServer

    config = config_of(args)
    listen = (parse_listen(args.listen) if args.listen
              else config.web.listen or ("127.0.0.1", 8080))
    if listen is None:
        raise CliError(f"--listen: expected HOST:PORT such as 127.0.0.1:8080, found "
                       f"{args.listen!r}")
    config = replace(config, web=replace(config.web, listen=listen))
    restore = setup_logging("auto", "info")
    try:
        store = store_of(config)
        try:
            server = WebServer(config, store)
        except WebError as exc:
            raise CliError(str(exc)) from None
        print(f"hhu-sync web app on {server.url} (Ctrl-C stops it)", flush=True)
        server.serve_forever()
    finally:
        restore()
    return 0
