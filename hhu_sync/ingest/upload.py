"""Readings uploads → rows: parse and check a decoded upload, backend-independent.

The store writes the rows in one transaction (:meth:`Store.ingest`); this module only
turns a ``readings`` payload into typed rows. A payload of the wrong shape (not a map, a
field of the wrong type, too many of anything) is refused with :class:`UploadError`
naming the field, so it is never acknowledged and never half-stored. A field of the
right shape but wrong content is a *finding*: the reading is kept, with a status that
is not ``ok`` (or, when the reading itself is bad, only in the exceptions table), so
nothing is lost and nothing wrong is billed.
"""

from __future__ import annotations

import gc
import json
import pickle
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from itertools import chain, repeat
from typing import Any, Literal, NamedTuple, overload

from hhu_sync.errors import HhuSyncError
from hhu_sync.ingest.fields import (
    DEFAULT_LIMITS,
    FORMULA_START,
    MAX_ZONE_OFFSET,
    UNITS,
    Limits,
    Problem,
    canonical_obis,
    canonical_ratio,
    check_meter,
    check_unit,
    check_value,
    fixed_form,
    serial_match,
    text_problem,
    utc_time,
)
from hhu_sync.ingest.flatrows import FlatRows
from hhu_sync.ingest.status import OUTCOME_STATUS, FindingCode, ReadingStatus
from hhu_sync.profile.events import MeterEvent
from hhu_sync.profile.series import ChannelSeries
from hhu_sync.profile.wire import WireError, decode_events, decode_profiles
from hhu_sync.safetext import UNSAFE

#: The readings payload versions this depot reads (docs/upload-format.md): 1 registers
#: only, 2 adds each visit's load profiles and event log, 3 codes a profile run's values
#: as one binary field (byte planes) in place of version 2's array.
UPLOAD_VERSION = 3
OUTCOMES = ("done", "no_access", "not_found", "password_rejected", "verify_failed")
MAX_VISITS = 100_000
#: Upload version 2, in all of an upload's visits (a visit's own bounds are in
#: hhu_sync.profile.wire): three times the bench's route of 200 meters x 4 channels x
#: 35 days at 30 minutes, and a bound on the check's memory (about 50 bytes a value).
MAX_INTERVALS_PER_UPLOAD = 4 * 2**20
MAX_EVENTS_PER_UPLOAD = 2**20
MAX_REGISTERS_PER_VISIT = 10_000
#: Reading-row fields beyond the first eight (see :attr:`Upload.readings`).
VALUE_TIME, RESET_TIME, VISIT_SEQ = 8, 9, 10
#: Hard bounds (a longer field refuses the upload); within them, content is checked.
_TEXT_BOUNDS = {"meter": 256, "list": 256, "time": 256, "scheme": 256, "verify": 64,
                "error_flags": 64, "operator": 1 << 26, "notes": 1 << 26}
#: Free text is the crew's: longer than this is a ``too_long`` finding, kept in full and
#: never a refused upload (which would keep every reading of it from billing, at every
#: docking). The transfer file's own limits bound it in all.
_FREE_TEXT_BOUNDS = {"operator": 256, "notes": 10_000}
_NOTES_BOUND = _FREE_TEXT_BOUNDS["notes"]
_UNITS = UNITS
_OK, _SUSPECT, _REJECTED = (ReadingStatus.OK.value, ReadingStatus.SUSPECT.value,
                            ReadingStatus.REJECTED.value)


#: A UTC time as :func:`utc_time` gives it back, to the second (isoformat's own text).
_KEY_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\+00:00",
                       re.ASCII).fullmatch


class UploadError(ValueError):
    """A readings upload that cannot be ingested; names the visit and field."""


class UploadVersionError(UploadError):
    """A readings payload of a version this depot does not read (``version``)."""

    def __init__(self, message: str, *, version: object, known: int) -> None:
        super().__init__(message)
        self.version = version
        self.known = known


class RefusalReason(StrEnum):
    """Why an upload was refused: the contract (logs, the unload report, the session's
    errors), never the wording."""

    REFUSED = "refused"                      # forged, for someone else, malformed
    VERSION_UNSUPPORTED = "version_unsupported"   # a payload version this depot cannot read
    HELD_OTHERWISE = "held_otherwise"        # its id is held with other content


class UploadRefused(HhuSyncError):
    """An upload the depot will not store (forged, for someone else, malformed, of a
    payload version it does not read, or an id already held with other content): never
    acknowledged, so the HHU keeps it. Here, not in the dock, because the store refuses
    some too. ``reason`` says which, as a code."""

    def __init__(self, message: str, *, reason: RefusalReason = RefusalReason.REFUSED
                 ) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        """Raised in a check worker: it crosses to the daemon with its reason."""
        return (_refused, (str(self), self.reason.value))


def _refused(message: str, reason: str) -> UploadRefused:
    return UploadRefused(message, reason=RefusalReason(reason))


class Visit(NamedTuple):
    """One visit; a NamedTuple because uploads hold many and build them fast."""

    seq: int
    meter: str
    list_id: str
    time: str                 # UTC ISO text when it passed its check, else as received
    outcome: str
    scheme: str | None
    verify: str | None
    error_flags: str | None
    operator: str
    notes: str
    rows: range = range(0)    # this visit's readings: indexes into Upload.readings
    time_ok: bool = True      # the time passed its check (UTC, in the window)
    meter_ok: bool = True     # the serial is one a meter list can hold
    # The CT/VT ratios the meter held when the HHU left it (R1 of 128.11.0/128.11.1,
    # after its programming): canonical JSON {"ct": "400/5", "vt": "11000/110"}, None
    # when the visit sent none or they failed their check. The export's only proof of
    # what a meter's registers count (docs/transfer-format.md).
    ratios: str | None = None
    # Upload version 2, optional: the meter's clock at the visit minus the visit's time,
    # in seconds, from the visit's meter_clock (docs/upload-format.md); None when the
    # visit sent none or its time failed its check. VEE finds a clock off by it.
    clock_offset_s: int | None = None


_visit_of = partial(tuple.__new__, Visit)    # a Visit from its fields, in C
VISIT_WIDTH = len(Visit._fields)
#: Fields of a reading row (see :attr:`Upload.readings`).
READING_WIDTH = 11


class Finding(NamedTuple):
    """A field that failed a check. ``index`` is the reading's, None for a visit field."""

    seq: int
    index: int | None  # type: ignore[assignment]  # shadows tuple.index: the field is the API
    field: str                # e.g. visits[3].registers[1].value
    code: FindingCode
    message: str


@dataclass
class Upload:
    upload_id: str
    hhu_id: str
    sha256: str
    visits: list[Visit]
    # (meter, obis, time, value, unit, status, hhu, upload_id, value_time, reset_time,
    # visit seq as text): the readings table's order. value_time and reset_time are a
    # register's own times (MD time stamp, billing reset; "" for none), in UTC. Rows with
    # status 'rejected' failed a field check; the store keeps them as exceptions only.
    readings: Sequence[tuple[str, ...]] = field(default_factory=list)   # or FlatRows
    findings: list[Finding] = field(default_factory=list)
    not_stored: set[int] = field(default_factory=set)   # indexes not in the readings table
    status_changes: dict[int, str] = field(default_factory=dict)   # set by the store
    version: int = 1                  # the payload's version (docs/upload-format.md)
    # Version 2: (visit seq, one channel's profile) and (visit seq, one logbook entry),
    # in upload order; the visit names the meter.
    profiles: list[tuple[int, ChannelSeries]] = field(default_factory=list)
    events: list[tuple[int, MeterEvent]] = field(default_factory=list)

    def interval_count(self) -> int:
        return sum(series.count() for _, series in self.profiles)

    def __getstate__(self) -> dict[str, Any]:
        """Sent from a check worker to the committer: the readings as one flat list
        (:class:`FlatRows`: pickled by column, and the store inserts from it as it is)
        and the visits by column too (:func:`_visit_columns`: most of a visit's fields
        are the same in every visit of an upload, and go once)."""
        state = dict(self.__dict__)
        rows = self.readings
        if type(rows) is list and rows and set(map(len, rows)) == {READING_WIDTH}:
            state["readings"] = FlatRows(list(chain.from_iterable(rows)), READING_WIDTH)
        visits = self.visits
        if visits:
            state["visits"] = _visit_columns(visits)
        return state

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        """Pickled as one blob of its state, which :func:`_unpickled` loads with the
        cyclic collector paused: an upload is thousands of new containers (its visits,
        its rows' lists) that the collector would otherwise walk, again and again, on the
        daemon's thread that receives every check worker's results (a third of its
        unpickling)."""
        return (_unpickled, (pickle.dumps(self.__getstate__(), pickle.HIGHEST_PROTOCOL),))

    def __setstate__(self, state: dict[str, Any]) -> None:
        visits = state["visits"]
        if type(visits) is dict:
            state["visits"] = _visits_of_columns(visits)
        elif type(visits) is FlatRows:        # an older depot's check worker's
            state["visits"] = list(map(_visit_of, visits))
        self.__dict__.update(state)

    def stored_rows(self, received_at: str,
                    statuses: dict[int, str] | None = None) -> list[tuple]:
        """Rows this upload added, as the nine legacy export columns (with received_at),
        with the status the store committed (``statuses``: index → status, where it
        changed). Only what the handheld sent: exports for billing come from
        :meth:`Store.readings`, which also decides list membership and meter flags."""
        skip = self.not_stored
        changed = self.status_changes if statuses is None else statuses
        out = []
        for i, r in enumerate(self.readings):
            if i in skip or r[5] == _REJECTED:
                continue
            status = changed.get(i)
            out.append((*r[:5], status, r[6], r[7], received_at) if status
                       else (*r[:8], received_at))
        return out


def _unpickled(blob: bytes) -> Upload:
    """The upload :meth:`Upload.__reduce__` pickled, made with the collector paused (as
    :func:`hhu_sync.dock.readings.check_upload` makes it; reference counting frees
    whatever it drops)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        upload = Upload.__new__(Upload)
        upload.__setstate__(pickle.loads(blob))
        return upload
    finally:
        if was_enabled:
            gc.enable()


_ROWS = Visit._fields.index("rows")


def _visit_columns(visits: list[Visit]) -> dict[str, Any]:
    """Visits as they are pickled: a column a field, where a field that is one text,
    flag or None in every visit goes once, and the visits' reading ranges go as their
    starts and stops (whole numbers pickle in a byte or few; a range object is a call
    to make again, each)."""
    n = len(visits)
    columns: list[Any] = list(zip(*visits, strict=True))
    same: dict[int, Any] = {}
    for i, column in enumerate(columns):
        first = column[0]
        if (first is None or type(first) is str or type(first) is bool) \
                and column.count(first) == n:
            same[i] = first
            columns[i] = None
    ranges = columns[_ROWS]
    if ranges is not None and all(type(r) is range for r in ranges):
        columns[_ROWS] = None
        starts, stops, steps = ([r.start for r in ranges], [r.stop for r in ranges],
                                [r.step for r in ranges])
        same[_ROWS] = (starts, stops, None if steps.count(1) == n else steps)
    return {"n": n, "same": same, "columns": columns}


def _visits_of_columns(state: dict[str, Any]) -> list[Visit]:
    """The visits :func:`_visit_columns` gave, as they were."""
    n, same, columns = state["n"], state["same"], list(state["columns"])
    for i, value in same.items():
        if i == _ROWS:
            starts, stops, steps = value
            columns[i] = map(range, starts, stops, *([steps] if steps else []))
        else:
            columns[i] = repeat(value, n)
    return list(map(_visit_of, zip(*columns, strict=True)))


@dataclass
class IngestReport:
    """The unload report a session writes (counts, as readers of READCENTER expect)."""

    upload_id: str
    hhu_id: str
    already_held: bool = False
    visits: int = 0
    readings_stored: int = 0
    readings_already_held: int = 0
    readings_rejected: int = 0       # failed a field check: exceptions only, never billed
    readings_not_billable: int = 0   # stored with a status other than ok
    findings: int = 0                # exceptions written for fields that failed a check
    conflicts: int = 0
    not_on_list: int = 0
    already_read: int = 0
    failed_visits: dict[str, int] = field(default_factory=dict)
    visits_with_notes: int = 0
    lists_touched: list[str] = field(default_factory=list)
    # upload version 2: interval values and logbook entries
    intervals_stored: int = 0
    intervals_already_held: int = 0  # a re-read overlap: the same value held already
    interval_conflicts: int = 0      # another value held: both kept, an exception raised
    vee_findings: int = 0            # validation findings on the intervals (exceptions)
    events_stored: int = 0
    events_already_held: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@overload
def _text(value: Any, seq: int, name: str, optional: Literal[False] = False) -> str: ...
@overload
def _text(value: Any, seq: int, name: str, optional: bool) -> str | None: ...
def _text(value: Any, seq: int, name: str, optional: bool = False) -> str | None:
    """``value`` if it is text within its hard bound; the message is built only on failure."""
    limit = _TEXT_BOUNDS[name]
    if type(value) is str and len(value) <= limit:
        return value
    if value is None and optional:
        return None
    where = f"visits[{seq}].{name}"
    if not isinstance(value, str):
        raise UploadError(f"{where}: expected text, found {type(value).__name__}")
    raise UploadError(f"{where}: longer than {limit} characters")


class _Checker:
    """Field checks for one upload, with the answers for repeated text remembered (a
    visit's registers share one time stamp; a route, a handful of codes and units)."""

    def __init__(self, received_at: datetime, limits: Limits) -> None:
        self.limits = limits
        self.floor = limits.floor
        self.ceiling = received_at + limits.future_tolerance
        self.times: dict[str, str | Problem] = {}
        self.obis: dict[str, str | Problem] = {}
        self.meters: dict[str, Problem | None] = {}
        self.texts: dict[tuple, list[tuple[str, Problem]]] = {}
        self.shared_texts: dict[tuple, list[tuple[str, Problem]]] = {}
        self.own: dict[tuple[str, str], str] = {}
        self.bare: dict[str, Callable[[str], object]] = {}
        # The common case in one regex: a non-negative decimal within the register's
        # digits, with a unit. Anything else takes the checks that name the problem.
        self.plain = re.compile(rf"[0-9]{{1,{limits.integer_digits}}}"
                                rf"(?:\.[0-9]{{1,{limits.decimals}}})?", re.ASCII).fullmatch

    def unitless(self, code: str) -> Callable[[str], object]:
        """What a value without unit must match for register ``code`` to pass
        :func:`check_value` unremarked: its fixed form (flags, an id, the clock), else a
        plain decimal (a signed one takes the full checks)."""
        found = self.bare.get(code)
        if found is None:
            form = fixed_form(code)
            found = self.bare[code] = form.fullmatch if form is not None else self.plain
        return found

    def meter(self, text: str) -> Problem | None:
        if text in self.meters:
            return self.meters[text]
        found = self.meters[text] = check_meter(text)
        return found

    def shared_text_findings(self, texts: tuple) -> list[tuple[str, Problem]]:
        """:meth:`text_findings` of a visit's texts but its notes (which have none)."""
        found = self.shared_texts.get(texts)
        if found is None:
            found = self.shared_texts[texts] = _text_findings((*texts, ""))
        return found

    def text_findings(self, texts: tuple) -> list[tuple[str, Problem]]:
        found = self.texts.get(texts)
        if found is None:
            found = self.texts[texts] = _text_findings(texts)
        return found

    def time(self, text: str) -> str | Problem:
        found = self.times.get(text)
        if found is None:
            found = self.times[text] = self._utc_time(text)
        return found

    def _utc_time(self, text: str) -> str | Problem:
        """:func:`utc_time`; a time already in its key form (UTC, to the second, as HHUs
        write them) and within the window is its own key, without a conversion."""
        if _KEY_FORM(text) is not None:
            try:
                when = datetime.fromisoformat(text)
            except ValueError:
                when = None
            if when is not None and self.floor <= when <= self.ceiling:
                return text
        return utc_time(text, floor=self.floor, ceiling=self.ceiling)

    def off_visit(self, when: str, visit_time: str) -> Problem | None:
        """A problem when a reading's UTC time is further than visit_span from its visit's:
        it was not read on that visit (and must not take a key at another instant)."""
        gap = datetime.fromisoformat(when) - datetime.fromisoformat(visit_time)
        if abs(gap) <= self.limits.visit_span:
            return None
        return Problem(FindingCode.TIME_OFF_VISIT,
                       f"{when} is {_hours(gap)} from its visit ({visit_time}), more than "
                       f"{_hours(self.limits.visit_span)}")

    def own_time(self, text: str, read: str) -> str | None:
        """A register's own time (a demand's stamp, a billing reset) in UTC, as its row
        holds it, when it passes every check :func:`_checked_row` makes of it against
        the read time ``read``; else None, and the full checks name the problem. Resets
        repeat across an upload's meters: each pair is checked once."""
        key = (text, read)
        found = self.own.get(key)
        if found is None:
            when = self.times.get(text) or self.time(text)
            if type(when) is not str or self.after_read(when, read):
                return None
            found = self.own[key] = when
        return found

    def after_read(self, own: str, read: str) -> bool:
        """Whether a register's own UTC time lies after its read time beyond visit_span."""
        return (datetime.fromisoformat(own) - datetime.fromisoformat(read)
                > self.limits.visit_span)

    def code(self, text: str) -> str | Problem:
        found = self.obis.get(text)
        if found is None:
            found = self.obis[text] = canonical_obis(text)
        return found


def _hours(span: timedelta) -> str:
    seconds = abs(span.total_seconds())
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def parse_upload(payload: dict[str, Any], *, upload_id: str, hhu_id: str, sha256: str,
                 received_at: datetime, limits: Limits = DEFAULT_LIMITS,
                 max_version: int = UPLOAD_VERSION) -> Upload:
    """Check a decoded ``readings`` payload and flatten it to rows.

    ``received_at`` (aware) is when the depot took the upload: no time may lie after it
    beyond the clock tolerance. It is passed in, so the same bytes always check the same.
    ``max_version``: the newest payload version to read (a newer one is
    :class:`UploadVersionError`); below :data:`UPLOAD_VERSION` only to act as an older
    depot does.
    """
    if not isinstance(payload, dict):
        raise UploadError("payload: not a map")
    version = payload.get("version", 1)
    if type(version) is not int or not 1 <= version <= min(max_version, UPLOAD_VERSION):
        known = min(max_version, UPLOAD_VERSION)
        raise UploadVersionError(
            f"version: upload version {_shown(version)} is not one this depot reads "
            f"(1 to {known}); left on the HHU", version=version, known=known)
    visits_raw = payload.get("visits")
    if not isinstance(visits_raw, list | tuple):
        raise UploadError("visits: missing or not a list")
    if len(visits_raw) > MAX_VISITS:
        raise UploadError(f"visits: {len(visits_raw)} is more than {MAX_VISITS}")
    check = _Checker(received_at, limits)
    profiles: list[tuple[int, ChannelSeries]] = []
    events: list[tuple[int, MeterEvent]] = []
    totals = [0]                      # intervals so far (bounded per upload)
    visits: list[Visit] = []
    flat: list[str] = []              # the rows' values, row after row (FlatRows)
    findings: list[Finding] = []
    for seq, v in enumerate(visits_raw):
        if type(v) is not dict:
            raise UploadError(f"visits[{seq}]: not a map")
        registers = v.get("registers") or ()
        start = len(flat) // READING_WIDTH
        kind = type(registers)
        visit = _visit(v, seq, check, findings, range(
            start, start + len(registers) if kind is list or kind is tuple else start))
        if (kind is not list and kind is not tuple) or len(registers) > MAX_REGISTERS_PER_VISIT:
            raise UploadError(f"visits[{seq}].registers: not a list of at most "
                              f"{MAX_REGISTERS_PER_VISIT} registers")
        _registers(registers, visit, seq, hhu_id, upload_id, check, flat, findings)
        if "profiles" in v or "events" in v:     # absent, as nil: nothing to check
            _profiles(v, seq, version, profiles, events, totals)
        if "meter_clock" in v:
            visit = visit._replace(clock_offset_s=clock_offset(v["meter_clock"], visit, version))
        visits.append(visit)
    return Upload(upload_id=upload_id, hhu_id=hhu_id, sha256=sha256, visits=visits,
                  readings=FlatRows(flat, READING_WIDTH), findings=findings,
                  version=version, profiles=profiles, events=events)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{type(value).__name__} {text[:32]}…"


def _profiles(v: dict, seq: int, version: int, profiles: list, events: list,
              totals: list[int]) -> None:
    """A visit's profiles and events (versions 2 and 3), checked whole; in version 1 a
    visit that holds them is refused (a version-1 reader would drop them unseen)."""
    raw_profiles, raw_events = v.get("profiles"), v.get("events")
    if version < 2:
        for name, raw in (("profiles", raw_profiles), ("events", raw_events)):
            if raw is not None:
                raise UploadError(f"visits[{seq}].{name}: only upload version 2 and later "
                                  f"carry {name}; this upload says version {version}")
        return
    try:
        if raw_profiles is not None:
            found = decode_profiles(raw_profiles, f"visits[{seq}].profiles", version,
                                    MAX_INTERVALS_PER_UPLOAD - totals[0])
            profiles.extend((seq, series) for series in found)
            totals[0] += sum(series.count() for series in found)
            if totals[0] > MAX_INTERVALS_PER_UPLOAD:
                raise UploadError(f"visits[{seq}].profiles: the upload holds more than "
                                  f"{MAX_INTERVALS_PER_UPLOAD} intervals")
        if raw_events is not None:
            events.extend((seq, event) for event in
                          decode_events(raw_events, f"visits[{seq}].events"))
            if len(events) > MAX_EVENTS_PER_UPLOAD:
                raise UploadError(f"visits[{seq}].events: the upload holds more than "
                                  f"{MAX_EVENTS_PER_UPLOAD} events")
    except WireError as exc:
        raise UploadError(str(exc)) from None


def clock_offset(raw: object, visit: Visit, version: int) -> int | None:
    """A visit's ``meter_clock`` (version 2: the meter's clock as the HHU read it, ISO
    8601 with a zone) minus its time, in whole seconds; None when the visit's time failed
    its check (nothing to measure against). A value of another shape refuses the upload
    naming the field: an HHU that writes it wrong has a bug a clerk cannot mend."""
    where = f"visits[{visit.seq}].meter_clock"
    if version < 2:
        raise UploadError(f"{where}: only upload version 2 and later carry meter_clock; "
                          f"this upload says version {version}")
    if type(raw) is not str or len(raw) > 64:
        raise UploadError(f"{where}: expected ISO 8601 text with a zone, found "
                          f"{_shown(raw)}")
    try:        # printable ASCII: fromisoformat passes a NUL before the zone
        if not (raw[:1].isdigit() and raw.isascii() and raw.isprintable()):
            raise ValueError
        clock = datetime.fromisoformat(raw)
    except ValueError:
        raise UploadError(f"{where}: {_shown(raw)} is not an ISO 8601 time") from None
    offset = clock.utcoffset()
    if offset is None:
        raise UploadError(f"{where}: {_shown(raw)} has no zone (+00:00, Z)")
    if abs(offset) > MAX_ZONE_OFFSET:      # as a visit's time: no zone is that far
        raise UploadError(f"{where}: {_shown(raw)}: no zone is that far from UTC")
    try:
        clock = clock.astimezone(UTC)
    except (OverflowError, ValueError):
        raise UploadError(f"{where}: {_shown(raw)} is out of range") from None
    if not visit.time_ok:
        return None
    return round((clock - datetime.fromisoformat(visit.time)).total_seconds())


def _visit(v: dict, seq: int, check: _Checker, findings: list[Finding],
           rows: range) -> Visit:
    """A visit's fields, checked (its readings will be ``rows``); its findings appended.

    Most visits are text of the right type and size throughout: that is tested in one
    expression, and the findings of its texts are remembered by their values (a route's
    visits share list, operator, flags, mostly notes). Any other visit takes
    :func:`_visit_texts`, which names the field that refuses the upload."""
    get = v.get
    meter, outcome, raw_time = get("meter"), get("outcome"), get("time")
    texts = (get("list", ""), get("scheme"), get("verify"), get("error_flags"),
             get("operator", ""), get("notes", ""))
    list_id, scheme, verify, flags, operator, notes = texts
    if not (type(meter) is str and len(meter) <= 256 and type(outcome) is str
            and outcome in OUTCOMES and type(raw_time) is str and len(raw_time) <= 256
            and type(list_id) is str and len(list_id) <= 256
            and (scheme is None or (type(scheme) is str and len(scheme) <= 256))
            and (verify is None or (type(verify) is str and len(verify) <= 64))
            and (flags is None or (type(flags) is str and len(flags) <= 64))
            and type(operator) is str and len(operator) <= _TEXT_BOUNDS["operator"]
            and type(notes) is str and len(notes) <= _TEXT_BOUNDS["notes"]):
        meter, outcome, raw_time, texts = _visit_texts(v, seq)
        list_id, scheme, verify, flags, operator, notes = texts
    # A route's serials are distinct: tested each, with no cache to fill (a Problem, and
    # its cache, only for one that fails).
    meter_problem = None if serial_match(meter) else check.meter(meter)
    if meter_problem is not None:
        findings.append(Finding(seq, None, f"visits[{seq}].meter", *meter_problem))
    when = check.times.get(raw_time) or check.time(raw_time)
    time_ok = type(when) is str
    if not time_ok:
        findings.append(Finding(seq, None, f"visits[{seq}].time", *when))
    # Notes are mostly each visit's own: one without a finding (printable ASCII, no
    # formula start, within its bound: exactly text_problem's None) leaves the findings
    # those of the other texts, which a route's visits share and are remembered by.
    if not notes or (len(notes) <= _NOTES_BOUND and notes.isascii() and notes.isprintable()
                     and not notes.startswith(FORMULA_START)):
        key = texts[:5]
        found = check.shared_texts.get(key)
        if found is None:
            found = check.shared_text_findings(key)
    else:
        found = check.texts.get(texts)
        if found is None:
            found = check.text_findings(texts)
    for name, problem in found:
        findings.append(Finding(seq, None, f"visits[{seq}].{name}", *problem))
    ratios = get("ratios")
    if ratios is not None:
        ratios = _ratios(ratios, seq, findings)
    return _visit_of((seq, meter, list_id, when if time_ok else raw_time, outcome, scheme,
                      verify, flags, operator, notes, rows, time_ok,
                      meter_problem is None, ratios, None))


#: A visit's text fields in the order they are checked (and their findings listed).
_VISIT_TEXTS = ("list", "scheme", "verify", "error_flags", "operator", "notes")


def _visit_texts(v: dict, seq: int) -> tuple[str, str, str, tuple]:
    """A visit's meter, outcome, time and texts by the field checks one by one, in their
    order: the first of the wrong type or size refuses the upload, named."""
    get = v.get
    meter = _text(get("meter"), seq, "meter")
    outcome = get("outcome")
    if outcome not in OUTCOMES:
        raise UploadError(f"visits[{seq}].outcome: {outcome!r} is not one of "
                          f"{', '.join(OUTCOMES)}")
    texts = (_text(get("list", ""), seq, "list"), _text(get("scheme"), seq, "scheme", True),
             _text(get("verify"), seq, "verify", True),
             _text(get("error_flags"), seq, "error_flags", True),
             _text(get("operator", ""), seq, "operator"), _text(get("notes", ""), seq, "notes"))
    return meter, outcome, _text(get("time"), seq, "time"), texts


#: Whether any of a visit's texts, each after a space, may hold a finding: a control or
#: invisible character, or a formula's first character after a space (at the start of a
#: text, or within one: those visits take the checks that tell). Each branch starts with
#: a character, so the search skips along by character class.
_MAYBE_FINDING = re.compile(
    f"[{UNSAFE}]| [{''.join(map(re.escape, FORMULA_START))}]").search
_SPACED_HEAD = re.compile(f" [{''.join(map(re.escape, FORMULA_START))}]").search


def _text_findings(texts: tuple) -> list[tuple[str, Problem]]:
    """(field, problem) for a visit's texts: control characters or a formula start, and
    free text longer than its bound (kept in full)."""
    if (len(texts[4]) <= _FREE_TEXT_BOUNDS["operator"]
            and len(texts[5]) <= _FREE_TEXT_BOUNDS["notes"]):
        joined = " " + " ".join([text for text in texts if text])
        # most visits: ASCII, whose only unsafe characters are those it cannot print
        if joined.isascii() and joined.isprintable():
            if _SPACED_HEAD(joined) is None:
                return []
        elif _MAYBE_FINDING(joined) is None:  # one search, not one a text
            return []
    found: list[tuple[str, Problem]] = []
    for name, text in zip(_VISIT_TEXTS, texts, strict=True):
        problem = text_problem(text) if text else None
        if problem is not None:
            found.append((name, problem))
        bound = _FREE_TEXT_BOUNDS.get(name)
        if bound is not None and len(text) > bound:
            found.append((name, Problem(FindingCode.TOO_LONG,
                                        f"{len(text)} characters, more than {bound}: "
                                        "kept in full")))
    return found


RATIO_KEYS = ("ct", "vt")


def _ratios(value: Any, seq: int, found: list[Finding]) -> str | None:
    """A visit's ``ratios`` as canonical JSON; None when absent or not evidence.

    The wrong shape (not a map of ``ct`` and ``vt`` text) refuses the upload, as every
    field's does; a ratio that is no ``PRIMARY/SECONDARY`` is a ``bad_ratio`` finding
    and the visit counts as one without evidence (its readings are not called primary).
    """
    if value is None:
        return None
    where = f"visits[{seq}].ratios"
    if type(value) is not dict or set(value) != set(RATIO_KEYS):
        raise UploadError(f"{where}: expected a map of {' and '.join(RATIO_KEYS)} or nil")
    out: dict[str, str] = {}
    for key in RATIO_KEYS:
        text = value[key]
        if type(text) is not str or len(text) > 64:
            raise UploadError(f"{where}.{key}: expected text of at most 64 characters")
        ratio = canonical_ratio(text)
        if isinstance(ratio, Problem):
            found.append(Finding(seq, None, f"{where}.{key}", *ratio))
            return None
        out[key] = ratio
    return json.dumps(out, sort_keys=True)


def _registers(registers: list | tuple, visit: Visit, seq: int, hhu_id: str, upload_id: str,
               check: _Checker, flat: list, findings: list[Finding]) -> None:
    """Append a visit's readings to ``flat`` (one row after another, each of
    :data:`READING_WIDTH` values, no tuple kept a reading): canonical key fields and a
    status.

    The loop is the hot path of an ingest (a million readings a bench run): what most
    readings are (known code and time, a plain number with a unit, own times that pass
    their checks) is decided inline; the rest goes to :func:`_checked_row`, which names
    every problem."""
    meter = visit.meter
    if visit.outcome != "done":
        base = OUTCOME_STATUS[visit.outcome].value
    elif not visit.time_ok:
        base = _SUSPECT
    else:
        base = _OK
    fast = visit.meter_ok
    vseq = str(seq)
    plain, obis_of, time_of, units = check.plain, check.obis.get, check.times.get, _UNITS
    at = visit.time                   # UTC text: a reading stamped with it needs no more
    extend = flat.extend
    first = len(flat) // READING_WIDTH    # the index of this visit's first reading
    for n, r in enumerate(registers):
        kind = type(r)
        if (kind is tuple or kind is list) and len(r) == 4:   # the common form, first
            obis, value, unit, rtime = r
            if (type(obis) is str and type(value) is str and type(unit) is str
                    and type(rtime) is str):
                code = obis_of(obis) or check.code(obis)
                when = time_of(rtime) or check.time(rtime)
                if fast and when == at and type(code) is str and unit in units \
                        and (plain(value) if unit else check.unitless(code)(value)):
                    extend((meter, code, when, value, unit, base, hhu_id, upload_id, "", "",
                            vseq))
                else:
                    extend(_checked_row(visit, seq, n, first + n, obis, code, rtime, when,
                                        value, unit, "", "", base, hhu_id, upload_id, check,
                                        findings))
                continue
        vtime = rstime = ""
        if kind is tuple or kind is list:                     # [obis, value, unit, time]
            size = len(r)
            if size == 4:
                obis, value, unit, rtime = r
            elif 4 < size <= 6:                               # ... value_time, reset_time
                obis, value, unit, rtime, vtime, rstime = (*r, "")[:6]
            else:
                raise UploadError(f"visits[{seq}].registers[{n}]: expected [obis, value, "
                                  "unit, time] (then value_time, reset_time)")
        elif kind is dict:                                    # the map form, also accepted
            try:
                obis, value, unit, rtime = r["obis"], r["value"], r.get("unit", ""), r["time"]
            except KeyError as exc:
                raise UploadError(f"visits[{seq}].registers[{n}]: missing {exc.args[0]!r}"
                                  ) from None
            vtime, rstime = r.get("value_time", ""), r.get("reset_time", "")
        else:
            raise UploadError(f"visits[{seq}].registers[{n}]: expected [obis, value, unit, "
                              "time]")
        if not (type(obis) is str and type(value) is str and type(unit) is str
                and type(rtime) is str and type(vtime) is str and type(rstime) is str):
            raise UploadError(f"reading {first + n} (meter {meter!r}): obis, value, unit and "
                              "times must be text")
        code = obis_of(obis) or check.code(obis)
        when = time_of(rtime) or check.time(rtime)
        if fast and type(code) is str and when == at and unit in units \
                and (plain(value) if unit else check.unitless(code)(value)):
            # a demand's stamp, a billing reset: a real readout's every other register
            own_value = check.own_time(vtime, at) if vtime else ""
            own_reset = check.own_time(rstime, at) if rstime else ""
            if own_value is not None and own_reset is not None:
                extend((meter, code, when, value, unit, base, hhu_id, upload_id, own_value,
                        own_reset, vseq))
                continue
        extend(_checked_row(visit, seq, n, first + n, obis, code, rtime, when, value, unit,
                            vtime, rstime, base, hhu_id, upload_id, check, findings))


def _checked_row(visit: Visit, seq: int, n: int, index: int, obis: str, code: str | Problem,
                 rtime: str, when: str | Problem, value: str, unit: str, vtime: str,
                 rstime: str, base: str, hhu_id: str, upload_id: str, check: _Checker,
                 findings: list[Finding]) -> tuple:
    """One reading by the full checks: its row, and a finding for each field that fails."""
    problems: list[tuple[str, Problem]] = []
    if not visit.meter_ok:
        problems.append(("meter", Problem(FindingCode.BAD_METER,
                                          "visit meter serial is not valid")))
    if isinstance(code, Problem):
        problems.append(("obis", code))
        code = obis
    read_ok = not isinstance(when, Problem)
    if isinstance(when, Problem):
        problems.append(("time", when))
        when = rtime
    elif visit.time_ok and when != visit.time:
        off = check.off_visit(when, visit.time)
        if off is not None:
            problems.append(("time", off))
    unit_problem = check_unit(unit)
    if unit_problem is not None:
        problems.append(("unit", unit_problem))
    value_problem = check_value(value, unit, code, check.limits)
    if value_problem is not None:
        problems.append(("value", value_problem))
    # A register's own times take the reading time's checks (zone, UTC, the window, not
    # after the upload was received): a bad one makes the reading an exception too.
    own: list[str] = []
    for name, text in (("value_time", vtime), ("reset_time", rstime)):
        found = check.time(text) if text else ""
        if isinstance(found, Problem):
            problems.append((name, found))
            found = text
        elif found and read_ok and check.after_read(found, when):
            # a demand's stamp or a billing reset comes before the register is read
            problems.append((name, Problem(
                FindingCode.TIME_OFF_VISIT, f"{found} is after the register was read "
                f"({when}) by more than {_hours(check.limits.visit_span)}")))
        own.append(found)
    where = f"visits[{seq}].registers[{n}]"
    for name, problem in problems:
        findings.append(Finding(seq, index, f"{where}.{name}", *problem))
    status = _REJECTED if problems else base
    return (visit.meter, code, when, value, unit, status, hhu_id, upload_id, own[0], own[1],
            str(seq))
