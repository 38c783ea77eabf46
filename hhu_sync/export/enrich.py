"""From a stored reading to an export row: status, site, rate name, multiplier.

The store hands over each reading joined with its visit and its list entry
(:class:`StoredReading`); :class:`Enricher` adds what billing needs and decides the
status. A reading is exported ``ok`` only when the store says ``ok``, its visit names a
meter list that is held and has the meter on it, and the meter reported no error flag.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, NamedTuple

from hhu_sync.export.cells import is_plain_number
from hhu_sync.export.flags import flag_status
from hhu_sync.export.rows import STATUS_OK, ExportRow
from hhu_sync.iec62056.datasets import Obis
from hhu_sync.ingest.status import ReadingStatus
from hhu_sync.model.catalog import model_takes_ratios
from hhu_sync.model.meterlist import EntryBilling, MeterEntry, MeterList
from hhu_sync.model.scheme import Scheme

#: Status codes the export checks again for a reading the store holds as ``ok`` (rows
#: stored before ingest checked lists, or a list removed since): docs/exports.md.
NO_LIST = ReadingStatus.NO_LIST.value
UNKNOWN_LIST = ReadingStatus.UNKNOWN_LIST.value
NOT_ON_LIST = ReadingStatus.NOT_ON_LIST.value
BASIS_PRIMARY, BASIS_SECONDARY, BASIS_UNKNOWN = "primary", "secondary", "unknown"
#: Units of quantities a current or voltage transformer scales (lower case).
SCALED_UNITS = frozenset({"wh", "kwh", "mwh", "w", "kw", "mw", "varh", "kvarh", "mvarh",
                          "var", "kvar", "mvar", "vah", "kvah", "mvah", "va", "kva", "mva"})


class StoredReading(NamedTuple):
    """A reading as the store joins it: the reading, its upload, visit and list entry."""

    meter: str
    obis: str
    time: str
    value: str
    unit: str
    status: str
    hhu: str
    upload_id: str
    received_at: str
    value_time: str
    reset_time: str
    list_id: str | None       # None: no visit row found for the reading
    visit_time: str | None
    notes: str | None
    error_flags: str | None
    list_held: int
    on_list: int
    accepted: int = 0         # a clerk accepted it (an exception): its list is not checked


_UNSET: Any = object()      # a visit's ratio basis not worked out yet


#: An ExportRow or StoredReading from a tuple of all its fields, made in C (the classes'
#: own constructors are Python functions: a call a reading).
_export_row = partial(tuple.__new__, ExportRow)
stored_reading = partial(tuple.__new__, StoredReading)


def _utc(text: str | None) -> datetime | None:
    """A zoned time in UTC; None without a zone, or for one no datetime holds in UTC (a
    visit stored as sent, timed 9999-12-31T23:59:59-23:59)."""
    try:
        when = datetime.fromisoformat(text or "")
        return when.astimezone(UTC) if when.tzinfo is not None else None
    except (OverflowError, ValueError):
        return None


def register_of(obis: str) -> str:
    """``1.8.1`` for ``1.8.1``, ``1-0:1.8.1*255`` and ``1.8.1*3``: the rate's register."""
    try:
        return Obis.parse(obis).current
    except ValueError:
        return obis


def multiplier_of(scheme: Scheme) -> Decimal:
    """CT ratio x VT ratio (primary / secondary of each); 1 without transformers."""
    out = Decimal(1)
    for ratio in (scheme.ct_ratio, scheme.vt_ratio):
        if ratio:
            out *= Decimal(str(ratio[0])) / Decimal(str(ratio[1]))
    return out


def held_factor(ratios: str | None) -> Decimal | None:
    """CT x VT of a visit's ratio evidence (JSON ``{"ct": "400/5", "vt": "11000/110"}``
    as ingest stores it); None when there is none or it cannot be read."""
    if not ratios:
        return None
    try:
        held = json.loads(ratios)
        out = Decimal(1)
        for key in ("ct", "vt"):
            primary, secondary = (Decimal(x) for x in held[key].split("/"))
            out *= primary / secondary
    except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError):
        return None
    return out if out.is_finite() and out > 0 else None


def ratios_agree(scheme: Scheme, ratios: str | None) -> bool | None:
    """Whether the meter holds the scheme's ratios (as CT x VT: the factor its registers
    apply), None without readable evidence or a readable scheme ratio."""
    held = held_factor(ratios)
    if held is None:
        return None
    try:
        return held == multiplier_of(scheme)
    except (ArithmeticError, ValueError):
        return None


def _entries_of(mlist: MeterList | None) -> dict[str, MeterEntry]:
    """A list's entries by serial (the last of a serial), none for no list."""
    return {m.serial: m for m in mlist.meters} if mlist else {}


def _primary(value: str, scale: Decimal) -> str:
    """A register's primary value (its value times the scheme's ratios), '' for a value
    that is not a plain number."""
    if not is_plain_number(value):
        return ""
    try:
        return format(Decimal(value) * scale, "f")
    except InvalidOperation:
        return ""


def _text(number: Decimal) -> str:
    """``8000`` for 8E+3 or 8000.00: plain digits, no exponent, no trailing zeros."""
    return format(number.normalize(), "f")


class Enricher:
    """Adds site, rate, multiplier and status; caches lists and schemes it has read.

    ``programmed(meter)`` lists ``(visit time, scheme id)`` of visits that programmed and
    verified a scheme into the meter: the scheme in force for a reading is the last one
    programmed before the reading's visit (its registers were read before any new
    programming), else the one the list entry names for the meter.

    ``held(meter)`` lists ``(visit time, programmed, ratios)`` of visits that read the
    meter's CT/VT ratio registers: the proof of what its registers count. ``ratios`` is
    what the meter held when the HHU left it, so a visit that programmed (``programmed``)
    tells about later visits only (its own registers were read first); one that
    programmed nothing also tells about its own readings. A reading's value is
    ``primary`` only when the latest such proof at or before its readout shows the
    scheme's ratios in a meter whose model takes them (``takes_ratios(model)``, default:
    the default catalog's flag; the store passes the configured catalog's); a visit that
    programmed without recording the ratios proves nothing (an HHU before issue 12, or one
    that does not write them, left the meter counting secondary values).
    """

    def __init__(self, meter_list: Callable[[str], MeterList | None],
                 scheme: Callable[[str], Scheme | None],
                 programmed: Callable[[str], list[tuple[str, str]]],
                 takes_ratios: Callable[[str], bool] = model_takes_ratios,
                 held: Callable[[str], list[tuple[str, bool, str]]] = lambda _m: [],
                 entries: Callable[[str], Any] | None = None) -> None:
        #: a list's entries by serial (anything with ``get``): ``entries``, the same
        #: entries as ``meter_list``'s without the list made whole, or from it
        self._entries: Callable[[str], Any] = entries or (
            lambda list_id: _entries_of(meter_list(list_id)))
        self._scheme = scheme
        self._programmed = programmed
        self._takes_ratios = takes_ratios
        self._held = held
        self._evidence: list[tuple[datetime, bool, str]] = []
        self._in_meter: str | None = None   # ratio proof for the reading, if any
        self._lists: dict[str, Any] = {}      # list id → its entries by serial
        self._schemes: dict[str, Scheme | None] = {}
        self._rates: dict[str, dict[str, str]] = {}
        self._meter: str | None = None
        self._history: list[tuple[datetime, str]] = []
        self._visits_of: str | None = None  # the meter whose visits are remembered
        self._visits: dict[tuple, list] = {}
        self._registers: dict[str, str] = {}
        self._scaled_units: dict[str, bool] = {}
        self._ok_statuses: dict[tuple, str] = {}
        self._ok_pairs: dict[tuple, tuple[str, str]] = {}   # (plain, accepted) ok statuses

    def _entry(self, list_id: str | None, meter: str) -> MeterEntry | EntryBilling | None:
        if not list_id:
            return None
        entries = self._lists.get(list_id)
        if entries is None:
            entries = self._lists[list_id] = self._entries(list_id)
        return entries.get(meter)

    def _get_scheme(self, scheme_id: str | None) -> Scheme | None:
        if not scheme_id:
            return None
        if scheme_id not in self._schemes:
            self._schemes[scheme_id] = self._scheme(scheme_id)
        return self._schemes[scheme_id]

    def _scheme_in_force(self, meter: str, visit_time: str | None,
                         entry: MeterEntry | EntryBilling | None) -> Scheme | None:
        if meter != self._meter:          # rows come ordered by meter: one meter cached
            self._meter = meter
            schemes, proofs = self._programmed(meter), self._held(meter)
            self._history = sorted((when, sid) for when, sid in
                                   ((_utc(t), sid) for t, sid in schemes)
                                   if when is not None) if schemes else []
            self._evidence = sorted((when, bool(p), r) for when, p, r in
                                    ((_utc(t), p, r) for t, p, r in proofs)
                                    if when is not None) if proofs else []
        chosen = None
        visited = _utc(visit_time) if self._history or self._evidence else None
        if visited is not None:
            for when, sid in self._history:
                if when < visited:
                    chosen = sid
        self._in_meter = None
        if visited is not None:
            for when, programmed, ratios in self._evidence:
                if when < visited or (when == visited and not programmed):
                    self._in_meter = ratios       # the latest proof before the readout
        if chosen is None and entry is not None:
            chosen = entry.scheme
        return self._get_scheme(chosen)

    def _rate_names(self, scheme: Scheme) -> dict[str, str]:
        names = self._rates.get(scheme.id)
        if names is None:
            names = {}
            for rate in scheme.rates:
                for register in rate.registers:
                    names.setdefault(register_of(register), rate.name)
            self._rates[scheme.id] = names
        return names

    @staticmethod
    def status(r: StoredReading) -> str:
        """The export status: the store's when not ok, else why it is not, else flags."""
        if r.status != STATUS_OK:
            return r.status
        if not r.accepted:
            if not r.list_id:
                return NO_LIST
            if not r.list_held:
                return UNKNOWN_LIST
            if not r.on_list:
                return NOT_ON_LIST
        return flag_status(r.error_flags) or STATUS_OK

    def __call__(self, r: StoredReading) -> ExportRow:
        return self.rows((r,))[0]

    def rows(self, readings: Iterable[tuple]) -> list[ExportRow]:
        """``[self(r) for r in readings]`` (each a :class:`StoredReading` or a tuple of its
        fields), in one loop: the export's path, a reading at a time. What a reading's
        visit decides (list entry, scheme in force, its rate names, the ratio proof) is
        worked out once a visit (:meth:`_visit`): its registers share it."""
        out: list[ExportRow] = []
        append = out.append
        visits = self._visits
        register_of_obis = self._register     # a rate's register, and scaled units:
        is_scaled = self._is_scaled           # each worked out once a code or unit
        ok_statuses = self._ok_statuses
        current = self._visits_of
        make = _export_row
        ok = STATUS_OK
        for (meter, obis, time, value, unit, status, hhu, upload_id, received_at,
             value_time, reset_time, list_id, visit_time, notes, error_flags, list_held,
             on_list, accepted) in readings:
            if meter != current:
                current = self._visits_of = meter
                visits.clear()
            visit = visits.get((visit_time, list_id, on_list))
            if visit is None:
                visit = self._visit(meter, visit_time, list_id, on_list)
            scheme, rates, basis, site, scheme_id, proof = visit
            rate = "" if rates is None else rates.get(register_of_obis(obis), "")
            multiplier = value_basis = primary = ""
            if is_scaled(unit):
                if scheme is None:
                    value_basis = BASIS_UNKNOWN
                else:
                    if basis is _UNSET:
                        basis = visit[2] = self._basis(scheme, proof)
                    multiplier, value_basis, primary = self._scaled(scheme, value, basis)
            if status == ok:
                found = ok_statuses.get((list_id, list_held, on_list, error_flags, accepted))
                status = found if found is not None else self._status_ok(
                    list_id, list_held, on_list, error_flags, accepted)
            append(make((
                meter, obis, time, value, unit, status, hhu, upload_id, received_at, site,
                list_id or "", rate, value_time, reset_time, multiplier, value_basis,
                primary, scheme_id, error_flags or "", notes or "")))
        return out

    def _visit(self, meter: str, visit_time: str | None, list_id: str | None,
               on_list: int) -> list:
        """What one visit of ``meter`` decides, remembered for its other registers:
        [scheme in force, its rate names, ratio basis (worked out at the first scaled
        value), site, scheme id, the ratio proof before its readout]. The proof is this
        visit's, kept with it: the basis is worked out later, when another visit of the
        meter may have been looked at meanwhile (rows in register order interleave a
        meter's visits)."""
        visit = self._visits[(visit_time, list_id, on_list)] = self._decided(
            meter, visit_time, list_id, on_list)
        return visit

    def _decided(self, meter: str, visit_time: str | None, list_id: str | None,
                 on_list: int) -> list:
        """:meth:`_visit`'s list, not remembered."""
        entry = self._entry(list_id, meter) if on_list else None
        scheme = self._scheme_in_force(meter, visit_time, entry)
        return [scheme, self._rate_names(scheme) if scheme else None, _UNSET,
                (entry.site or "") if entry else "", scheme.id if scheme else "",
                self._in_meter]

    def upload_rows(self, readings: Iterable[tuple], upload_id: str, received_at: str,
                    visit_of: Callable[[Any, str], tuple]) -> list[ExportRow]:
        """:meth:`rows` of one upload's readings as the store reads them, ``(meter, obis,
        time, value, unit, status, hhu, value_time, reset_time, visit seq, accepted)``,
        each with its visit's part of :class:`StoredReading` from ``visit_of(seq,
        meter)``: ``(list_id, visit_time, notes, error_flags, list_held, on_list)``.

        The same rows as :meth:`rows` of the joined readings, in one loop: what the
        visit decides (the join, the list entry, the scheme in force and its rate names,
        the ratio basis, the multiplier and what the value is scaled by, the statuses of
        an ``ok`` reading, accepted or not) is worked out once a visit and meter, not a
        reading's tuple built for the join and unpacked again for the enricher."""
        out: list[ExportRow] = []
        append = out.append
        decided: dict[tuple, list] = {}
        register_of_obis = self._register     # a rate's register, and scaled units:
        is_scaled = self._is_scaled           # each worked out once a code or unit
        make = _export_row
        ok = STATUS_OK
        unknown = BASIS_UNKNOWN
        last_meter: str | None = None
        last_seq: Any = _UNSET
        part: list = []
        scheme = rates = scaling = proof = None
        site = scheme_id = list_text = flags_text = notes_text = ok_plain = ok_accepted = ""
        for (meter, obis, time, value, unit, status, hhu, value_time, reset_time, seq,
             accepted) in readings:
            if meter != last_meter or seq != last_seq:   # another visit's: its part
                last_meter, last_seq = meter, seq
                found = decided.get((seq, meter))
                if found is None:
                    found = decided[(seq, meter)] = self._upload_visit(
                        meter, *visit_of(seq, meter))
                part = found
                (scheme, rates, site, scheme_id, list_text, flags_text, notes_text, ok_plain,
                 ok_accepted, scaling, proof) = part
            rate = "" if rates is None else rates.get(register_of_obis(obis), "")
            if not is_scaled(unit):
                multiplier = value_basis = primary = ""
            elif scheme is None:
                multiplier, value_basis, primary = "", unknown, ""
            else:
                if scaling is None:
                    scaling = part[9] = self._scaling(scheme, self._basis(scheme, proof))
                multiplier, value_basis, scale = scaling
                primary = "" if scale is None else _primary(value, scale)
            if status == ok:
                status = ok_accepted if accepted else ok_plain
            append(make((
                meter, obis, time, value, unit, status, hhu, upload_id, received_at, site,
                list_text, rate, value_time, reset_time, multiplier, value_basis, primary,
                scheme_id, flags_text, notes_text)))
        return out

    def _upload_visit(self, meter: str, list_id: str | None, visit_time: str | None,
                      notes: str | None, error_flags: str | None, list_held: int,
                      on_list: int) -> list:
        """:meth:`upload_rows`' part of one visit and meter: [scheme, rate names, site,
        scheme id, list id, flags and notes as written, the status of an ``ok`` reading
        and of an accepted one, the scaling (None until a scaled value needs it, then
        :meth:`_scaling`'s), the ratio proof before the readout]."""
        entry = self._entry(list_id, meter) if on_list else None
        scheme = self._scheme_in_force(meter, visit_time, entry)
        key = (list_id, list_held, on_list, error_flags)
        statuses = self._ok_pairs.get(key)
        if statuses is None:
            statuses = self._ok_pairs[key] = (
                self._status_ok(list_id, list_held, on_list, error_flags, 0),
                self._status_ok(list_id, list_held, on_list, error_flags, 1))
        return [scheme, self._rate_names(scheme) if scheme else None,
                (entry.site or "") if entry else "", scheme.id if scheme else "",
                list_id or "", error_flags or "", notes or "", statuses[0], statuses[1], None,
                self._in_meter]

    def _register(self, obis: str) -> str:
        found = self._registers.get(obis)
        if found is None:
            found = self._registers[obis] = register_of(obis)
        return found

    def _is_scaled(self, unit: str) -> bool:
        """Whether a unit is one a scheme's ratios scale (:data:`SCALED_UNITS`)."""
        found = self._scaled_units.get(unit)
        if found is None:
            found = self._scaled_units[unit] = unit.lower() in SCALED_UNITS
        return found

    def _status_ok(self, list_id: str | None, list_held: int, on_list: int,
                   error_flags: str | None, accepted: int = 0) -> str:
        """:meth:`status` of a reading the store holds as ``ok``, remembered by its inputs."""
        key = (list_id, list_held, on_list, error_flags, accepted)
        found = self._ok_statuses.get(key)
        if found is None:
            found = self._ok_statuses[key] = self.status(StoredReading(
                "", "", "", "", "", STATUS_OK, "", "", "", "", "", list_id, None, None,
                error_flags, list_held, on_list, accepted))
        return found

    def _basis(self, scheme: Scheme | None, proof: str | None) -> str | None:
        """What the proof says the registers count: ``primary`` (the scheme's ratios are
        in a meter whose model takes them), ``unknown`` (the meter holds other ratios, or
        ratios its model cannot take: a clerk must look), else None (no ratios in the
        meter, or no proof: the value counts as the meter was wired)."""
        if scheme is None or proof is None:
            return None
        held = held_factor(proof)
        if held is None:
            return BASIS_UNKNOWN
        if held == 1:
            return None                           # nothing applied: as wired
        if ratios_agree(scheme, proof) and self._takes_ratios(scheme.model):
            return BASIS_PRIMARY
        return BASIS_UNKNOWN

    @staticmethod
    def _scaled(scheme: Scheme | None, value: str,
                held: str | None = None) -> tuple[str, str, str]:
        """(multiplier, basis, primary value). ``held``: what the ratio proof says
        (:meth:`_basis`): ``primary``, the registers count primary values (the
        multiplier is shown, already applied); ``unknown``, no primary value is given;
        None, a meter behind transformers counts secondary values."""
        multiplier, basis, scale = Enricher._scaling(scheme, held)
        return multiplier, basis, "" if scale is None else _primary(value, scale)

    @staticmethod
    def _scaling(scheme: Scheme | None, held: str | None) -> tuple[str, str, Decimal | None]:
        """:meth:`_scaled`'s multiplier and basis, and what a plain value is multiplied
        by for its primary value (None: no primary value is given): the same for every
        value of one scheme and proof."""
        if scheme is None:
            return "", BASIS_UNKNOWN, None
        try:
            factor = multiplier_of(scheme)
        except (ArithmeticError, ValueError):      # a stored ratio that is no number
            return "", BASIS_UNKNOWN, None
        if held == BASIS_UNKNOWN:
            return _text(factor), BASIS_UNKNOWN, None
        applied = held == BASIS_PRIMARY
        basis = BASIS_PRIMARY if factor == 1 or applied else BASIS_SECONDARY
        return _text(factor), basis, Decimal(1) if applied else factor
