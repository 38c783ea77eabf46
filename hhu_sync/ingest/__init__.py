"""Readings uploads → rows: parse and check a decoded upload, backend-independent.

The store writes the rows in one transaction (:meth:`Store.ingest`); this module only
turns a ``readings`` payload into typed rows, refusing what is malformed with the field
named, so a bad upload is never acknowledged and never half-stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OUTCOMES = ("done", "no_access", "not_found", "password_rejected", "verify_failed")
MAX_VISITS = 100_000
MAX_REGISTERS_PER_VISIT = 10_000


class UploadError(ValueError):
    """A readings upload that cannot be ingested; names the visit and field."""


@dataclass(frozen=True)
class Visit:
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
    # (meter, obis, time, value, unit, status, hhu, upload_id): the readings table's order
    readings: list[tuple[str, str, str, str, str, str, str, str]] = field(default_factory=list)
    not_stored: set[int] = field(default_factory=set)   # indexes the store already held

    def stored_rows(self, received_at: str) -> list[tuple]:
        """Rows this upload added, in the export column order (with received_at)."""
        skip = self.not_stored
        return [(*r, received_at) for i, r in enumerate(self.readings) if i not in skip]


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


def _text(value: Any, where: str, *, optional: bool = False, limit: int = 512) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise UploadError(f"{where}: expected text, found {type(value).__name__}")
    if len(value) > limit:
        raise UploadError(f"{where}: longer than {limit} characters")
    return value


def parse_upload(payload: dict[str, Any], *, upload_id: str, hhu_id: str,
                 sha256: str) -> Upload:
    """Check a decoded ``readings`` payload and flatten it to rows."""
    visits_raw = payload.get("visits")
    if not isinstance(visits_raw, list):
        raise UploadError("visits: missing or not a list")
    if len(visits_raw) > MAX_VISITS:
        raise UploadError(f"visits: {len(visits_raw)} is more than {MAX_VISITS}")
    visits: list[Visit] = []
    rows: list[tuple[str, str, str, str, str, str, str, str]] = []
    append = rows.append
    for seq, v in enumerate(visits_raw):
        where = f"visits[{seq}]"
        if not isinstance(v, dict):
            raise UploadError(f"{where}: not a map")
        meter = _text(v.get("meter"), f"{where}.meter", limit=32)
        outcome = v.get("outcome")
        if outcome not in OUTCOMES:
            raise UploadError(f"{where}.outcome: {outcome!r} is not one of {', '.join(OUTCOMES)}")
        vtime = _text(v.get("time"), f"{where}.time", limit=40)
        visits.append(Visit(
            seq=seq, meter=meter, list_id=_text(v.get("list", ""), f"{where}.list", limit=64),
            time=vtime, outcome=outcome,
            scheme=_text(v.get("scheme"), f"{where}.scheme", optional=True, limit=64),
            verify=_text(v.get("verify"), f"{where}.verify", optional=True, limit=16),
            error_flags=_text(v.get("error_flags"), f"{where}.error_flags", optional=True,
                              limit=32),
            operator=_text(v.get("operator", ""), f"{where}.operator", limit=64),
            notes=_text(v.get("notes", ""), f"{where}.notes", limit=2000),
        ))
        registers = v.get("registers") or []
        if not isinstance(registers, list) or len(registers) > MAX_REGISTERS_PER_VISIT:
            raise UploadError(f"{where}.registers: not a list of at most "
                              f"{MAX_REGISTERS_PER_VISIT} registers")
        status = "ok" if outcome == "done" else outcome
        for n, r in enumerate(registers):
            try:
                obis, value, unit, rtime = r["obis"], r["value"], r.get("unit", ""), r["time"]
            except (TypeError, KeyError) as exc:
                raise UploadError(f"{where}.registers[{n}]: missing {exc}") from None
            if not (type(obis) is str and type(value) is str and type(unit) is str
                    and type(rtime) is str):
                raise UploadError(f"{where}.registers[{n}]: obis, value, unit and time "
                                  "must be text")
            append((meter, obis, rtime, value, unit, status, hhu_id, upload_id))
    return Upload(upload_id=upload_id, hhu_id=hhu_id, sha256=sha256, visits=visits,
                  readings=rows)
