"""Serve a fleet the way the field has it: each link a port of its own.

A ``FleetNetwork`` starts one ``MeterServer`` per link (``links.Link``), on the
simulator's one socket server (``serving.SocketServer``), with a ``LineSim`` in front
when the link has a ``line``:

* ``modem``: one meter; one call at a time.
* ``gateway``: several addressed meters; the meter whose address the sign-on names
  answers, an absent address gets silence (as on the serial bus behind it);
  ``sessions`` conversations at once.
* ``bus`` (RS-485, two-wire): like a gateway with one conversation at a time, and every
  byte the client sends is heard back (the bus echo) before any answer.

Busy (every conversation of the link taken): the next connection is accepted and closed
without a byte, after a grace of ``BUSY_GRACE_S`` in which a conversation that is
ending may still free the link (a client that hangs up and calls again at once gets
through). Refused rather than queued, because a queued caller would only see silence
and blame the meter; the depot is to keep to one session per bus itself.

Tests and benches: ``with serve_fleet("fleet.toml") as net: net.meters["35100001"].url``
(ports chosen by the OS, known once started).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from hhu_firmware_sim.line import LineSim
from hhu_firmware_sim.meter.fleet import FleetError
from hhu_firmware_sim.meter.links import DIRECT, Link, LinkedFleet, load_linked_fleet
from hhu_firmware_sim.meter.server import MeterServer
from hhu_firmware_sim.meter.session import Quirks

BUSY_GRACE_S = 0.5


@dataclass(frozen=True)
class MeterEndpoint:
    """Where a client reaches one meter: the link's URL and the meter's address."""

    serial: str
    address: str
    link: str
    kind: str
    url: str


class LinkServer:
    """One link's meter server, and the line in front of it if it has one."""

    def __init__(self, link: Link, *, idle_timeout: float = 5.0,
                 time_scale: float | None = None, quirks: Quirks | None = None) -> None:
        self.link = link
        if quirks is not None:
            link.fleet.quirks = replace(quirks, echo=quirks.echo or link.kind == "bus")
        direct = link.kind == DIRECT
        behind = link.line is not None
        self.meters = MeterServer(
            link.fleet, ("127.0.0.1", 0) if behind else link.listen,
            idle_timeout=idle_timeout, time_scale=time_scale,
            max_connections=8 if direct else link.sessions,
            busy="break" if direct else "queue" if behind else "close",
            busy_grace_s=0.0 if direct else BUSY_GRACE_S)
        self.line: LineSim | None = None
        if link.line is not None:
            self.line = LineSim(self.meters.address, listen=link.listen,
                                max_connections=link.sessions, busy="close",
                                busy_grace_s=BUSY_GRACE_S, **link.line.kwargs())

    @property
    def url(self) -> str:
        """``socket://host:port``: what a client opens to reach this link."""
        return self.line.url if self.line is not None else self.meters.url

    @property
    def refused(self) -> int:
        """Connections closed because the link was busy."""
        return self.meters.refused + (self.line.stats.refused if self.line else 0)

    def start(self) -> LinkServer:
        self.meters.start()
        if self.line is not None:
            self.line.start()
        return self

    def stop(self) -> None:
        if self.line is not None:
            self.line.stop()
        self.meters.stop()


class FleetNetwork:
    """Every link of a fleet served; ``direct`` meters (no link) on ``listen``."""

    def __init__(self, fleet: LinkedFleet, *, listen: tuple[str, int] | None = None,
                 idle_timeout: float = 5.0, time_scale: float | None = None,
                 quirks: Quirks | None = None) -> None:
        where = f"{fleet.path}: " if fleet.path else ""
        links = [(f"links[{j}].listen", link) for j, link in enumerate(fleet.links)]
        if fleet.direct.meters:
            if listen is None:
                names = ", ".join(m.serial for m in fleet.direct.meters)
                raise FleetError(f"{where}meter(s) {names} name no link: give each "
                                 f"`link = NAME` or serve them with --listen [HOST:]PORT")
            links.append(("--listen", Link(DIRECT, DIRECT, listen, fleet=fleet.direct)))
        self.fleet = fleet
        self.links: dict[str, LinkServer] = {}
        try:
            for field, link in links:
                try:
                    server = LinkServer(link, idle_timeout=idle_timeout,
                                        time_scale=time_scale, quirks=quirks)
                except OSError as exc:
                    host, port = link.listen
                    raise FleetError(f"{where}{field}: cannot listen on {host}:{port}: "
                                     f"{exc.strerror or exc}") from None
                self.links[link.name] = server
        except BaseException:
            self.stop()      # the listening sockets made so far
            raise

    @property
    def meters(self) -> dict[str, MeterEndpoint]:
        """Each meter's endpoint, by serial."""
        return {m.serial: MeterEndpoint(m.serial, m.address, name, server.link.kind,
                                        server.url)
                for name, server in self.links.items() for m in server.link.fleet.meters}

    def start(self) -> FleetNetwork:
        try:
            for server in self.links.values():
                server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self.links.values():
            server.stop()

    def __enter__(self) -> FleetNetwork:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe(self) -> dict[str, Any]:
        """What ``hhu-sim meter --json`` prints: each link, its URL and its meters."""
        return {"links": [
            {"name": name, "kind": server.link.kind, "url": server.url,
             "sessions": server.meters.max_connections,
             "echo": server.link.fleet.quirks.echo, "line": server.line is not None,
             "meters": [{"serial": m.serial, "address": m.address}
                        for m in server.link.fleet.meters]}
            for name, server in self.links.items()]}


@contextmanager
def serve_fleet(fleet: LinkedFleet | str | os.PathLike[str], *,
                listen: tuple[str, int] | None = None, idle_timeout: float = 5.0,
                quirks: Quirks | None = None) -> Iterator[FleetNetwork]:
    """A started network for a fleet (file or loaded), stopped on leaving."""
    if not isinstance(fleet, LinkedFleet):
        fleet = load_linked_fleet(fleet)
    with FleetNetwork(fleet, listen=listen, idle_timeout=idle_timeout,
                      quirks=quirks) as network:
        yield network
