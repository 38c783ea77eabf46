"""The field trip: execute the meter lists held in an HHU's flash, store readings uploads.

A trip takes each committed meter-list bundle in flash, visits its meters in route
order, and leaves one sealed ``readings`` upload per list in flash for the next docking;
the list's bundle is then retired (a real HHU marks the route done). Two visitors:

* :func:`synthetic_visit` makes up plausible register values from the serial and time;
* :class:`FleetVisitor` walks up to simulated meters (a fleet TOML file) and talks
  IEC 62056-21 to each through :class:`~hhu_sync.meterio.MeterClient`, in process: the
  probe is a byte pump into the meter's :class:`MeterSession` (no sockets, no sleeps).
  Meters run on simulated time, advanced to each visit's time; their state (registers,
  programmed tariffs, passwords) is saved atomically to a JSON file so the next trip
  finds them as this one left them.

The fleet file and the meters' state on disk (with the lock trips take turns by) live in
:mod:`hhu_firmware_sim.meter.fleet` and :mod:`hhu_firmware_sim.meter.fleet_state`; their
names are kept here for the callers that import them from the trip.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hhu_firmware_sim.flash import FlashStore
from hhu_firmware_sim.meter import (
    MeterSession,
    SimMeter,
)
from hhu_firmware_sim.meter.fleet import FieldFleet as FieldFleet
from hhu_firmware_sim.meter.fleet import load_field_fleet as load_field_fleet
from hhu_firmware_sim.meter.fleet_state import LOCK_WAIT_S as LOCK_WAIT_S
from hhu_firmware_sim.meter.fleet_state import STATE_FILE as STATE_FILE
from hhu_firmware_sim.meter.fleet_state import STATE_VERSION as STATE_VERSION
from hhu_firmware_sim.meter.fleet_state import load_state as load_state
from hhu_firmware_sim.meter.fleet_state import meter_state as meter_state
from hhu_firmware_sim.meter.fleet_state import restore_meter as restore_meter
from hhu_firmware_sim.meter.fleet_state import save_state as save_state
from hhu_firmware_sim.meter.fleet_state import state_lock as state_lock
from hhu_firmware_sim.meter.fleet_state import tou_from_dict as tou_from_dict
from hhu_firmware_sim.meter.fleet_state import tou_to_dict as tou_to_dict
from hhu_sync.errors import TransferError
from hhu_sync.iec62056 import WriteRequest
from hhu_sync.meterio import (
    DriverSettings,
    MeterClient,
    MeterIOError,
    MeterRefused,
    PasswordRefused,
    SchemeEncodingError,
    plan_scheme,
    program_scheme,
)
from hhu_sync.meterio.interval_read import (
    DEFAULT_READ_PASSWORD,
    read_interval_data,
    since_utc,
)
from hhu_sync.meterio.program import CT_RATIO, VT_RATIO
from hhu_sync.meterio.readout_rows import (
    NOT_READINGS,
    RESET_STAMP,
    meter_clock,
    meter_time,
    register_entry,
)
from hhu_sync.model.catalog import model_takes_ratios
from hhu_sync.model.meterlist import TASKS
from hhu_sync.model.scheme import scheme_from_dict
from hhu_sync.profile.events import MeterEvent
from hhu_sync.profile.series import ChannelSeries
from hhu_sync.profile.wire import encode_event, encode_profile
from hhu_sync.transfer import decode_transfer, decrypt_password, encode_transfer

log = logging.getLogger("hhu_firmware_sim.field_trip")
Visitor = Callable[[dict[str, Any], dict[str, Any] | None, datetime], dict[str, Any]]


@dataclass(frozen=True)
class TripResult:
    lists: tuple[str, ...]
    uploads: tuple[str, ...]
    visits: int
    readings: int
    outcomes: tuple[tuple[str, str], ...] = ()   # (serial, outcome) in visit order
    problems: tuple[str, ...] = ()   # bundles refused, entries with no serial to visit


def _digits(seed: str, n: int) -> int:
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % n


def synthetic_visit(entry: dict[str, Any], scheme: dict[str, Any] | None,
                    when: datetime) -> dict[str, Any]:
    """Register values that rise steadily with time, distinct per meter, always ``done``."""
    serial = entry["serial"]
    stamp = when.isoformat(timespec="seconds")
    rates = [r["number"] for r in scheme["rates"]] if scheme else [1, 2]
    hours = int(when.timestamp() // 3600)
    base = _digits(serial, 50_000)
    per_rate = [base // len(rates) + (hours * (k + 1)) % 10_000 / 10 for k in range(len(rates))]
    registers = [["1.8.0", f"{sum(per_rate):09.1f}", "kWh", stamp]]
    registers += [[f"1.8.{n}", f"{v:09.1f}", "kWh", stamp] for n, v in zip(rates, per_rate,
                                                                         strict=True)]
    registers += [["1.6.0", f"{_digits(serial + 'md', 9999) / 100:07.2f}", "kW", stamp],
                  ["F.F", "00000000", "", stamp]]
    programs = entry["task"] in ("program", "read+program") and scheme is not None
    return {"meter": serial, "time": stamp, "outcome": "done", "registers": registers,
            "error_flags": "00000000", "scheme": scheme["id"] if programs and scheme else None,
            "verify": "ok" if programs else None, "notes": ""}


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def run_trip(flash: FlashStore, hhu_id: str, key: bytes, *, operator: str = "crew",
             start: datetime | None = None, visit: Visitor = synthetic_visit,
             minutes_per_visit: int = 20,
             checkpoint: Callable[[], None] | None = None,
             clock: Callable[[], datetime] = _wall_clock,
             upload_version: int = 3) -> TripResult:
    """Execute every meter list in flash; idempotent (an executed list leaves the flash).

    A route with profiles or events is written as ``upload_version`` (3 by default:
    docs/upload-format.md; 2 for a depot that reads no newer), else as version 1.

    ``visit`` gets each scheme with its passwords opened (``password`` beside
    ``secret``): only the HHU holding the key can. ``checkpoint`` runs after a list's
    visits and before its upload is stored, so what the meters went through (saved
    state) is durable before any reading claims it.

    Each visit is stamped by the HHU's own clock. With ``start`` that clock is simulated
    (the first visit at ``start``, then ``minutes_per_visit`` apart); without it, it is
    ``clock`` read at each visit, so no visit is ever stamped after the moment it was
    made (a made-up spacing once put the demo's visits 40 minutes in the future).
    """
    simulated = start is not None

    def _stamp(at: datetime | None) -> datetime:
        return (at if at is not None else clock()).astimezone(UTC).replace(microsecond=0)

    when = _stamp(start)
    lists, uploads, visits_total, readings_total = [], [], 0, 0
    outcomes: list[tuple[str, str]] = []
    problems: list[str] = []
    for entry in flash.bundles():
        try:
            transfer = decode_transfer(flash.read_bundle(entry.bundle_id), key)
        except Exception as exc:  # noqa: BLE001 - any bundle that does not decode is refused
            problems.append(f"bundle {entry.bundle_id}: not usable: {exc}")
            log.warning("bundle %s not usable: %s", entry.bundle_id, exc)
            continue
        if transfer.header.kind != "meter_list":
            continue
        payload = transfer.payload
        mlist = payload["meter_list"]
        schemes, broken = _open_schemes(payload.get("schemes", []), key, transfer.header)
        for scheme_id, reason in broken.items():
            log.warning("bundle %s: scheme %s not usable: %s", entry.bundle_id, scheme_id,
                        reason)
        visits = []
        for i, m in enumerate(mlist["meters"]):
            serial = m.get("serial") if isinstance(m, dict) else None
            if not isinstance(serial, str) or not serial.strip():
                problems.append(f"bundle {entry.bundle_id}: meters[{i}]: no serial, "
                                "not visited")
                log.warning("bundle %s: meters[%d] has no serial: not visited",
                            entry.bundle_id, i)
                continue
            if not simulated:
                when = max(when, _stamp(None))       # the HHU's clock, read at the meter
            m, unopened = _open_read_password(m, key, transfer.header)
            v = _visit_one(visit, m, schemes, broken, when, unopened)
            v.setdefault("list", mlist["id"])
            v.setdefault("operator", operator)
            visits.append(v)
            outcomes.append((v["meter"], v["outcome"]))
            if simulated:
                when += timedelta(minutes=minutes_per_visit)
        if checkpoint is not None:
            checkpoint()
        upload_id = f"R-{entry.bundle_id}"[:64]
        body: dict[str, Any] = {"upload_id": upload_id, "hhu_id": hhu_id,
                                "operator": operator, "lists": [mlist["id"]], "visits": visits}
        if profiled(visits, upload_version):
            body["version"] = upload_version    # docs/upload-format.md; else 1, as ever
        if not flash.has_upload(upload_id):
            flash.store_upload(upload_id, encode_transfer(
                "readings", body, source=hhu_id, target=transfer.header.source, key=key,
                bundle_id=upload_id))
        flash.delete_bundle(entry.bundle_id)   # the route is done
        lists.append(mlist["id"])
        uploads.append(upload_id)
        visits_total += len(visits)
        readings_total += sum(len(v["registers"]) for v in visits)
        log.info("%s: list %s done, %d visits, upload %s", hhu_id, mlist["id"], len(visits),
                 upload_id)
    return TripResult(tuple(lists), tuple(uploads), visits_total, readings_total,
                      tuple(outcomes), tuple(problems))


def profiled(visits: list[dict[str, Any]], version: int = 3) -> bool:
    """Put a visit's profiles (:class:`ChannelSeries`) and events (:class:`MeterEvent`)
    in upload ``version``'s arrays (2, or 3: each run's values as byte planes), in place;
    whether any visit has some. A route without any is written as version 1, which every
    depot reads (without the visits' ``meter_clock``, a version-2 key)."""
    found = False
    for v in visits:
        for name in ("profiles", "events"):
            items = v.get(name)
            if items is None:
                continue
            if not items:
                del v[name]
                continue
            v[name] = [encode_profile(x, version) if isinstance(x, ChannelSeries) else
                       encode_event(x) if isinstance(x, MeterEvent) else x for x in items]
            found = True
    if not found:                   # version 1 has no meter_clock: only VEE needs it
        for v in visits:
            v.pop("meter_clock", None)
    return found


def _open_schemes(carried: list[dict[str, Any]], key: bytes,
                  header: Any) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The bundle's schemes with their passwords opened (only this HHU's key can), and
    why each one that cannot be opened is unusable (by scheme id). Why per scheme: one
    damaged record must cost only the visits that need that scheme, not the trip."""
    schemes: dict[str, dict[str, Any]] = {}
    broken: dict[str, str] = {}
    for s in carried:
        try:
            opened = [{"level": pw["level"], "secret": pw["secret"],
                       "password": decrypt_password(key, pw["enc"],
                                                    bundle_id=header.bundle_id,
                                                    target=header.target, name=pw["secret"])}
                      for pw in s.get("passwords", [])]
        except (TransferError, KeyError, TypeError, ValueError) as exc:
            broken[s["id"]] = f"a password record does not open: {exc}"
            continue
        schemes[s["id"]] = {**s, "passwords": opened}
    return schemes, broken


def _open_read_password(entry: dict[str, Any], key: bytes,
                        header: Any) -> tuple[dict[str, Any], str | None]:
    """The entry with its reading password opened (``{"secret", "password"}``, held in
    memory only), or without it and why it does not open: that costs the entry its
    profile read, not the visit."""
    record = entry.get("read_password")
    if record is None:
        return entry, None
    rest = {k: v for k, v in entry.items() if k != "read_password"}
    try:
        name = record["secret"]
        password = decrypt_password(key, record["enc"], bundle_id=header.bundle_id,
                                    target=header.target, name=name)
    except (TransferError, KeyError, TypeError, ValueError) as exc:
        return rest, f"the reading password record does not open: {exc}"
    return {**rest, "read_password": {"secret": name, "password": password}}, None


def _with_note(visit: dict[str, Any], note: str) -> dict[str, Any]:
    notes = visit.get("notes") or ""
    return {**visit, "notes": f"{notes}; {note}" if notes else note}


def _failed_visit(entry: dict[str, Any], when: datetime, reason: str,
                  base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A visit that could not be made (or finished) as the list asked, with the reason."""
    programs = entry.get("task") in PROGRAM_TASKS
    visit = base or {"meter": entry["serial"], "time": when.isoformat(timespec="seconds"),
                     "registers": [], "error_flags": None, "scheme": None, "verify": None,
                     "notes": ""}
    return {**visit, "outcome": "verify_failed" if programs else "no_access",
            "scheme": entry.get("scheme") if programs else visit.get("scheme"),
            "verify": "failed" if programs else None, "notes": reason}


def _visit_one(visit: Visitor, entry: dict[str, Any], schemes: dict[str, dict[str, Any]],
               broken: dict[str, str], when: datetime,
               unopened: str | None = None) -> dict[str, Any]:
    """One meter of the route; whatever is wrong with its entry or its scheme, or goes
    wrong in the visitor, fails this visit with the reason and nothing else.
    ``unopened``: why the entry's reading password did not open (its profile and
    events are then not asked for: no other password is tried in its place)."""
    task, scheme_id = entry.get("task"), entry.get("scheme")
    if task not in TASKS:
        return _failed_visit(entry, when, f"not visited: task {str(task)[:40]!r} unknown "
                                          f"(known: {', '.join(TASKS)})")
    problem = None
    if task in PROGRAM_TASKS:
        if scheme_id in broken:
            problem = f"scheme {scheme_id} not usable: {broken[scheme_id]}"
        elif scheme_id not in schemes:
            problem = f"scheme {scheme_id} not carried in the bundle"
    if problem is not None and task == "program":
        return _failed_visit(entry, when, f"not programmed: {problem}")
    asked = {**entry, "task": "read"} if problem is not None else entry
    skipped = unopened is not None and bool(entry.get("profile") or entry.get("events"))
    if skipped:
        asked = {**asked, "profile": False, "events": False}
    try:
        v = visit(asked, schemes.get(scheme_id) if scheme_id else None, when)
    except Exception as exc:  # noqa: BLE001 - one meter's trouble is that visit's failure
        log.warning("visit to %s failed: %s: %s", entry["serial"], type(exc).__name__, exc)
        return _failed_visit(entry, when, f"visit failed: {type(exc).__name__}: {exc}")
    if skipped:
        v = _with_note(v, f"load profile not read: {unopened}")
    if problem is not None:        # read+program: the read stands, the programming did not
        return _failed_visit(entry, when, f"read, not programmed: {problem}", base=v)
    return v


# ---------------------------------------------------------------------------------------------
# The fleet: simulated meters in the field, visited over IEC 62056-21 in process
# ---------------------------------------------------------------------------------------------

PROGRAM_TASKS = ("program", "read+program")
#: Readout items that identify the meter or show its clock, not billing registers.
FAULT_NAMES = ("no-access", "wrong-password", "verify-fail")


@dataclass(frozen=True)
class FieldFaults:
    """Faults a field trip injects, by meter serial (``--faults no-access=S,...``)."""

    no_access: frozenset[str] = frozenset()
    wrong_password: frozenset[str] = frozenset()
    verify_fail: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str | None) -> FieldFaults:
        """``no-access=S1,wrong-password=S2,verify-fail=S3`` (names may repeat)."""
        sets: dict[str, set[str]] = {name: set() for name in FAULT_NAMES}
        for item in (text or "").split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, serial = item.partition("=")
            if not sep or name not in sets or not serial:
                raise ValueError(f"fault {item!r}: expected NAME=SERIAL with NAME one of "
                                 f"{', '.join(FAULT_NAMES)}")
            sets[name].add(serial)
        return cls(frozenset(sets["no-access"]), frozenset(sets["wrong-password"]),
                   frozenset(sets["verify-fail"]))


# -- the optical probe, in process ----------------------------------------------------------

class InProcessProbe:
    """A :class:`~hhu_sync.meterio.Transport` straight into a :class:`MeterSession`.

    What the HHU writes is handed to the meter at once and its answer queued for the next
    read; a read with nothing queued is an immediate time-out (simulated time does not
    pass while the crew waits). Baud rates and reaction times mean nothing here.
    """

    def __init__(self, session: MeterSession) -> None:
        self.session = session
        self._rx = bytearray()
        self.bytes_sent = 0

    def write(self, data: bytes) -> None:
        self.bytes_sent += len(data)
        self._rx += self.session.receive(data)

    def read(self, timeout: float) -> bytes:
        out, self._rx = bytes(self._rx), bytearray()
        return out

    def set_baud(self, baud: int) -> None:
        pass

    def pause(self, seconds: float) -> None:
        pass


class _DisplayDroppingSession(MeterSession):
    """Fault ``verify-fail``: ACKs the display list but stores another (a meter bug)."""

    def _handle(self, event: object) -> bytes:
        out = super()._handle(event)
        if isinstance(event, WriteRequest) and event.address == "128.8.0" \
                and self.meter is not None:
            self.meter.display_items = (*self.meter.display_items, "C.1.0")
        return out


def _garble(password: str) -> str:
    return (password[::-1] + "#")[:max(len(password), 1)] if password else "#"


class FleetVisitor:
    """The crew with an optical probe: a :data:`Visitor` over a simulated fleet."""

    def __init__(self, fleet: FieldFleet, *, state_path: Path | None = None,
                 faults: FieldFaults | None = None,
                 settings: DriverSettings | None = None) -> None:
        self.fleet = fleet
        self.state_path = state_path
        self.faults = faults or FieldFaults()
        self.settings = settings or DriverSettings(reaction_s=0.0, max_reads=1000)

    @classmethod
    def open(cls, fleet_path: str | os.PathLike[str], state_path: str | os.PathLike[str],
             faults: FieldFaults | None = None) -> FleetVisitor:
        """The fleet from its TOML file, meters restored from ``state_path`` if saved."""
        fleet = load_field_fleet(fleet_path)
        load_state(fleet.fleet, Path(state_path))
        return cls(fleet, state_path=Path(state_path), faults=faults)

    def save(self) -> None:
        if self.state_path is not None:
            save_state(self.fleet.fleet, self.state_path)

    def _find(self, serial: str) -> SimMeter | None:
        return next((m for m in self.fleet.fleet.meters if m.serial == serial), None)

    def __call__(self, entry: dict[str, Any], scheme: dict[str, Any] | None,
                 when: datetime) -> dict[str, Any]:
        serial = entry["serial"]
        stamp = when.isoformat(timespec="seconds")
        visit: dict[str, Any] = {"meter": serial, "time": stamp, "outcome": "done",
                                 "registers": [], "error_flags": None, "scheme": None,
                                 "verify": None, "notes": ""}
        meter = self._find(serial)
        if meter is None:
            return {**visit, "outcome": "not_found",
                    "notes": "no meter with this serial at the address"}
        if serial in self.fleet.no_access or serial in self.faults.no_access:
            return {**visit, "outcome": "no_access", "notes": "could not get to the meter"}
        local = when.astimezone(UTC).replace(tzinfo=None)
        if local > meter.now:                 # never backwards: a fast meter clock stays
            meter.at(local)
        session_cls = (_DisplayDroppingSession if serial in self.faults.verify_fail
                       else MeterSession)
        session = session_cls(lambda a: meter if a in ("", meter.serial, meter.address)
                              else None)
        client = MeterClient(InProcessProbe(session), self.settings)
        try:
            result = client.readout(serial)       # read first: closing reads, old tariff
        except MeterIOError as exc:
            return {**visit, "outcome": "no_access", "notes": f"optical port: {exc}"}
        datasets = result.readout.datasets
        resets = {ds.key.partition("*")[2]: meter_time(ds.value) for ds in datasets
                  if ds.key.startswith(RESET_STAMP + "*")}
        clock = meter_clock(datasets)
        if clock is not None:
            visit["meter_clock"] = clock
        for ds in datasets:
            if ds.key in NOT_READINGS or ds.key.startswith(RESET_STAMP + "*"):
                continue
            if ds.key == "F.F":
                visit["error_flags"] = ds.value
            visit["registers"].append(register_entry(ds.key, ds.value, ds.unit or "", stamp,
                                                     ds.timestamp, resets))
        if entry.get("profile") or entry.get("events"):
            visit.update(self._interval_data(client, serial, entry, scheme))
        if entry.get("task") in PROGRAM_TASKS:
            # Programming decides the outcome (the depot knows a scheme is in only from
            # ``done`` and ``verify = ok``); a refused profile read stays in the notes.
            read_notes = visit["notes"]
            programmed = self._program(client, serial, scheme)
            visit.update(programmed)
            if read_notes and programmed.get("notes"):
                visit["notes"] = f"{read_notes}; {programmed['notes']}"
        return visit

    def _interval_data(self, client: MeterClient, serial: str, entry: dict[str, Any],
                       scheme: dict[str, Any] | None) -> dict[str, Any]:
        """The profile and events the entry asks for (the fleet's clocks run on UTC);
        a read that fails keeps the visit's registers and says why in its notes. The
        password tried, once: the entry's reading password, else the scheme's highest,
        else :data:`DEFAULT_READ_PASSWORD`; one the meter refuses is ``password_rejected``
        (never a second guess: each counts toward the meter's lock-out)."""
        password, which = read_password(entry, scheme)
        try:
            since = since_utc(entry.get("since"), None)
            with client.programming(serial, password) as session:
                got = read_interval_data(session, since=since,
                                         profile=bool(entry.get("profile")),
                                         events=bool(entry.get("events")))
        except PasswordRefused as exc:
            return {"outcome": "password_rejected",
                    "notes": f"load profile not read: the meter refused {which} ({exc})"}
        except (MeterRefused, MeterIOError, ValueError) as exc:
            return {"notes": f"load profile not read: {exc}"}
        return {"profiles": list(got.series), "events": list(got.events)}

    def _program(self, client: MeterClient, serial: str,
                 scheme: dict[str, Any] | None) -> dict[str, Any]:
        """Program and verify; the visit fields this changes."""
        if scheme is None:
            return {"outcome": "verify_failed", "verify": "failed",
                    "notes": "no scheme carried for this meter"}
        failed = {"outcome": "verify_failed", "scheme": scheme["id"], "verify": "failed"}
        passwords = sorted(scheme.get("passwords", []), key=lambda p: p["level"])
        if not passwords:
            return {**failed, "notes": "the scheme names no password to open the meter"}
        password = passwords[-1]["password"]
        if serial in self.faults.wrong_password:
            password = _garble(password)
        proof: dict[str, Any] = {}
        try:
            built = scheme_from_dict(scheme)
            takes = model_takes_ratios(built.model)
            plan = plan_scheme(built, takes_ratios=takes)
            with client.programming(serial, password) as session:
                try:
                    report = program_scheme(session, plan)
                finally:
                    if takes:
                        proof = _ratios_held(session)
        except PasswordRefused as exc:
            return {"outcome": "password_rejected", "notes": str(exc)}
        except (SchemeEncodingError, MeterRefused, MeterIOError) as exc:
            return {**failed, **proof, "notes": f"programming: {exc}"}
        if not report.verified:
            where = ", ".join(a for a, _, _ in report.mismatches[:5])
            return {**failed, **proof, "notes": f"read-back differs at {where}"}
        return {"outcome": "done", "scheme": scheme["id"], "verify": "ok", **proof}


def read_password(entry: dict[str, Any], scheme: dict[str, Any] | None) -> tuple[str, str]:
    """The password a visit's programming-mode reads open the meter with, and which one
    it is in words (a secret's name, never its value): the entry's opened reading
    password, else the highest of its scheme's, else the default."""
    opened = entry.get("read_password")
    if isinstance(opened, dict) and isinstance(opened.get("password"), str):
        return opened["password"], f"the reading password {opened.get('secret')!s}"
    passwords = sorted((scheme or {}).get("passwords", []), key=lambda p: p["level"])
    if passwords:
        top = passwords[-1]
        return top["password"], f"the scheme's level {top['level']} password {top['secret']}"
    return DEFAULT_READ_PASSWORD, "the default reading password"


def _ratios_held(session: Any) -> dict[str, Any]:
    """``{"ratios": {"ct": ..., "vt": ...}}``: the CT/VT ratios the meter holds as R1
    reads them after programming, the visit's proof of what its registers count (the
    depot calls a value primary on nothing less). Empty when the meter does not answer:
    no proof, and the depot takes the values as secondary."""
    try:
        return {"ratios": {"ct": session.read_value(CT_RATIO),
                           "vt": session.read_value(VT_RATIO)}}
    except (MeterRefused, MeterIOError):
        return {}


def fleet_trip(flash: FlashStore, hhu_id: str, key: bytes, fleet_path: str | os.PathLike[str],
               *, faults: FieldFaults | None = None, state_path: Path | None = None,
               **kwargs: Any) -> TripResult:
    """:func:`run_trip` against a fleet file. Meter state is kept in ``state_path``
    (several HHUs may share one: one fleet, trips in turn), by default in the flash
    folder (each HHU its own copy of the fleet)."""
    state = Path(state_path) if state_path else flash.root / STATE_FILE
    with state_lock(state):
        visitor = FleetVisitor.open(fleet_path, state, faults)
        return run_trip(flash, hhu_id, key, visit=visitor, checkpoint=visitor.save, **kwargs)
