"""Configuration: one TOML file, every key checked, relative paths anchored to the file.

A bad configuration stops the command with one line naming the file and the key.
"""

from __future__ import annotations

import enum
import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hhu_sync.errors import CliError
from hhu_sync.io.pump import MAX_GATHER_S
from hhu_sync.model.catalog import default_catalog_path
from hhu_sync.model.fields import Fields, shown
from hhu_sync.model.loader import load_toml
from hhu_sync.model.meterlist import gateway_key, is_gateway, port_problem
from hhu_sync.model.problems import ModelError

PATH_KEYS = ("outbox", "archive", "rejected", "exports", "database", "keystore", "catalog")
_DEFAULTS = {
    "outbox": "var/outbox", "archive": "var/archive", "rejected": "var/rejected",
    "exports": "var/exports", "database": "var/hhu-sync.db", "keystore": "var/keystore",
}


@dataclass(frozen=True)
class Dock:
    """A cradle: a port URL, or a USB serial number found through list_ports."""

    name: str
    port: str | None
    usb_serial: str | None
    baud: int


@dataclass(frozen=True)
class Schedule:
    poll_seconds: float = 2.0          # look at every idle cradle this often
    rescan_seconds: float = 30.0       # outbox rescan, for events the watcher missed
    misfire_grace_seconds: float = 30.0  # unused (the cradle loop): older files still load
    export_minutes: float = 0.0        # periodic full export (0 = only after each ingest)


@dataclass(frozen=True)
class Limits:
    handshake_seconds: float = 5.0     # a cradle with nothing answering is empty
    transfer_seconds: float = 600.0    # one bundle or one upload
    session_seconds: float = 1800.0    # one whole docking
    max_attempts: int = 5              # per delivery, then it is marked failed
    retry_backoff_seconds: float = 30.0  # doubles per failed attempt
    debounce_seconds: float = 0.5      # a file must be quiet this long before it is read
    scan_quiet_seconds: float = 120.0  # ... found by a scan, when /proc cannot tell writers
    scheme_wait_seconds: float = 60.0  # a list may wait this long for the schemes it names
    max_sessions: int = 4              # cradles served at once
    outbox_workers: int = 2            # processes checking a backlog of outbox files (0: none)


@dataclass(frozen=True)
class Link:
    """The HHU link: which protocol versions the dock accepts, and how long it remembers
    that a cradle's HHU takes only a version-1 HELLO (docs/link-protocol.md section 4)."""

    min_version: int = 1               # 2: refuse version-1 HHUs (no fallback, no downgrade)
    fallback_hours: float = 24.0       # a remembered fallback is re-probed after this long
    fallback_dockings: int = 20        # ... or after this many dockings, whichever is first
    read_gather_ms: float = 16.0       # a busy cradle's port is read this often, at most


@dataclass(frozen=True)
class Remote:
    """Remote lists (``target = "remote"``), read by the daemon over modems, gateways and
    RS-485 buses (hhu_sync.remote, docs/remote.md)."""

    poll_seconds: float = 30.0         # look for queued remote lists this often
    concurrency: int = 4               # sessions at once over all ports
    meter_budget_seconds: float = 120.0  # one meter, all its attempts; then not_found
    run_budget_seconds: float = 3600.0   # one run of a list; meters left are not visited
    retries: int = 2                   # attempts after the first, per meter (0: none)
    backoff_seconds: float = 5.0       # before the first retry; doubles each time
    answer_timeout_seconds: float = 1.5  # silence before the driver repeats a request
    lease_seconds: float = 300.0       # a meter's claim lapses this long unrenewed (a
    #                                    daemon gone): another depot takes it over
    sessions_per_gateway: int = 1      # socket:// and rfc2217:// ports (a bus: always 1)
    clock_tolerance_seconds: float = 60.0  # a meter clock further off is set (in window)
    #: ``[[remote.gateways]]``: one gateway's own number of sessions, over the default
    #: above, by its port URL as the meters' ``port`` names it: ((port, sessions), ...)
    gateways: tuple[tuple[str, int], ...] = ()


#: the most sessions one gateway may be given (a gateway's serial side is a few lines)
MAX_GATEWAY_SESSIONS = 64


@dataclass(frozen=True)
class Paths:
    outbox: Path
    archive: Path
    rejected: Path
    exports: Path
    database: Path
    keystore: Path
    catalog: Path


@dataclass(frozen=True)
class Demo:
    """Demo set-up done at start: enrol HHUs, store demo meter passwords, seed the outbox."""

    seed: tuple[Path, ...]
    enroll: tuple[str, ...]
    secrets: dict[str, str]
    users: dict[str, str] = field(default_factory=dict)   # web app account -> role
    web_password: str = ""                                # ... their demo password


@dataclass(frozen=True)
class Web:
    """The web app: off unless ``listen`` is given; loopback unless told otherwise."""

    listen: tuple[str, int] | None = None   # [web] listen = "127.0.0.1:8080"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    idle_minutes: float = 30.0               # a browser session ends this long unused
    absolute_hours: float = 12.0             # ... and this long after login, whatever

    @property
    def url(self) -> str | None:
        if self.listen is None:
            return None
        host, port = self.listen
        where = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls_cert else 'http'}://{where}:{port}/"


@dataclass(frozen=True)
class StoreSettings:
    """``[store] url``: the store the daemon and every command open. None: the SQLite
    file ``paths.database`` (the default, as before the setting); see :func:`store_url`."""

    url: str | None = None


class ConfigSource(enum.Enum):
    """Who chose :attr:`Config.file`: a message about a surprising path names it."""

    NAMED = "named"                  # given by the caller (--config)
    ENVIRONMENT = "environment"      # $HHU_SYNC_CONFIG
    CURRENT_FOLDER = "current_folder"  # ./hhu-sync.toml
    DEFAULTS = "defaults"            # no file: the built-in defaults


@dataclass(frozen=True)
class Config:
    file: Path | None
    depot_id: str
    paths: Paths
    docks: tuple[Dock, ...] = ()
    hhus: dict[str, str | None] = field(default_factory=dict)   # HHU id -> crew
    schedule: Schedule = Schedule()
    limits: Limits = Limits()
    link: Link = Link()
    handler_packages: tuple[str, ...] = ()
    demo: Demo | None = None
    web: Web = Web()
    remote: Remote = Remote()
    store: StoreSettings = StoreSettings()
    source: ConfigSource = ConfigSource.NAMED   # set by load_config


def _paths(table: dict[str, Any], base: Path, f: Fields) -> Paths:
    f.unknown(table, "paths", PATH_KEYS)
    values: dict[str, Path] = {}
    for key in PATH_KEYS:
        raw = f.get(table, "paths", key, str, required=False)
        if raw is not None and not raw.strip():
            f.add(f"paths.{key}", "must not be empty")
            raw = None
        if raw is None:
            values[key] = (default_catalog_path() if key == "catalog"
                           else base / _DEFAULTS[key])
        else:
            path = Path(os.path.expanduser(raw))
            values[key] = path if path.is_absolute() else Path(os.path.normpath(base / path))
    return Paths(**values)


def parse_config(data: dict[str, Any], file: Path | None, locate=None) -> Config:
    f = Fields(str(file) if file else "<defaults>", locate)
    base = file.parent if file else Path.cwd()
    f.unknown(data, "", ("depot", "paths", "docks", "hhus", "schedule", "limits", "link",
                         "serial", "demo", "web", "remote", "store"))
    depot = f.get(data, "", "depot", dict, required=False, default={})
    f.unknown(depot, "depot", ("id",))
    depot_id = f.ident(depot, "depot", "id", required=False) or "depot"
    paths_table = f.get(data, "", "paths", dict, required=False, default={})
    paths = _paths(paths_table, base, f)
    store, paths = _store(f.get(data, "", "store", dict, required=False, default={}),
                          paths, "database" in paths_table, f)
    docks = _docks(f.get(data, "", "docks", list, required=False, default=[]), f)
    hhus = _hhus(f.get(data, "", "hhus", list, required=False, default=[]), f)
    schedule = _numbers(f, data, "schedule", Schedule)
    limits = _numbers(f, data, "limits", Limits)
    link = _numbers(f, data, "link", Link)
    remote = _remote(f, data)
    if link.min_version not in (1, 2):
        f.add("link.min_version", f"must be 1 or 2 (a link protocol version), found "
              f"{link.min_version}")
        link = Link()
    if link.read_gather_ms > MAX_GATHER_S * 1000:
        f.add("link.read_gather_ms", f"must be at most {MAX_GATHER_S * 1000:g} (ms), found "
              f"{link.read_gather_ms}")
        link = Link()
    serial_table = f.get(data, "", "serial", dict, required=False, default={})
    f.unknown(serial_table, "serial", ("handler_packages",))
    packages = f.get(serial_table, "serial", "handler_packages", list, required=False,
                     default=[])
    if not all(isinstance(p, str) and p for p in packages):
        f.add("serial.handler_packages", "expected a list of Python package names")
        packages = []
    demo = _demo(f.get(data, "", "demo", dict, required=False), base, f)
    web = _web(f.get(data, "", "web", dict, required=False, default={}), base, f)
    if f.problems:
        raise ModelError(f.problems)
    return Config(file=file, depot_id=depot_id, paths=paths, docks=docks, hhus=hhus,
                  schedule=schedule, limits=limits, link=link,
                  handler_packages=tuple(packages), demo=demo, web=web, remote=remote,
                  store=store)


_SQLITE = "sqlite://"
_POSTGRES = ("postgresql://", "postgres://")
PASSWORD_REFUSED = ("a URL with a password is refused: the password comes from PGPASSFILE "
                    "or the key store, never the configuration file")


def store_url(config: Config) -> str:
    """The store a configuration names, as :func:`hhu_sync.store.open_store` takes it:
    ``[store] url`` when it names PostgreSQL, else ``sqlite://`` and the absolute path of
    ``paths.database`` (which a SQLite ``url`` set, see :func:`_store`). Every caller
    (daemon, commands, worker processes) opens the store through this one name."""
    url = config.store.url
    if url is not None and url.startswith(_POSTGRES):
        return url
    return _SQLITE + os.path.abspath(config.paths.database)


def _store(table: dict[str, Any], paths: Paths, database_given: bool,
           f: Fields) -> tuple[StoreSettings, Paths]:
    """``[store] url`` checked: its kind, no password in it; a SQLite URL is the path of
    ``paths.database`` (both given and different: refused, one file must be meant)."""
    f.unknown(table, "store", ("url",))
    url = f.get(table, "store", "url", str, required=False)
    if url is None:
        return StoreSettings(), paths
    problem = store_url_problem(url)
    if problem is not None:
        f.add("store.url", problem)
        return StoreSettings(), paths
    if url.startswith(_POSTGRES):
        return StoreSettings(url), paths
    path = Path(url[len(_SQLITE):])
    if database_given and os.path.abspath(paths.database) != os.path.abspath(path):
        f.add("store.url", f"names the SQLite file {path} but paths.database is "
              f"{paths.database}: give one of them")
        return StoreSettings(), paths
    return StoreSettings(url), replace(paths, database=path)


def store_url_problem(url: str) -> str | None:
    """What is wrong with a store URL (None: nothing): not one this hhu-sync opens, a
    SQLite URL without its absolute path, a PostgreSQL URL holding a password."""
    if not url.strip():
        return "must not be empty"
    if url.startswith(_SQLITE):
        if not url[len(_SQLITE):].startswith("/"):
            return (f"expected sqlite:///path (three slashes, then the file's absolute "
                    f"path), found {url!r}")
        return None
    if not url.startswith(_POSTGRES):
        kind = url.split("://")[0] + "://..." if "://" in url else repr(url)
        return (f"expected sqlite:///path or postgresql://user@host/db, found {kind}")
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None or any(
            key.lower() == "password" for key in parse_qs(parts.query))
    except ValueError as exc:
        return f"not a URL this hhu-sync can read ({exc})"
    return PASSWORD_REFUSED if has_password else None


def parse_listen(text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6), or None if it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:   # 0: any free one
        return None
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return (host, int(port)) if host and not any(c.isspace() for c in host) else None


def _web(table: dict, base: Path, f: Fields) -> Web:
    f.unknown(table, "web", ("listen", "tls_cert", "tls_key", "idle_minutes",
                             "absolute_hours"))
    values: dict[str, Any] = {}
    listen = f.get(table, "web", "listen", str, required=False)
    if listen is not None:
        parsed = parse_listen(listen)
        if parsed is None:
            f.add("web.listen", f"expected HOST:PORT such as 127.0.0.1:8080, found {listen!r}")
        values["listen"] = parsed
    for key in ("tls_cert", "tls_key"):
        raw = f.get(table, "web", key, str, required=False)
        if raw:
            path = Path(os.path.expanduser(raw))
            values[key] = path if path.is_absolute() else base / path
    if ("tls_cert" in values) != ("tls_key" in values):
        f.add("web.tls_cert", "give both tls_cert and tls_key, or neither")
    for key in ("idle_minutes", "absolute_hours"):
        number = f.get(table, "web", key, (int, float), required=False)
        if number is not None:
            if number <= 0:
                f.add(f"web.{key}", f"must be greater than zero, found {number}")
            else:
                values[key] = float(number)
    return Web(**values)


def _demo(table: dict | None, base: Path, f: Fields) -> Demo | None:
    if table is None:
        return None
    f.unknown(table, "demo", ("seed", "enroll", "secrets", "users", "web_password"))
    seed = f.get(table, "demo", "seed", list, required=False, default=[])
    enroll = f.get(table, "demo", "enroll", list, required=False, default=[])
    secrets = f.get(table, "demo", "secrets", dict, required=False, default={})
    users = f.get(table, "demo", "users", dict, required=False, default={})
    password = f.get(table, "demo", "web_password", str, required=False, default="")
    if not all(isinstance(x, str) for x in [*seed, *enroll, *secrets.values(),
                                            *users.values()]):
        f.add("demo", "seed and enroll are lists of text; secrets and users tables of text")
        return None
    if users and not password:
        f.add("demo.web_password", "the demo's users need a password")
    return Demo(tuple(base / s for s in seed), tuple(enroll), dict(secrets), dict(users),
                password)


def _docks(items: list, f: Fields) -> tuple[Dock, ...]:
    docks: list[Dock] = []
    names: set[str] = set()
    for i, item in enumerate(items):
        path = f"docks[{i}]"
        if not isinstance(item, dict):
            f.add(path, "expected a table")
            continue
        f.unknown(item, path, ("name", "port", "usb_serial", "baud"))
        name = f.ident(item, path, "name")
        port = f.get(item, path, "port", str, required=False)
        usb = f.get(item, path, "usb_serial", str, required=False)
        if (port is None) == (usb is None):
            f.add(f"{path}.port", "give exactly one of port (a URL or device) and usb_serial")
        baud = f.int_range(item, path, "baud", 300, 4_000_000, required=False) or 115200
        if name in names:
            f.add(f"{path}.name", f"duplicate dock name {name!r}")
        if name:
            names.add(name)
            docks.append(Dock(name, port, usb, baud))
    return tuple(docks)


def _hhus(items: list, f: Fields) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for i, item in enumerate(items):
        path = f"hhus[{i}]"
        if not isinstance(item, dict):
            f.add(path, "expected a table")
            continue
        f.unknown(item, path, ("id", "crew"))
        hid = f.ident(item, path, "id")
        crew = f.ident(item, path, "crew", required=False)
        if hid in out:
            f.add(f"{path}.id", f"duplicate HHU id {hid!r}")
        elif hid:
            out[hid] = crew
    return out


def _remote(f: Fields, data: dict[str, Any]) -> Remote:
    """``[remote]``'s numbers, and ``[[remote.gateways]]``: ``port`` (a ``socket://`` or
    ``rfc2217://`` URL, each once) and its ``sessions`` (1 to MAX_GATEWAY_SESSIONS)."""
    remote = _numbers(f, data, "remote", Remote, skip=("gateways",))
    table = data.get("remote")
    rows = table.get("gateways", []) if isinstance(table, dict) else []
    if not isinstance(rows, list):
        f.add("remote.gateways", "expected [[remote.gateways]] tables (port, sessions)")
        return remote
    gateways: dict[str, int] = {}
    for n, row in enumerate(rows):
        path = f"remote.gateways[{n}]"
        if not isinstance(row, dict):
            f.add(path, "expected a table: port = \"socket://HOST:PORT\", sessions = N")
            continue
        f.unknown(row, path, ("port", "sessions"))
        port = f.get(row, path, "port", str)
        sessions = f.get(row, path, "sessions", int)
        if port is None or sessions is None:
            continue
        port = port.strip()
        if not is_gateway(port):
            f.add(f"{path}.port", f"{shown(port)} is no gateway: a socket:// or rfc2217:// URL "
                  "as the meters' port names it (a bus on a local device has 1 session)")
        elif (problem := port_problem(port)) is not None:
            f.add(f"{path}.port", problem)
        elif gateway_key(port) in gateways:
            f.add(f"{path}.port", f"{shown(port)} is given twice")
        elif not 1 <= sessions <= MAX_GATEWAY_SESSIONS:
            f.add(f"{path}.sessions", f"must be 1 to {MAX_GATEWAY_SESSIONS}, found {sessions}")
        else:
            gateways[gateway_key(port)] = sessions
    return replace(remote, gateways=tuple(gateways.items()))


#: the most a number of the configuration may be: a count (2**53, what a float holds
#: exactly), and an amount of time or a size in seconds, minutes or MB (1e9: 31 years in
#: seconds, below what a thread's wait takes; ``nan`` and ``inf`` are no amounts at all)
MAX_COUNT = 2 ** 53
MAX_AMOUNT = 1e9


def _numbers(f: Fields, data: dict[str, Any], section: str, cls: type,
             skip: tuple[str, ...] = ()) -> Any:
    """A table of positive numbers whose keys and defaults are the dataclass's fields
    (but those in ``skip``, which the caller reads)."""
    table = f.get(data, "", section, dict, required=False, default={})
    names = [fl.name for fl in fields(cls)]
    f.unknown(table, section, names)
    values: dict[str, Any] = {}
    for fl in fields(cls):
        if fl.name not in table or fl.name in skip:
            continue
        kind = int if fl.type in ("int", int) else (int, float)
        value = f.get(table, section, fl.name, kind)
        if value is None:
            continue
        if not math.isfinite(value) or value > (MAX_COUNT if kind is int else MAX_AMOUNT):
            f.add(f"{section}.{fl.name}", f"must be a finite number at most "
                  f"{MAX_COUNT if kind is int else MAX_AMOUNT:g}, found {value!r:.40}")
            continue
        allow_zero = fl.name in ("export_minutes", "outbox_workers", "read_gather_ms",
                                 "retries", "backoff_seconds")
        if value < 0 or (value == 0 and not allow_zero):
            f.add(f"{section}.{fl.name}", f"must be greater than zero, found {value}")
            continue
        values[fl.name] = value
    return cls(**values)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """The named file, else $HHU_SYNC_CONFIG, else ./hhu-sync.toml, else defaults."""
    source = ConfigSource.NAMED
    if path is None:
        path, source = os.environ.get("HHU_SYNC_CONFIG") or None, ConfigSource.ENVIRONMENT
        if path is None and Path("hhu-sync.toml").is_file():
            path, source = "hhu-sync.toml", ConfigSource.CURRENT_FOLDER
    try:
        if path is None:
            return replace(parse_config({}, None), source=ConfigSource.DEFAULTS)
        file = Path(path)
        data, locate = load_toml(file)
        return replace(parse_config(data, file, locate), source=source)
    except ModelError as exc:
        raise CliError(f"configuration: {exc.problems[0]}"
                       + (f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1
                          else "")) from None
