"""Meter lists: ordered routes of meters with read/program tasks, from TOML or CSV.

TOML has a ``[list]`` table and ``[[meters]]`` entries. CSV starts with ``# key: value``
lines for the list (list, name, hhu, crew, target, due, notes), then a header row and one
row per meter; CSV line numbers in messages are exact.

A list for an HHU names ``hhu`` or ``crew``; a list the depot reads itself over modems,
gateways and RS-485 buses says ``target = "remote"`` and gives each meter a ``port`` (a
pyserial URL) and, on a shared port, its ``device_address`` (``address`` is the site's
street address, as on every list).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from hhu_sync.model.catalog import Catalog
from hhu_sync.model.fields import Fields, shown
from hhu_sync.model.fit import scheme_fit_problems
from hhu_sync.model.problems import ModelError, Problem, ProblemCode
from hhu_sync.model.scheme import Scheme
from hhu_sync.model.window import DEFAULT_ZONE, MaintenanceWindow, WindowError, zone_problem

TASKS = ("read", "program", "read+program")
MAX_ENTRIES = 10_000
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")
_SEP_LINE = re.compile(r'^"?sep=([,;\t|])"?[,;\t|]*\s*$')
_EXCEL_NUMBER = re.compile(r"^\d+(?:[.,]\d+)?E\+\d+$", re.IGNORECASE)   # 3.51E+13
_BARE_HEAD_LINE = re.compile(r'^\s*"?\s*(list|id|name|hhu|crew|target|schedule|due|notes|profile'
                             r'|events|since|read_password_ref|allow_remote_program|maintenance_window|timezone)\s*:',
                             re.IGNORECASE)     # a "# key: value" line that lost its "#"
#: What a read task may ask for besides the registers, per meter or as the list's default.
READ_OPTIONS = ("profile", "events", "since")
#: ``since = "last"``: the depot fills in, per meter, the end of the last interval it holds.
SINCE_LAST = "last"
#: The key-store secret a read opens programming mode with (profile, events), per entry
#: or as the list's default; the packer seals it into the bundle, never the list.
READ_PASSWORD_REF = "read_password_ref"
_OPTIONAL = (*READ_OPTIONS, READ_PASSWORD_REF)
#: ``target = "remote"``: the depot reads the list's meters itself (hhu_sync.remote).
REMOTE = "remote"
#: What a remote entry says about its line: the port's URL and the meter's device address.
REMOTE_KEYS = ("port", "device_address")
#: A remote list that programs: the flag that allows it, and the hours it may (UTC).
ALLOW_REMOTE_PROGRAM, MAINTENANCE_WINDOW = "allow_remote_program", "maintenance_window"
#: A remote list's clock: the IANA zone its ``schedule`` and ``maintenance_window`` are
#: written in (``"Europe/London"``: 02:00 is 02:00 there, summer and winter); UTC if none.
TIMEZONE = "timezone"
PROGRAM_TASKS = ("program", "read+program")
_LIST_KEYS = ("id", "name", "hhu", "crew", "target", "schedule", "due", "notes", *_OPTIONAL,
              ALLOW_REMOTE_PROGRAM, MAINTENANCE_WINDOW, TIMEZONE)
_BASE_KEYS = ("serial", "site", "address", "task", "scheme", "model", "notes")
_ENTRY_KEYS = (*_BASE_KEYS, *_OPTIONAL, *REMOTE_KEYS)
#: The columns every CSV list has; the read options and the remote keys are optional.
CSV_COLUMNS = _BASE_KEYS
_ALL_CSV_COLUMNS = _ENTRY_KEYS
#: URL schemes a remote port may have (pyserial's): a modem or TCP-to-serial gateway
#: (socket://HOST:PORT), RFC 2217 (rfc2217://HOST:PORT), else a local device path.
PORT_SCHEMES = ("socket", "rfc2217")
_NETWORK = ("socket://", "rfc2217://")   # a modem or a gateway, not a local bus
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})(?:[/?].*)?$")
_DEVICE = re.compile(r"^(/[^\x00-\x1f]+|COM[1-9][0-9]{0,2}|\\\\\.\\COM[1-9][0-9]{0,2})$")
#: An IEC 62056-21 device address: at most 32 characters, digits, letters and spaces.
_DEVICE_ADDRESS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ]{0,31}$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")   # a key-store name
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})


@dataclass(frozen=True)
class MeterEntry:
    serial: str
    site: str
    address: str
    task: str
    scheme: str | None
    model: str | None
    notes: str
    #: Read the load profile / the event log too (read tasks only).
    profile: bool = False
    events: bool = False
    #: From when: an ISO date (00:00 meter time), a UTC time ``YYYY-MM-DDTHH:MM:SSZ``,
    #: ``"last"`` (see :data:`SINCE_LAST`), or None for all the meter holds.
    since: str | None = None
    #: The key-store secret holding this meter's reading password (None: the scheme's
    #: password, else the default reading password).
    read_password_ref: str | None = None
    #: Remote lists only: the pyserial URL of the meter's line, and the device address
    #: it answers on there ("": it is signed on to by its serial).
    port: str | None = None
    device_address: str = ""


@dataclass(frozen=True)
class MeterList:
    id: str
    name: str
    hhu: str | None
    crew: str | None
    due: str            # ISO date
    notes: str
    meters: tuple[MeterEntry, ...]
    #: ``"remote"`` (:data:`REMOTE`): read by the depot over each meter's port; None: by
    #: the HHU or crew named.
    target: str | None = None
    #: Remote lists: a cron expression (five fields, in :attr:`zone`) the list runs again
    #: by, e.g. ``"0 2 * * *"`` every night at 02:00; None: once, when queued.
    schedule: str | None = None
    #: Remote lists: program tasks (and clock setting) allowed, and only inside the
    #: maintenance window ``HH:MM-HH:MM`` (in :attr:`zone`; :class:`MaintenanceWindow`).
    allow_remote_program: bool = False
    maintenance_window: str | None = None
    #: Remote lists: the IANA time zone of ``schedule`` and ``maintenance_window``;
    #: None: UTC (what lists written before it meant).
    timezone: str | None = None

    @property
    def remote(self) -> bool:
        return self.target == REMOTE

    @property
    def window(self) -> MaintenanceWindow | None:
        """The maintenance window, when the list allows remote programming."""
        if not self.allow_remote_program or self.maintenance_window is None:
            return None
        return MaintenanceWindow.parse(self.maintenance_window, self.timezone)

    @property
    def zone(self) -> str:
        """The zone the list's schedule and window are written in."""
        return self.timezone or DEFAULT_ZONE

    @property
    def scheme_ids(self) -> tuple[str, ...]:
        """Schemes the list needs, in first-use order: they travel with it."""
        return tuple(dict.fromkeys(m.scheme for m in self.meters if m.scheme))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for msgpack and JSON (by hand: ``asdict`` deep-copies, ten times slower
        on a route of a thousand meters)."""
        d: dict[str, Any] = {"id": self.id, "name": self.name, "hhu": self.hhu, "crew": self.crew,
             "due": self.due, "notes": self.notes,
             "meters": [_entry_dict(m) for m in self.meters]}
        if self.target is not None:
            d["target"] = self.target
        if self.schedule is not None:
            d["schedule"] = self.schedule
        if self.allow_remote_program:
            d[ALLOW_REMOTE_PROGRAM] = True
        if self.maintenance_window is not None:
            d[MAINTENANCE_WINDOW] = self.maintenance_window
        if self.timezone is not None:
            d[TIMEZONE] = self.timezone
        return d


def _entry_dict(m: MeterEntry) -> dict[str, Any]:
    """An entry as plain data; the read options only when asked for, so a list without
    them is byte for byte what it was before they existed."""
    d: dict[str, Any] = {"serial": m.serial, "site": m.site, "address": m.address, "task": m.task,
         "scheme": m.scheme, "model": m.model, "notes": m.notes}
    if m.profile:
        d["profile"] = True
    if m.events:
        d["events"] = True
    if m.since is not None:
        d["since"] = m.since
    if m.read_password_ref is not None:
        d[READ_PASSWORD_REF] = m.read_password_ref
    if m.port is not None:
        d["port"] = m.port
    if m.device_address:
        d["device_address"] = m.device_address
    return d


def meter_list_from_dict(data: dict[str, Any]) -> MeterList:
    return MeterList(
        id=data["id"], name=data["name"], hhu=data["hhu"], crew=data["crew"], due=data["due"],
        notes=data["notes"], meters=tuple(MeterEntry(**{k: v for k, v in m.items()
                                                         if k in _ENTRY_KEYS})
                                          for m in data["meters"]),
        target=data.get("target"), schedule=data.get("schedule"),
        allow_remote_program=bool(data.get(ALLOW_REMOTE_PROGRAM, False)),
        maintenance_window=data.get(MAINTENANCE_WINDOW), timezone=data.get(TIMEZONE))


class EntryBilling(NamedTuple):
    """What the export takes from a list entry: its site and its scheme, as given."""

    site: Any
    scheme: Any


class MeterEntries:
    """A list's entries by serial, as :class:`EntryBilling` (:meth:`get`)."""

    def __init__(self, raw: dict[str, dict[str, Any]]) -> None:
        self._raw = raw

    def get(self, serial: str) -> EntryBilling | None:
        given = self._raw.get(serial)
        return None if given is None else EntryBilling(given["site"], given["scheme"])


_DICT_KEYS = ("id", "name", "hhu", "crew", "due", "notes", "meters")
#: what MeterEntry(**{k: v ... if k in _ENTRY_KEYS}) refuses an entry without (the
#: fields without a default: tests/unit/model test it)
_REQUIRED_ENTRY_KEYS = frozenset(_BASE_KEYS)


def meter_entries_from_dict(data: dict[str, Any]) -> MeterEntries:
    """``{m.serial: m for m in meter_list_from_dict(data).meters}`` (the last entry of a
    serial) as the export reads it (each entry's site and scheme), failing where that
    fails (a key the list or an entry must have), without making a :class:`MeterEntry`
    an entry (a frozen dataclass, some microseconds each, a route's list a thousand)."""
    for key in _DICT_KEYS:
        data[key]                                       # noqa: B018 - KeyError as there
    raw: dict[str, dict[str, Any]] = {}
    for m in data["meters"]:
        if not _REQUIRED_ENTRY_KEYS <= m.keys():        # MeterEntry(**...) would refuse
            raise TypeError("a meter list entry without a required key")
        raw[m["serial"]] = m
    return MeterEntries(raw)


def _flag(value: Any) -> bool | None:
    """A yes/no from TOML (a boolean) or a CSV cell (yes/no, true/false, 1/0); None when
    it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def _since(value: Any) -> str | None:
    """The canonical text of a ``since`` value, or None when it is not one. A time must
    say its zone: a route crosses no zones, but a depot and its meters may differ."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return None
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.lower() == SINCE_LAST:
        return SINCE_LAST
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text, re.ASCII):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return _since(parsed) if parsed.tzinfo is not None else None


def _read_options(row: Mapping[str, Any], defaults: Mapping[str, Any], task: Any,
                  add: Callable[[str, str], None]) -> tuple[bool, bool, str | None]:
    """The entry's (profile, events, since): its own values, else the list's defaults
    (which apply to read tasks only)."""
    reads = task in ("read", "read+program")
    values: dict[str, Any] = {}
    for key in READ_OPTIONS:
        own = row.get(key, "")
        if own not in ("", None):
            values[key] = (own, True)
        elif reads and key in defaults:
            values[key] = (defaults[key], False)
    flags = {}
    unreadable = False
    for key in ("profile", "events"):
        raw, own = values.get(key, (False, False))
        flag = _flag(raw)
        if flag is None:
            if own:
                add(key, f"{_show(raw)} is not yes or no (true/false, 1/0 also do)")
            flag, unreadable = False, True
        elif flag and not reads and own:
            add(key, f"a {task} task reads nothing: use task read+program")
        flags[key] = flag
    since: str | None = None
    if "since" in values:
        raw, own = values["since"]
        since = _since(raw)
        if since is None:
            if own:
                add("since", f"{_show(raw)} is not a date YYYY-MM-DD, a time with its zone "
                    "(2026-11-01T00:00:00Z) or \"last\"")
        elif not (flags["profile"] or flags["events"]):
            if own and not unreadable:
                add("since", "since needs profile = true or events = true: registers are "
                    "read as they stand")
            since = None
    return flags["profile"], flags["events"], since


def _secret_ref(value: Any) -> str | None:
    """A key-store secret name, or None when ``value`` is not one."""
    if isinstance(value, str) and _SECRET_NAME.match(value.strip()):
        return value.strip()
    return None


def _bad_ref(value: Any) -> str:
    """Why ``value`` is no secret name, without repeating it: what fails here is often the
    password itself, and the message goes to logs, rejected files' reasons and web pages."""
    what = (f"text of {len(value)} characters" if isinstance(value, str)
            else "a number" if isinstance(value, int | float) and not isinstance(value, bool)
            else _show(value))
    return (f"{what} is not a key-store secret name (1-64 letters, digits, '.', '_', '-'; "
            "the value is not repeated here): name the secret, never the password itself")


def _read_password_ref(row: Mapping[str, Any], defaults: Mapping[str, Any], task: Any,
                       add: Callable[[str, str], None]) -> str | None:
    """The entry's reading-password secret: its own, else the list's (read tasks only)."""
    reads = task in ("read", "read+program")
    own = row.get(READ_PASSWORD_REF, "")
    if own in ("", None):
        return _secret_ref(defaults.get(READ_PASSWORD_REF)) if reads else None
    ref = _secret_ref(own)
    if ref is None:
        add(READ_PASSWORD_REF, _bad_ref(own))
    elif not reads:
        add(READ_PASSWORD_REF, f"a {task} task reads nothing: use task read+program")
        return None
    return ref


def _show(value: Any, limit: int = 80) -> str:
    """A value quoted in a message, in the file's terms and shortened: a 200 kB cell is
    not repeated back, and ``None`` or ``''`` never shows."""
    return shown(value, limit)


def _build(f: Fields, head: dict[str, Any], head_path: str, rows: list[tuple[str, int | None,
           dict[str, Any]]], schemes: Mapping[str, Scheme] | None, catalog: Catalog,
           csv_rows: bool = False, rows_read: bool = True) -> MeterList:
    f.unknown(head, head_path, _LIST_KEYS)
    lid = f.ident(head, head_path, "id")
    name = f.get(head, head_path, "name", str, required=False, default="")
    hhu = f.ident(head, head_path, "hhu", required=False)
    crew = f.ident(head, head_path, "crew", required=False)
    target = _target(f, head, head_path)
    remote = "target" in head      # a bad target is told once: its entries read as remote
    schedule = _schedule(f, head, head_path, remote)
    zone = _timezone(f, head, head_path, remote)
    allow_program, window = _program_window(f, head, head_path, remote)
    if "hhu" not in head and "crew" not in head and "target" not in head:
        f.add(f"{head_path}.hhu", "a meter list needs a target: hhu = \"ID\", crew = \"NAME\""
              " or target = \"remote\"")
    notes = f.get(head, head_path, "notes", str, required=False, default="")
    due_raw = head.get("due")
    due: str | None = None
    if due_raw is None:
        f.add(f"{head_path}.due", "missing")
    elif isinstance(due_raw, date) and not hasattr(due_raw, "hour"):
        due = due_raw.isoformat()
    elif isinstance(due_raw, str):
        try:
            due = date.fromisoformat(due_raw.strip()).isoformat()
        except ValueError:
            f.add(f"{head_path}.due", f"{_show(due_raw)} is not a date YYYY-MM-DD")
    else:
        f.add(f"{head_path}.due", f"{_show(due_raw)} is not a date YYYY-MM-DD")

    defaults: dict[str, Any] = {}
    for key in ("profile", "events"):
        if key in head:
            if _flag(head[key]) is None:
                f.add(f"{head_path}.{key}", f"{_show(head[key])} is not yes or no")
            else:
                defaults[key] = head[key]
    if "since" in head:
        if _since(head["since"]) is None:
            f.add(f"{head_path}.since", f"{_show(head['since'])} is not a date YYYY-MM-DD, "
                  "a time with its zone (2026-11-01T00:00:00Z) or \"last\"")
        elif not any(_flag(defaults.get(k)) for k in ("profile", "events")):
            f.add(f"{head_path}.since", "since needs profile = true or events = true")
        else:
            defaults["since"] = head["since"]
    if READ_PASSWORD_REF in head:
        ref = head[READ_PASSWORD_REF]
        if _secret_ref(ref) is None:
            f.add(f"{head_path}.{READ_PASSWORD_REF}", _bad_ref(ref))
        else:
            defaults[READ_PASSWORD_REF] = ref
    if not rows and rows_read:       # not read: the header's problems said why
        f.add("meters", "the meter list is empty")
    if len(rows) > MAX_ENTRIES:
        f.add("meters", f"{len(rows)} meters is more than the limit of {MAX_ENTRIES}")
    entries: list[MeterEntry] = []
    first_seen: dict[str, str] = {}
    on_port: dict[tuple[str, str], str] = {}     # (port, address) -> where first
    programs: list[str] = []                     # remote program entries, where
    for path, line, row in rows:
        def add(field: str, message: str, path: str = path, line: int | None = line,
                **code: Any) -> None:
            name = f"{path}, column {field}" if csv_rows else f"{path}.{field}"
            f.add(name if path else field, message, line, **code)

        for key in row:
            if key not in _ENTRY_KEYS:
                add(key, f"unknown field (expected one of: {', '.join(_ENTRY_KEYS)})")
        serial = row.get("serial")
        if serial is None or serial == "":
            add("serial", "missing: every meter needs its serial" if serial is None
                else "empty: every row needs its meter serial")
            serial = None
        elif not isinstance(serial, str) or not _SERIAL.match(serial):
            hint = ("; a spreadsheet showed it as a number: format the column as Text"
                    if isinstance(serial, str) and _EXCEL_NUMBER.match(serial) else "")
            add("serial", f"{_show(serial)} is not a meter serial (1-32 letters, digits, '-')"
                          f"{hint}")
            serial = None
        elif serial in first_seen:
            add("serial", f"duplicate meter serial {_show(serial)} (first at {first_seen[serial]})")
        else:
            first_seen[serial] = path or f"line {line}"
        task = row.get("task")
        if task is None or task == "":
            add("task", ("missing" if task is None else "empty") + " (one of: "
                f"{', '.join(TASKS)})")
        elif task not in TASKS:
            add("task", f"{_show(task)} is not a task ({', '.join(TASKS)})")
        scheme_id = row.get("scheme") or None
        model = row.get("model") or None
        if scheme_id is not None and not isinstance(scheme_id, str):
            add("scheme", "expected a scheme id (text)")
            scheme_id = None
        if model is not None and not isinstance(model, str):
            add("model", "expected a meter model name (text)")
            model = None
        if model is not None and model not in catalog:
            add("model", f"unknown meter model {_show(model)}")
        if task in ("program", "read+program") and not scheme_id:
            add("scheme", f"task {_show(task)} needs a scheme id")
        elif task == "read" and scheme_id:
            add("scheme", "a read-only task takes no scheme (use task read+program)")
        elif scheme_id and schemes is not None:
            scheme = schemes.get(scheme_id)
            if scheme is None:
                add("scheme", f"unknown scheme id {_show(scheme_id)}",
                    code=ProblemCode.UNKNOWN_SCHEME, subject=scheme_id)
            elif model and model in catalog:
                for problem in scheme_fit_problems(scheme, model, catalog):
                    add("scheme", problem)
        texts = {}
        for key in ("site", "address", "notes"):
            value = row.get(key, "")
            if not isinstance(value, str):
                add(key, "expected text")
                value = ""
            texts[key] = value
        profile, events, since = _read_options(row, defaults, task, add)
        read_ref = _read_password_ref(row, defaults, task, add)
        port, device = _remote_fields(row, remote, task, serial, path or f"line {line}",
                                      on_port, add)
        if remote and task in PROGRAM_TASKS:
            programs.append(path or f"line {line}")
        if serial and task in TASKS:
            entries.append(MeterEntry(serial, texts["site"], texts["address"], task,
                                      scheme_id, model, texts["notes"], profile, events,
                                      since, read_ref, port, device))
    if programs:
        _remote_program_allowed(f, head, head_path, programs, allow_program, window)
    if f.problems:
        raise ModelError(f.problems)
    assert lid is not None and due is not None   # required: else a problem was recorded
    return MeterList(lid, name or lid, hhu, crew, due, notes, tuple(entries), target,
                     schedule, allow_program, window, zone)


def _program_window(f: Fields, head: dict[str, Any], head_path: str,
                    remote: bool) -> tuple[bool, str | None]:
    """``allow_remote_program`` and ``maintenance_window``: a remote list's, checked. A
    list that allows programming must say when (the meters are in service)."""
    allow = False
    window: str | None = None
    for key in (ALLOW_REMOTE_PROGRAM, MAINTENANCE_WINDOW):
        if key in head and not remote:
            f.add(f"{head_path}.{key}", "only a remote list (target = \"remote\") programs "
                  "its meters from the depot; an HHU programs on its visit")
    if not remote:
        return False, None
    if ALLOW_REMOTE_PROGRAM in head:
        flag = _flag(head[ALLOW_REMOTE_PROGRAM])
        if flag is None:
            f.add(f"{head_path}.{ALLOW_REMOTE_PROGRAM}",
                  f"{_show(head[ALLOW_REMOTE_PROGRAM])} is not yes or no (true/false)")
        allow = bool(flag)
    if MAINTENANCE_WINDOW in head:
        raw = head[MAINTENANCE_WINDOW]
        if not isinstance(raw, str):
            f.add(f"{head_path}.{MAINTENANCE_WINDOW}", "expected a window HH:MM-HH:MM (text)")
        else:
            try:
                window = MaintenanceWindow.parse(raw).text()
            except WindowError as exc:
                f.add(f"{head_path}.{MAINTENANCE_WINDOW}", str(exc))
    if allow and window is None and MAINTENANCE_WINDOW not in head:
        f.add(f"{head_path}.{MAINTENANCE_WINDOW}", "missing: a list with "
              "allow_remote_program = true programs only inside its maintenance window "
              "(e.g. maintenance_window = \"01:00-04:00\", in the list's timezone, UTC if "
              "none)")
    return allow, window


def _remote_program_allowed(f: Fields, head: dict[str, Any], head_path: str,
                            programs: list[str], allow: bool, window: str | None) -> None:
    """Program tasks on a remote list: only with the flag (and a window, checked with
    it). Told once for the list, naming the field and the first entry."""
    if allow or ALLOW_REMOTE_PROGRAM in head and _flag(head[ALLOW_REMOTE_PROGRAM]) is None:
        return
    more = f" and {len(programs) - 1} more" if len(programs) > 1 else ""
    f.add(f"{head_path}.{ALLOW_REMOTE_PROGRAM}",
          f"missing: a program task on a remote list ({programs[0]}{more}) needs "
          "allow_remote_program = true and a maintenance_window (the hours the depot "
          "may program in); else use task read and program on a visit")


_CRON_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def cron_problem(text: str) -> str | None:
    """Why ``text`` is not a five-field cron expression; None when it is one."""
    from apscheduler.triggers.cron import CronTrigger  # parses only: no clock, no thread

    try:
        trigger = CronTrigger.from_crontab(text, timezone=UTC)
    except ValueError as exc:
        return f"{_show(text)} is not a cron expression (minute hour day month weekday, " \
               f"e.g. \"0 2 * * *\"): {exc}"
    # a day no month has (30 February): valid fields, and a list that never runs; from
    # a fixed date, not the clock (the answer is the same whenever it is asked)
    if trigger.get_next_fire_time(None, _CRON_FROM) is None:
        return f"{_show(text)} never fires (no month has that day)"
    return None


def _timezone(f: Fields, head: dict[str, Any], head_path: str, remote: bool) -> str | None:
    """``timezone``: a remote list's clock (its schedule's and its window's), an IANA
    name this machine's zone database holds."""
    if TIMEZONE not in head:
        return None
    raw = head[TIMEZONE]
    if not remote:
        f.add(f"{head_path}.{TIMEZONE}", "only a remote list (target = \"remote\") has a "
              "schedule or a maintenance window to set a time zone for")
        return None
    value = raw.strip() if isinstance(raw, str) else raw
    problem = zone_problem(value)
    if problem is not None:
        f.add(f"{head_path}.{TIMEZONE}", problem)
        return None
    return str(value)


def _schedule(f: Fields, head: dict[str, Any], head_path: str, remote: bool) -> str | None:
    """``schedule``: a remote list's cron expression (a handheld's list has no clock)."""
    if "schedule" not in head:
        return None
    raw = head["schedule"]
    if not remote:
        f.add(f"{head_path}.schedule", "only a remote list (target = \"remote\") runs on a "
              "schedule")
        return None
    if not isinstance(raw, str):
        f.add(f"{head_path}.schedule", "expected a cron expression (text)")
        return None
    problem = cron_problem(raw.strip())
    if problem is not None:
        f.add(f"{head_path}.schedule", problem)
        return None
    return " ".join(raw.split())


def _target(f: Fields, head: dict[str, Any], head_path: str) -> str | None:
    """``target``: only ``"remote"`` (an HHU or a crew is named by ``hhu``/``crew``), and
    then neither of those: a list is the depot's work or a handheld's, not both."""
    if "target" not in head:
        return None
    raw = head["target"]
    value = raw.strip().lower() if isinstance(raw, str) else raw
    if value != REMOTE:
        f.add(f"{head_path}.target", f"{_show(raw)} is not a target: target = \"remote\" "
              "(the depot reads the meters over their ports); an HHU or a crew is named "
              "by hhu = \"ID\" or crew = \"NAME\"")
        return None
    for key in ("hhu", "crew"):
        if key in head:
            f.add(f"{head_path}.{key}", f"a remote list (target = \"remote\") has no {key}: "
                  "the depot reads its meters itself")
    return REMOTE


def gateway_key(port: str) -> str:
    """A network port's URL as gateways are matched by: its scheme and host in lower
    case (``SOCKET://GW.example:4001/`` is ``socket://gw.example:4001``), no trailing
    slash, the rest as is."""
    scheme, sep, rest = port.strip().partition("://")
    if not sep:
        return port.strip()
    rest = rest.rstrip("/")
    host, colon, tail = rest.rpartition(":")
    return f"{scheme.lower()}://{host.lower()}{colon}{tail}" if colon else \
        f"{scheme.lower()}://{rest.lower()}"


def is_gateway(port: str) -> bool:
    """A modem or a gateway (a network port), not a bus on a local device."""
    return port.strip().lower().startswith(_NETWORK)


def port_problem(url: str) -> str | None:
    """Why ``url`` is not a port a remote meter can be read on; None when it is one.
    pyserial would open more (``loop://``, ``spy://``...), none of them a meter's line."""
    m = _URL.match(url)
    if m is not None:
        scheme, rest = m.group(1).lower(), m.group(2)
        if scheme not in PORT_SCHEMES:
            return (f"{_show(url)}: unknown URL scheme {scheme!r} (a port is "
                    "socket://HOST:PORT, rfc2217://HOST:PORT or a local device such as "
                    "/dev/ttyUSB0)")
        hp = _HOST_PORT.match(rest)
        if hp is None or not 1 <= int(hp.group(2)) <= 65535:
            return f"{_show(url)}: expected {scheme}://HOST:PORT with a port 1-65535"
        return None
    if _DEVICE.match(url) is None:
        return (f"{_show(url)} is not a port: socket://HOST:PORT, rfc2217://HOST:PORT or a "
                "local device path such as /dev/ttyUSB0 (COM3 on Windows)")
    return None


def _remote_fields(row: Mapping[str, Any], remote: bool, task: Any, serial: str | None,
                   where: str, on_port: dict[tuple[str, str], str],
                   add: Callable[[str, str], None]) -> tuple[str | None, str]:
    """A remote entry's (port, device address), checked; an HHU list's entry has none.
    Two meters at one address on one port would both answer (or the wrong one would)."""
    port_raw, device_raw = row.get("port", ""), row.get("device_address", "")
    if not remote:
        for key, raw in (("port", port_raw), ("device_address", device_raw)):
            if raw not in ("", None):
                add(key, "only a remote list (target = \"remote\") reads a meter over a port")
        return None, ""
    port: str | None = None
    if port_raw in ("", None):
        add("port", "missing: every meter of a remote list needs its port (socket://HOST:PORT,"
            " rfc2217://HOST:PORT or a local device)")
    elif not isinstance(port_raw, str):
        add("port", "expected a pyserial URL (text)")
    elif (problem := port_problem(port_raw.strip())) is not None:
        add("port", problem)
    else:
        port = port_raw.strip()
    device = ""
    if device_raw not in ("", None):
        if not isinstance(device_raw, str) or not _DEVICE_ADDRESS.match(device_raw.strip()):
            add("device_address", f"{_show(device_raw)} is not a device address (1-32 "
                "letters, digits, spaces)")
        else:
            device = device_raw.strip()
    if port is not None and serial:
        spot = (port, device or serial)
        if spot in on_port:
            add("device_address", f"address {_show(spot[1])} on port {_show(port)} is "
                f"taken already (at {on_port[spot]}): two meters at one address on one "
                "line both answer; give each its own device_address")
        else:
            on_port[spot] = where
    return port, device


def parse_meter_list_toml(data: dict[str, Any], file: str, catalog: Catalog,
                          schemes: Mapping[str, Scheme] | None = None,
                          locate: Callable[[str], int | None] | None = None) -> MeterList:
    f = Fields(file, locate)
    f.unknown(data, "", ("list", "meters"))
    head = f.get(data, "", "list", dict, default={})
    meters = f.get(data, "", "meters", list, required=False, default=[])
    rows: list[tuple[str, int | None, dict[str, Any]]] = []
    for index, item in enumerate(meters):
        path = f"meters[{index}]"
        if isinstance(item, dict):
            rows.append((path, None, item))
        else:
            f.add(path, "expected a table")
    return _build(f, head, "list", rows, schemes, catalog)


def parse_meter_list_csv(text: str, file: str, catalog: Catalog,
                         schemes: Mapping[str, Scheme] | None = None) -> MeterList:
    """A CSV meter list, as a spreadsheet saves it.

    What Excel does to a CSV is taken in its stride: a byte order mark, CRLF line ends,
    semicolons as separators (the header row decides: ``;`` when it has more than ``,``),
    rows padded with empty cells (trailing separators, also on the ``# key: value``
    lines), quoted cells, a first line ``sep=;`` naming the separator. What cannot be
    read is named in the CSV's own terms: row N (as the spreadsheet numbers it), column
    NAME, and what to change.
    """
    head: dict[str, Any] = {}
    head_lines: dict[str, int] = {}
    f = Fields(file, head_lines.get)
    lines = text.lstrip("\ufeff").splitlines()
    declared = None
    if lines and (m := _SEP_LINE.match(lines[0])):   # Excel's "sep=;" line names it
        declared, lines[0] = m.group(1), ""
    start = next((n for n, line in enumerate(lines) if _is_data_line(line)), len(lines))
    sep = declared or (sniff_separator(lines[start]) if start < len(lines) else ",")
    for n, line in enumerate(lines[:start]):
        try:
            cells = _trimmed(next(csv.reader([line], delimiter=sep), []))
        except csv.Error:       # a cell over csv's field limit: the line as it stands
            cells = [line]
        comment = sep.join(cells).strip()
        if comment.startswith("#") and ":" in comment:
            key, _, value = comment[1:].partition(":")
            key = key.strip().lower()
            key = "id" if key == "list" else key
            head[key] = value.strip()
            head_lines[f"list.{key}"] = n + 1
    header_row = start + 1
    reader = csv.reader(io.StringIO("\n".join(lines[start:])), delimiter=sep)
    rows: list[tuple[str, int | None, dict[str, Any]]] = []
    usable = True
    try:
        header = next(reader, None)
        if header is None:
            f.add("header", "no header row (expected: " + ",".join(CSV_COLUMNS) + ")",
                  start + 1)
        else:
            header = _trimmed([h.strip().lower() for h in header])
            at = f"row {header_row}"
            if m := _BARE_HEAD_LINE.match(lines[start]):
                # One cause explains every problem that would follow (each row read
                # against a header that is not one): name it alone.
                key = m.group(1).lower()
                f.add(at, f"looks like a '# {key}:' line without its '#': write it as "
                      f"'# {key}: ...' (the header row, {','.join(CSV_COLUMNS)}, comes "
                      "after the '# key: value' lines)", header_row)
                raise ModelError(f.problems)
            for number, col in enumerate(header, start=1):
                if not col:
                    f.add(f"{at}, column {number}", "a column without a name in the header "
                          "row: name it (one of: " + ",".join(CSV_COLUMNS) + ") or delete "
                          "the column", header_row)
                elif col not in _ALL_CSV_COLUMNS:
                    f.add(f"{at}, column {col}", "unknown column (expected: "
                          + ",".join(CSV_COLUMNS) + ", and optionally "
                          + ",".join((*_OPTIONAL, *REMOTE_KEYS)) + ")", header_row)
            for col in ("serial", "task"):
                if col not in header:
                    f.add(f"{at}, column {col}", "missing from the header row", header_row)
            record, last_line = header_row, reader.line_num
            # Without its serial or task column no row can be read: the header's problems
            # explain every row's, which are not repeated.
            usable = "serial" in header and "task" in header
            for values in (reader if usable else ()):
                record += 1
                number = start + last_line + 1          # the line the record starts on
                last_line = reader.line_num
                if not any(v.strip() for v in values):
                    continue
                where = f"row {record}"
                extra = values[len(header):]
                if any(v.strip() for v in extra):
                    stray = next(v for v in extra if v.strip())
                    f.add(where, f"{len(_trimmed(values))} values, the header row names "
                          f"{len(header)} columns: {stray.strip()[:40]!r} is in a column "
                          f"without a name (a value holding {sep!r} must be quoted)", number)
                    continue
                if len(values) < len(header):
                    missing = ", ".join(header[len(values):])
                    f.add(where, f"{len(values)} values, the header row names {len(header)} "
                          f"columns: add the missing cells ({missing}), empty if need be",
                          number)
                    continue
                row = {k: v.strip() for k, v in zip(header, values, strict=False)
                       if k in _ALL_CSV_COLUMNS}
                rows.append((where, number, row))
    except csv.Error as exc:
        f.add(f"row {header_row + max(0, reader.line_num - 1)}", f"not valid CSV: {exc}",
              start + reader.line_num)
    return _build(f, head, "list", rows, schemes, catalog, csv_rows=True, rows_read=usable)


def _is_data_line(line: str) -> bool:
    """Not blank and not a ``# key: value`` line (those may be quoted, or padded)."""
    bare = line.strip().rstrip(",;\t").strip()
    return bool(bare) and not bare.lstrip('"').startswith("#")


def _trimmed(cells: list[str]) -> list[str]:
    """Without the empty cells a spreadsheet pads a row with."""
    end = len(cells)
    while end and not cells[end - 1].strip():
        end -= 1
    return cells[:end]


def sniff_separator(header: str) -> str:
    """``;`` (Excel where the decimal mark is a comma), tab, or ``,``: the header decides."""
    counts = {sep: 0 for sep in ",;\t"}
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda sep: (counts[sep], sep == ","))
    return best if counts[best] else ","


def csv_not_utf8(raw: bytes, offset: int, file: str) -> Problem:
    """The problem for a CSV byte that is not UTF-8, in the CSV's terms.

    Excel's plain "CSV (Comma delimited)" writes the Windows code page (cp1252 in the
    west): ``é`` is byte 0xE9. It is refused, not guessed at: the same byte is another
    letter in another code page, and a site name must not change on its way to billing.
    """
    before = raw[:offset].decode("utf-8", "replace").lstrip("\ufeff")
    lines = re.split(r"\r\n|\r|\n", before)        # the last: the bad byte's line so far
    line = len(lines)
    where = f"row {line}"
    start = next((n for n, t in enumerate(lines[:-1]) if _is_data_line(t)), None)
    if start is not None:
        try:
            header_text = lines[start]
            sep = sniff_separator(header_text)
            header = next(csv.reader([header_text], delimiter=sep), [])
            index = max(0, len(next(csv.reader([lines[-1]], delimiter=sep), [""])) - 1)
            name = header[index].strip().lower() if index < len(header) else str(index + 1)
            where = f"row {line}, column {name}"
        except csv.Error:
            pass
    return Problem(file, line, where, f"byte 0x{raw[offset]:02x} at byte offset {offset} is "
                   "not UTF-8 (a spreadsheet's own code page, such as Windows-1252): in "
                   "Excel, save as 'CSV UTF-8 (Comma delimited)'; elsewhere choose the "
                   "character set UTF-8")


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_meter_list_toml(m: MeterList) -> str:
    """TOML text that :func:`parse_meter_list_toml` reads back to an equal list."""
    out = ["[list]", f"id = {_q(m.id)}", f"name = {_q(m.name)}"]
    out += [f"hhu = {_q(m.hhu)}"] if m.hhu else []
    out += [f"crew = {_q(m.crew)}"] if m.crew else []
    out += [f"target = {_q(m.target)}"] if m.target else []
    out += [f"schedule = {_q(m.schedule)}"] if m.schedule else []
    out += [f"{ALLOW_REMOTE_PROGRAM} = true"] if m.allow_remote_program else []
    out += [f"{MAINTENANCE_WINDOW} = {_q(m.maintenance_window)}"] if m.maintenance_window \
        else []
    out += [f"{TIMEZONE} = {_q(m.timezone)}"] if m.timezone else []
    out += [f"due = {m.due}", f"notes = {_q(m.notes)}", ""]
    for e in m.meters:
        out += ["[[meters]]", f"serial = {_q(e.serial)}", f"site = {_q(e.site)}",
                f"address = {_q(e.address)}", f"task = {_q(e.task)}", f"notes = {_q(e.notes)}"]
        out += [f"scheme = {_q(e.scheme)}"] if e.scheme else []
        out += [f"model = {_q(e.model)}"] if e.model else []
        out += ["profile = true"] if e.profile else []
        out += ["events = true"] if e.events else []
        out += [f"since = {_q(e.since)}"] if e.since else []
        out += [f"{READ_PASSWORD_REF} = {_q(e.read_password_ref)}"] if e.read_password_ref \
            else []
        out += [f"port = {_q(e.port)}"] if e.port else []
        out += [f"device_address = {_q(e.device_address)}"] if e.device_address else []
        out.append("")
    return "\n".join(out)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    return value or ""


def render_meter_list_csv(m: MeterList) -> str:
    """CSV text that :func:`parse_meter_list_csv` reads back to an equal list.

    The ``# key: value`` rows are CSV rows of one cell too, quoted when the value holds
    a comma or a quote, as a spreadsheet writes them.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    head = [("list", m.id), ("name", m.name), ("hhu", m.hhu), ("crew", m.crew),
            ("target", m.target), ("schedule", m.schedule),
            (ALLOW_REMOTE_PROGRAM, "yes" if m.allow_remote_program else None),
            (MAINTENANCE_WINDOW, m.maintenance_window), (TIMEZONE, m.timezone),
            ("due", m.due), ("notes", m.notes)]
    for key, value in head:
        if value or key in ("list", "name", "due"):
            writer.writerow([f"# {key}: {value}"])
    extra = tuple(c for c in (*_OPTIONAL, *REMOTE_KEYS)
                  if any(getattr(e, c) for e in m.meters))
    columns = CSV_COLUMNS + extra
    writer.writerow(columns)
    for e in m.meters:
        writer.writerow([_cell(getattr(e, c)) for c in columns])
    return buf.getvalue()
