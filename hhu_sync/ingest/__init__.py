"""Readings uploads → rows: parse and check a decoded upload, backend-independent.

The store writes the rows in one transaction (:meth:`Store.ingest`); this module only
turns a ``readings`` payload into typed rows, refusing what is malformed with the field
named, so a bad upload is never acknowledged and never half-stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any, NamedTuple

from hhu_sync.ingest.register_times import (
    RegisterTimeError,
    normalise_register_times,
    timed_register_rows,
)

OUTCOMES = ("done", "no_access", "not_found", "password_rejected", "verify_failed")
MAX_VISITS = 100_000
MAX_REGISTERS_PER_VISIT = 10_000


class UploadError(ValueError):
    """A readings upload that cannot be ingested; names the visit and field."""


class Visit(NamedTuple):
    """One visit; a NamedTuple because uploads hold many and build them fast."""

    seq: int
    meter: str
    list_id: str
    time: str
    outcome: str
    scheme: str | None
    verify: str | None
    error_flags: str | None
    operator: str
    notes: str


@dataclass
class Upload:
    upload_id: str
    hhu_id: str
    sha256: str
    visits: list[Visit]
    # (meter, obis, time, value, unit, status, hhu, upload_id, value_time, reset_time,
    # visit seq as text): the readings table's order (see hhu_sync.ingest.register_times)
    readings: list[tuple[str, ...]] = field(default_factory=list)
    not_stored: set[int] = field(default_factory=set)   # indexes the store already held

    def stored_rows(self, received_at: str) -> list[tuple]:
        """Rows this upload added, as the nine legacy export columns (with received_at).

        Exports for billing come from :meth:`Store.readings`, which decides the status
        against the meter list; these rows only say what the handheld sent."""
        skip = self.not_stored
        return [(*r[:8], received_at) for i, r in enumerate(self.readings) if i not in skip]


@dataclass
class IngestReport:
    """The unload report a session writes (counts, as readers of READCENTER expect)."""

    upload_id: str
    hhu_id: str
    already_held: bool = False
    visits: int = 0
    readings_stored: int = 0
    readings_already_held: int = 0
    conflicts: int = 0
    not_on_list: int = 0
    already_read: int = 0
    failed_visits: dict[str, int] = field(default_factory=dict)
    visits_with_notes: int = 0
    lists_touched: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _text(value: Any, seq: int, name: str, limit: int, optional: bool = False) -> str | None:
    """``value`` if it is text within ``limit``; the message is built only on failure."""
    if type(value) is str and len(value) <= limit:
        return value
    if value is None and optional:
        return None
    where = f"visits[{seq}].{name}"
    if not isinstance(value, str):
        raise UploadError(f"{where}: expected text, found {type(value).__name__}")
    raise UploadError(f"{where}: longer than {limit} characters")


def parse_upload(payload: dict[str, Any], *, upload_id: str, hhu_id: str,
                 sha256: str) -> Upload:
    """Check a decoded ``readings`` payload and flatten it to rows."""
    visits_raw = payload.get("visits")
    if not isinstance(visits_raw, list | tuple):
        raise UploadError("visits: missing or not a list")
    if len(visits_raw) > MAX_VISITS:
        raise UploadError(f"visits: {len(visits_raw)} is more than {MAX_VISITS}")
    visits: list[Visit] = []
    rows: list[tuple[str, ...]] = []
    for seq, v in enumerate(visits_raw):
        if type(v) is not dict:
            raise UploadError(f"visits[{seq}]: not a map")
        get = v.get
        meter = _text(get("meter"), seq, "meter", 32)
        outcome = get("outcome")
        if outcome not in OUTCOMES:
            raise UploadError(f"visits[{seq}].outcome: {outcome!r} is not one of "
                              f"{', '.join(OUTCOMES)}")
        visits.append(Visit(
            seq, meter, _text(get("list", ""), seq, "list", 64),
            _text(get("time"), seq, "time", 40), outcome,
            _text(get("scheme"), seq, "scheme", 64, True),
            _text(get("verify"), seq, "verify", 16, True),
            _text(get("error_flags"), seq, "error_flags", 32, True),
            _text(get("operator", ""), seq, "operator", 64),
            _text(get("notes", ""), seq, "notes", 2000),
        ))
        registers = v.get("registers") or []
        if type(registers) not in (list, tuple) or len(registers) > MAX_REGISTERS_PER_VISIT:
            raise UploadError(f"visits[{seq}].registers: not a list of at most "
                              f"{MAX_REGISTERS_PER_VISIT} registers")
        status = "ok" if outcome == "done" else outcome
        vseq = str(seq)
        try:
            if registers and type(registers[0]) is dict:      # the map form, also accepted
                rows.extend([(meter, r["obis"], r["time"], r["value"], r.get("unit", ""),
                              status, hhu_id, upload_id, r.get("value_time", ""),
                              r.get("reset_time", ""), vseq) for r in registers])
            else:                                             # [obis, value, unit, time]
                try:
                    rows.extend([(meter, obis, rtime, value, unit, status, hhu_id, upload_id,
                                  "", "", vseq) for obis, value, unit, rtime in registers])
                except ValueError:                            # ... with its own times
                    rows.extend(timed_register_rows(registers, meter, status, hhu_id,
                                                    upload_id, vseq))
        except (TypeError, KeyError, AttributeError, ValueError):
            _name_bad_register(registers, f"visits[{seq}]")
    try:
        # Every field is text: str.join checks that at C speed and names nothing...
        "".join(chain.from_iterable(rows))
    except TypeError:
        # ...so on failure, find the culprit the slow way, to name it.
        for n, row in enumerate(rows):
            if not all(type(x) is str for x in row):
                raise UploadError(f"reading {n} (meter {row[0]!r}): obis, value, unit and "
                                  "times must be text") from None
    try:
        rows = normalise_register_times(rows)
    except RegisterTimeError as exc:
        raise UploadError(str(exc)) from None
    return Upload(upload_id=upload_id, hhu_id=hhu_id, sha256=sha256, visits=visits,
                  readings=rows)


def _name_bad_register(registers: list, where: str) -> None:
    for n, r in enumerate(registers):
        if isinstance(r, dict):
            for key in ("obis", "time", "value"):
                if key not in r:
                    raise UploadError(f"{where}.registers[{n}]: missing {key!r}")
        elif not isinstance(r, list | tuple) or not 4 <= len(r) <= 6:
            raise UploadError(f"{where}.registers[{n}]: expected [obis, value, unit, time] "
                              "(then value_time, reset_time)")
    raise UploadError(f"{where}.registers: malformed")
