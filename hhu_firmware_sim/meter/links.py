"""The links a fleet's meters sit behind: modems, TCP-to-serial gateways, RS-485 buses.

A fleet file may add ``[[links]]`` tables and let meters name one (``link = "gw1"``)::

    [[links]]
    name = "gw1"                  # required, unique; letters, digits, - _ .
    kind = "gateway"              # modem | gateway | bus
    listen = "127.0.0.1:0"        # [HOST:]PORT; 0: the OS picks (printed at start)
    sessions = 2                  # gateway only: conversations at once (1..8, default 1)
    line = { baud = 9600, latency_ms = 150, connect_ms = 800, drops = [[0, 2000]] }

Pure: this reads and checks the file; ``network.FleetNetwork`` serves it. Every problem
is a FleetError naming the file and the field (``links[1].kind``, ``meters[3].link``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hhu_firmware_sim.meter.fleet import Fleet, FleetError, meter_from_dict, read_fleet_data
from hhu_firmware_sim.meter.meter import SimMeter

LINK_KINDS = ("modem", "gateway", "bus")
#: Meters one link may carry: a modem has one meter; an RS-485 pair takes 32 unit loads;
#: a gateway's serial side is a bus of its own, with 1/8-load transceivers up to 247.
MAX_METERS = {"modem": 1, "gateway": 247, "bus": 32}
MAX_LINKS = 512           # each is a listening socket (and a line): under a 1024-fd limit
MAX_SESSIONS = 8          # a gateway's conversations at once
DIRECT = "direct"         # the name (and kind) of the meters served on ``--listen``
_LINK_KEYS = ("name", "kind", "listen", "sessions", "line")
_LINE_KEYS = {"baud": int, "latency_ms": float, "connect_ms": float, "ber": float,
              "drops": list, "drop_chance": float, "drop_within": int, "seed": int,
              "piece_ms": float}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


@dataclass(frozen=True)
class LineConfig:
    """What the link's line adds (``line.LineSim`` keywords), checked."""

    baud: int = 0
    latency_ms: float = 0.0
    connect_ms: float = 0.0
    ber: float = 0.0
    drops: tuple[tuple[int, int], ...] = ()
    drop_chance: float = 0.0
    drop_within: int = 4096
    seed: int | None = None
    piece_ms: float = 2.0

    def kwargs(self) -> dict[str, Any]:
        return {"baud": self.baud, "latency_ms": self.latency_ms,
                "connect_ms": self.connect_ms, "ber": self.ber, "drops": dict(self.drops),
                "drop_chance": self.drop_chance, "drop_within": self.drop_within,
                "seed": self.seed, "piece_ms": self.piece_ms}


@dataclass
class Link:
    """One link and the meters behind it (their quirks: the first meter's; a bus echoes)."""

    name: str
    kind: str
    listen: tuple[str, int]
    sessions: int = 1
    line: LineConfig | None = None
    fleet: Fleet = field(default_factory=Fleet)


@dataclass
class LinkedFleet:
    """A fleet file's links, and the meters that name none (served on ``--listen``)."""

    path: Path | None
    links: list[Link] = field(default_factory=list)
    direct: Fleet = field(default_factory=Fleet)

    @property
    def meters(self) -> list[SimMeter]:
        return [m for link in self.links for m in link.fleet.meters] + self.direct.meters


def parse_listen(text: object, where: str) -> tuple[str, int]:
    """``[HOST:]PORT`` (a string; a bare integer port too), or FleetError at ``where``."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str):
        raise FleetError(f"{where}: expected \"[HOST:]PORT\", e.g. \"127.0.0.1:0\"")
    host, sep, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise FleetError(f"{where}: expected \"[HOST:]PORT\" with a port 0..65535, "
                         f"got {text!r}")
    return (host if sep and host else "127.0.0.1"), number


def _number(value: object, kind: type, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (kind is int and not isinstance(value, int)):
        raise FleetError(f"{where}: expected {'an integer' if kind is int else 'a number'}")
    if not math.isfinite(value):          # TOML has inf and nan: a line never up
        raise FleetError(f"{where}: must be a finite number, got {value}")
    if value < 0:
        raise FleetError(f"{where}: must be >= 0")
    return kind(value)


def _line(table: object, where: str) -> LineConfig:
    if not isinstance(table, dict):
        raise FleetError(f"{where}: expected a table, e.g. {{ baud = 9600 }}")
    unknown = sorted(set(table) - set(_LINE_KEYS))
    if unknown:
        raise FleetError(f"{where}: unknown key(s) {', '.join(unknown)} "
                         f"(known: {', '.join(_LINE_KEYS)})")
    args: dict[str, Any] = {}
    for key, kind in _LINE_KEYS.items():
        if key not in table:
            continue
        if key == "drops":
            if not isinstance(table[key], list):
                raise FleetError(f"{where}.drops: expected [[session, bytes], ...]")
            drops = []
            for i, pair in enumerate(table[key]):
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise FleetError(f"{where}.drops[{i}]: expected [session, bytes]")
                drops.append((_number(pair[0], int, f"{where}.drops[{i}]"),
                              _number(pair[1], int, f"{where}.drops[{i}]")))
            args[key] = tuple(drops)
        else:
            args[key] = _number(table[key], kind, f"{where}.{key}")
    if args.get("ber", 0.0) >= 1.0:
        raise FleetError(f"{where}.ber: must be below 1")
    if args.get("drop_chance", 0.0) > 1.0:
        raise FleetError(f"{where}.drop_chance: a probability, 0..1")
    if "drop_within" in args and args["drop_within"] < 1:
        raise FleetError(f"{where}.drop_within: must be >= 1")
    if "piece_ms" in args and args["piece_ms"] <= 0:
        raise FleetError(f"{where}.piece_ms: must be > 0")
    return LineConfig(**args)


def link_from_dict(entry: object, where: str) -> Link:
    """One ``[[links]]`` table; FleetError names the key."""
    if not isinstance(entry, dict):
        raise FleetError(f"{where}: expected a table")
    unknown = sorted(set(entry) - set(_LINK_KEYS))
    if unknown:
        raise FleetError(f"{where}: unknown key(s) {', '.join(unknown)} "
                         f"(known: {', '.join(_LINK_KEYS)})")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name) or name == DIRECT:
        raise FleetError(f"{where}.name: required: 1-32 letters, digits, '-', '_', '.' "
                         f"(not {DIRECT!r}), got {name!r}")
    kind = entry.get("kind")
    if kind not in LINK_KINDS:
        raise FleetError(f"{where}.kind: one of {', '.join(LINK_KINDS)}, got {kind!r}")
    listen = parse_listen(entry.get("listen", "127.0.0.1:0"), f"{where}.listen")
    sessions = entry.get("sessions", 1)
    if isinstance(sessions, bool) or not isinstance(sessions, int) or \
            not 1 <= sessions <= MAX_SESSIONS:
        raise FleetError(f"{where}.sessions: an integer 1..{MAX_SESSIONS}, got {sessions!r}")
    if sessions != 1 and kind != "gateway":
        why = ("a half-duplex pair carries one conversation" if kind == "bus"
               else "a modem answers one call")
        raise FleetError(f"{where}.sessions: a {kind} has 1 ({why})")
    line = _line(entry["line"], f"{where}.line") if "line" in entry else None
    return Link(name, kind, listen, sessions, line)


def load_linked_fleet(path: str | os.PathLike[str]) -> LinkedFleet:
    """A fleet file with its ``[[links]]`` (none: every meter is direct)."""
    path = Path(path)
    data = read_fleet_data(path)
    out = LinkedFleet(path)
    entries = data.get("links", [])
    if not isinstance(entries, list):
        raise FleetError(f"{path}: links: expected [[links]] tables")
    if len(entries) > MAX_LINKS:
        raise FleetError(f"{path}: links: {len(entries)} links, at most {MAX_LINKS}")
    by_name: dict[str, tuple[int, Link]] = {}
    ports: dict[tuple[str, int], int] = {}
    for j, entry in enumerate(entries):
        link = link_from_dict(entry, f"{path}: links[{j}]")
        if link.name in by_name:
            raise FleetError(f"{path}: links[{j}].name: {link.name!r} is links"
                             f"[{by_name[link.name][0]}] already")
        if link.listen[1] and link.listen in ports:
            raise FleetError(f"{path}: links[{j}].listen: {link.listen[0]}:{link.listen[1]}"
                             f" is links[{ports[link.listen]}]'s already")
        ports[link.listen] = j
        by_name[link.name] = (j, link)
        out.links.append(link)
    meters = data.get("meters")
    if not isinstance(meters, list) or not meters:
        raise FleetError(f"{path}: needs at least one [[meters]] table")
    seen: set[str] = set()
    for i, entry in enumerate(meters):
        where = f"{path}: meters[{i}]"
        if not isinstance(entry, dict):
            raise FleetError(f"{where}: expected a table")
        meter, quirks = meter_from_dict({k: v for k, v in entry.items() if k != "access"},
                                        where, path.parent)      # access: field trips
        for key in {meter.serial, meter.address}:
            if key in seen:
                raise FleetError(f"{where}: address/serial {key!r} used twice")
            seen.add(key)
        name = entry.get("link")
        if name is None:
            target = out.direct
        elif not isinstance(name, str) or name not in by_name:
            known = ", ".join(by_name) or "none: add [[links]] tables"
            raise FleetError(f"{where}.link: no link named {name!r} (links: {known})")
        else:
            j, link = by_name[name]
            if len(link.fleet.meters) >= MAX_METERS[link.kind]:
                raise FleetError(f"{where}.link: links[{j}] ({name!r}) is a {link.kind}, "
                                 f"which carries at most {MAX_METERS[link.kind]} "
                                 f"meter{'s' if MAX_METERS[link.kind] > 1 else ''}")
            target = link.fleet
        if not target.meters:
            target.quirks = quirks
        target.meters.append(meter)
    for j, link in enumerate(out.links):
        if not link.fleet.meters:
            raise FleetError(f"{path}: links[{j}] ({link.name!r}): no meter names it "
                             f"(link = {link.name!r})")
        if link.kind == "bus":       # every byte sent is heard back on a 2-wire pair
            link.fleet.quirks = replace(link.fleet.quirks, echo=True)
    return out
