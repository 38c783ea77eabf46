"""Serving the web app: uvicorn on its own thread and event loop.

The cradles have their own loop; a slow browser or a burst of page requests must never
delay a docking, so the web app never shares it. The listening socket is bound here,
before uvicorn starts, so a port in use is a clear error at start (uvicorn alone would
exit its thread quietly).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import replace

import uvicorn

from hhu_sync.config import Config
from hhu_sync.dock.events import EventHub
from hhu_sync.errors import HhuSyncError
from hhu_sync.store.accounts import AccountStore
from hhu_sync.web.app import WebSettings, create_app

log = logging.getLogger(__name__)

START_S = 10.0      # uvicorn must be serving within this long
STOP_S = 5.0


class WebError(HhuSyncError):
    """The web app cannot be served (address in use, no TLS files...)."""


def app_for(config: Config, store: AccountStore, events: EventHub | None = None):
    web = config.web
    settings = WebSettings(secure_cookies=web.tls_cert is not None,
                           idle_s=web.idle_minutes * 60, absolute_s=web.absolute_hours * 3600)
    return create_app(store, settings=settings, extra={"docks": config.docks,
                                                       "depot": config.depot_id,
                                                       "events": events,
                                                       "config": config})


class WebServer:
    def __init__(self, config: Config, store: AccountStore,
                 events: EventHub | None = None) -> None:
        """``events``: the daemon's docking events (live docks); None serves the docks
        as the database recorded them (``hhu-sync web`` alone)."""
        if config.web.listen is None:
            raise WebError("no [web] listen address in the configuration")
        host, port = config.web.listen
        for path in (config.web.tls_cert, config.web.tls_key):
            if path is not None and not path.is_file():
                raise WebError(f"web: TLS file {path} is missing")
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.sock = socket.create_server((host, port), family=family, backlog=128)
            # inherited by every connection accepted: asyncio sets TCP_NODELAY only on a
            # socket made with proto IPPROTO_TCP (create_server's is 0), and without it a
            # response's body waited for the browser's delayed ACK, 40 ms a request
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            raise WebError(f"web: cannot listen on {host}:{port}: {exc.strerror or exc}") \
                from None
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.url = replace(config.web, listen=self.address).url   # port 0: the one given
        self.app = app_for(config, store, events)
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, log_level="warning", access_log=False,
            server_header=False, lifespan="off", timeout_graceful_shutdown=2,
            ssl_certfile=config.web.tls_cert, ssl_keyfile=config.web.tls_key))
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        """In this thread until ``stop()`` (or, in the main thread, Ctrl-C)."""
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def start(self) -> WebServer:
        """On a thread of its own; returns once it serves."""
        self._thread = threading.Thread(target=self.serve_forever, name="web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_S
        while (not self.server.started and self._thread.is_alive()
               and time.monotonic() < deadline):
            time.sleep(0.02)
        if not self.server.started:
            raise WebError(f"web: the server did not start on {self.url}")
        log.info("web app on %s", self.url)
        return self

    def stop(self) -> None:
        self.app.state.ctx.closing.set()      # open event streams end first
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_S)
