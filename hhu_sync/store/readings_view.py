"""The readings part of the store contract the web app reads: meters found by serial,
site or list, a meter's registers, its readings one register at a time, its visits.

Every call is bounded (a page, a limit) and answered from an index (for SQLite the
readings primary key (meter, obis, time), never a scan of every reading); paging is by
keyset, so a page costs the same however deep it is. How pages join up (a meter's
history across its registers) is decided above the backend, in
:mod:`hhu_sync.web.readings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

MAX_PAGE = 500          # the most rows any one call answers


@dataclass(frozen=True)
class MeterSummary:
    """A meter as a search finds it: its site (from the newest list naming it), how many
    readings the depot holds of it and the time of the latest."""

    serial: str
    site: str
    readings: int
    latest: str | None


@dataclass(frozen=True)
class RegisterSummary:
    """One register of a meter: how many readings, the first and latest, and the
    latest's value, unit and status."""

    obis: str
    readings: int
    first: str
    latest: str
    value: str
    unit: str
    status: str


@dataclass(frozen=True)
class ReadingRow:
    """A reading with what the export says of it (docs/exports.md, the same rules, so
    the screen and the billing file agree): ``value_basis`` ``primary``, ``secondary``
    or ``unknown`` (empty for a register no transformer scales), ``multiplier`` the CT x
    VT ratio of ``scheme``, ``value_primary`` the value x multiplier when secondary (the
    value when primary, empty when unknown)."""

    obis: str
    time: str
    value: str          # as the meter gave it: text, a number only where it is one
    unit: str
    status: str         # hhu_sync.ingest.ReadingStatus
    upload_id: str
    hhu: str
    multiplier: str = ""
    value_basis: str = ""
    value_primary: str = ""
    scheme: str = ""


@dataclass(frozen=True)
class MeterVisit:
    time: str
    list_id: str
    outcome: str
    notes: str
    operator: str
    hhu: str
    upload_id: str


@dataclass(frozen=True)
class MeterPlace:
    """A meter's entry on one list: where the list says it is."""

    list_id: str
    list_name: str
    site: str
    due: str
    state: str


class ReadingsView(Protocol):
    def find_meters(self, *, prefix: str = "", site: str | None = None,
                    list_id: str | None = None, after: str | None = None,
                    limit: int = 50) -> list[MeterSummary]:
        """Meters by serial, ascending, after ``after`` (a serial): those whose serial
        starts with ``prefix``; with ``site``, those a list places at a site starting
        with it (ignoring case); with ``list_id``, that list's meters. Without a list
        or site: every meter with readings or visits."""
        ...

    def meter_places(self, serial: str, limit: int = 100) -> list[MeterPlace]:
        """The lists naming the meter, newest first."""
        ...

    def meter_registers(self, serial: str, limit: int = MAX_PAGE) -> list[RegisterSummary]:
        """The meter's registers, by OBIS code."""
        ...

    def register_readings(self, serial: str, obis: str, *, before: str | None = None,
                          limit: int = 50, catalog: str | Path | None = None
                          ) -> list[ReadingRow]:
        """One register's readings, newest first, older than ``before`` (a time), each
        with its value basis as the export decides it (``catalog``: the configured
        meter-model catalog, which says what models take ratios; None: the default)."""
        ...

    def registers_readings(self, serial: str, wanted: list[tuple[str, int]], *,
                           catalog: str | Path | None = None) -> list[list[ReadingRow]]:
        """For each ``(obis, limit)`` the register's newest readings, as
        :meth:`register_readings` gives them; in one go (the meter's lists, schemes and
        visits read once, not once a register)."""
        ...

    def meter_visits(self, serial: str, limit: int = 100) -> list[MeterVisit]:
        """The meter's visits, newest first, with the HHU that uploaded each."""
        ...
