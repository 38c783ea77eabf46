"""The CMEP export: MEPMD01 register-read records, times in UTC.

One record per meter, register, unit and calculation constant, at most
:data:`MAX_TRIPLETS` triplets and :data:`MAX_LINE` characters a line (longer series
go on in further records). Only readings a billing system may take as valid are
written: status ``ok``, a unit CMEP knows, a plain decimal value and a time with a
zone. Everything else is in the CSV, with its status.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from itertools import chain, groupby
from typing import Any

from hhu_sync.export.cells import _NOT_PLAIN_HEAD, MAX_CELL, is_plain_number, safe_cell
from hhu_sync.export.enrich import BASIS_SECONDARY, BASIS_UNKNOWN
from hhu_sync.export.rows import STATUS_OK, ExportRow, as_row
from hhu_sync.fsutil import atomic_open

CMEP_RECORD_VERSION = "19970819"
# Register reads only: the CMEP unit with the REG suffix marks a register (not interval) read.
CMEP_UNITS = {"kwh": "KWHREG", "kw": "KWREG", "kvarh": "KVARHREG", "kvar": "KVARREG",
              "kvah": "KVAHREG", "kva": "KVAREG", "wh": "WHREG"}
MAX_TRIPLETS = 48
MAX_LINE = 2048
QUALITY_READ = "R0"     # a register as read from the meter
_NEEDS_QUOTING = re.compile(r'[,"]')   # CR, LF: escaped by safe_cell
# A field csv.writer writes as it is (QUOTE_MINIMAL): no delimiter, quote or line end.
_UNQUOTED = re.compile(r'[^,"\r\n]*').fullmatch


def cmep_time(iso: str) -> str:
    """``CCYYMMDDHHMM`` in UTC; ``""`` for a time without a zone or not a time at all
    (a local time would be written as if it were UTC)."""
    try:
        when = datetime.fromisoformat(iso)
        if when.tzinfo is None:
            return ""
        return when.astimezone(UTC).strftime("%Y%m%d%H%M")
    except (OverflowError, TypeError, ValueError):  # no year holds it in UTC: not a time
        return ""


def cmep_value(value: str) -> str:
    """``001846.0`` → ``1846.0``: the meter's digits, without padding or exponent."""
    if "e" in value or "E" in value:
        value = format(Decimal(value), "f")
    sign = "-" if value.startswith("-") else ""
    digits = value.lstrip("+-").lstrip("0")
    if not digits or digits.startswith("."):
        digits = "0" + digits
    return sign + digits


# A plain decimal without exponent: its sign and its digits after the leading zeros (the
# last zero before the point or the end kept), as cmep_value gives them.
_SIMPLE_NUMBER = re.compile(r"(?:(-)|\+)?0*(\d+(?:\.\d*)?|\.\d+)", re.ASCII).fullmatch


# One without sign but perhaps "+", that starts with a digit: its digits are group 1.
_UNSIGNED_NUMBER = re.compile(r"\+?0*(\d+(?:\.\d*)?)", re.ASCII).fullmatch


def _digits(value: str) -> str | None:
    """:func:`cmep_value` of a plain number (:func:`is_plain_number`), else None; one
    match for most values."""
    found = _SIMPLE_NUMBER(value)
    if found is None:
        return cmep_value(value) if is_plain_number(value) else None
    sign, digits = found.groups()
    if digits[0] == ".":
        digits = "0" + digits
    return "-" + digits if sign else digits


def _constant(row: ExportRow) -> str:
    """CalculationConstant: value x constant = primary. The multiplier for a secondary
    value, else 1 (values as the meter registers show them)."""
    return row.multiplier if row.value_basis == BASIS_SECONDARY and row.multiplier else "1"


def _triplets(rows: list[ExportRow],
              times: dict[str, tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(UTC time, quality, value) of the valid rows, in time order, one per minute: a
    historical value read at several visits has one time, its billing reset; and CMEP
    times are to the minute, so of two reads within one minute the later one (by its own
    time, then its read time) is the register's value then, never two values for one
    time stamp.

    ``times`` keeps each time converted once (CMEP minute, sortable UTC): a visit's
    registers share one.
    """
    out: dict[str, tuple[tuple[str, str], str]] = {}
    for r in rows:
        own = r.value_time or r.time
        when, own_utc = _converted(own, times)
        if not when:
            continue
        order = (own_utc, _converted(r.time, times)[1])
        held = out.get(when)
        if held is None or order > held[0]:
            out[when] = (order, cmep_value(r.value))
    return sorted((when, QUALITY_READ, value) for when, (_, value) in out.items())


def _converted(iso: str, times: dict[str, tuple[str, str]]) -> tuple[str, str]:
    done = times.get(iso)
    if done is None:
        done = times[iso] = _both_times(iso)
    return done


def _both_times(iso: str) -> tuple[str, str]:
    """(:func:`cmep_time`, :func:`_utc_text`) of one time, parsed once when it has a zone
    and a four-digit year (the CMEP minute is then the sortable text's head)."""
    try:
        when = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return "", ""
    utc_digits = _UTC_ISO(iso)
    if utc_digits is not None and iso[0] != "0":
        # a valid UTC time as the store writes it (+00:00), a four-digit year: its
        # sortable text is its own digits (what astimezone and strftime would give)
        text = "".join(utc_digits.groups("000000"))
        return text[:12], text
    if when.tzinfo is None or when.year < 1000:
        return cmep_time(iso), _utc_text(iso)
    try:
        utc = when.astimezone(UTC)
    except OverflowError:                # past the year 9999 in UTC: not a time
        return "", ""
    if utc.year < 1000:
        return cmep_time(iso), _utc_text(iso)
    text = utc.strftime("%Y%m%d%H%M%S%f")
    return text[:12], text


# A time in UTC as ingest stores it: its date and time digits, microseconds if given.
_UTC_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{6}))?\+00:00",
                      re.ASCII).fullmatch


def _utc_text(iso: str) -> str:
    """A zoned ISO time as sortable UTC text (microseconds always shown)."""
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y%m%d%H%M%S%f")
    except (OverflowError, TypeError, ValueError):
        return ""


def _render(fields: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def _series_key(r: ExportRow) -> tuple[str, str]:
    return CMEP_UNITS[r.unit.lower()], _constant(r)


def write_cmep(rows: Iterable[tuple], path: str | os.PathLike[str], *, sender: str,
               receiver: str = "", now: datetime | None = None) -> int:
    """MEPMD01 records; MeterID is ``SERIAL:OBIS``. Returns how many records.

    Rows must be ordered by meter and obis (as :meth:`Store.readings` yields them).
    """
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d%H%M")
    sender, receiver = safe_cell(sender), safe_cell(receiver)
    prefix = ["MEPMD01", CMEP_RECORD_VERSION, sender, "", receiver, "", stamp]
    # _write_records' bound for a head and one triplet, but for MeterID, constant, value
    # and time: each head field 2 x its length + 3, the count, the triplet's 3 separators
    fixed = (sum(2 * len(f) + 3 for f in [*prefix, "OK", "E", "KVARHREG", "00000000"])
             + 6 + len(QUALITY_READ) + 3 + len(f",{MAX_TRIPLETS}"))
    records = 0
    times: dict[str, tuple[str, str]] = {}
    with atomic_open(path) as fh:
        out = csv.writer(fh, lineterminator="\n")      # each line as _render gives it

        head_line = _render(prefix)
        lines: list[str] = []             # records not yet written, in order
        unquoted: dict[str, bool] = {}    # constant → csv.writer writes it as it is

        def flush() -> None:
            if lines:
                fh.write("".join(lines))
                lines.clear()

        def one(meter_id: str, own: str, value: str, constant: str, units: str) -> int:
            """The record of a register read once: ``own`` its time, ``value`` its CMEP
            digits, ``constant`` its CalculationConstant (the loop below writes most
            such records itself, as this does)."""
            converted = times.get(own)
            if converted is None:
                converted = times[own] = _both_times(own)
            when = converted[0]
            if not when:
                return 0                  # no time: no triplet, no record
            # one triplet fits unless the head is near the line limit (a long id)
            if fixed + 2 * (len(meter_id) + len(constant)) + len(value) + len(when) \
                    > MAX_LINE:
                flush()
                return _write_records(out, [*prefix, meter_id, "OK", "E", units, constant,
                                            "00000000"], [(when, QUALITY_READ, value)])
            plain = unquoted.get(constant)
            if plain is None:
                plain = unquoted[constant] = _UNQUOTED(constant) is not None
            if plain:
                # the line csv.writer would write: no field of it needs quoting (the time
                # and value are digits, the MeterID has no comma or quote and safe_cell
                # escaped its line ends, the rest are codes)
                lines.append(f"{head_line},{meter_id},OK,E,{units},{constant},00000000,1,"
                             f"{when},{QUALITY_READ},{value}\n")
                if len(lines) >= 1024:
                    flush()
            else:
                flush()
                out.writerow([*prefix, meter_id, "OK", "E", units, constant, "00000000",
                              "1", when, QUALITY_READ, value])
            return 1

        def several(meter_id: str, run: list[ExportRow]) -> int:
            """The records of a register read more than once: by unit and constant."""
            flush()
            written = 0
            for (units, constant), same in groupby(sorted(run, key=_series_key),
                                                   key=_series_key):
                head = [*prefix, meter_id, "OK", "E", units, constant, "00000000"]
                written += _write_records(out, head, _triplets(list(same), times))
            return written

        # The billable rows, grouped by meter and register, in one loop. Billable: valid,
        # a unit CMEP knows, a plain number, a MeterID that needs no quoting (a reader
        # that splits on commas would shift every field after a quoted one; looked at
        # once a meter and once a register), and a CalculationConstant that can be given:
        # not a value whose scheme has ratios while the meter was proven to hold others
        # (value_basis unknown with a multiplier). A register read once (the common
        # case) is written from the fields taken here, a row at a time: the row's fields
        # unpacked once, its value's CMEP digits found by one match (:func:`_digits`).
        units_of: dict[str, Any] = {}
        # a meter (as a MeterID's head) or an obis → _PLAIN, _QUOTED (its readings are
        # left out) or _ESCAPED (safe_cell changes the MeterID)
        meters: dict[str, int] = {}
        registers: dict[str, int] = {}
        first: Any = None                 # the run's first row
        more: list[ExportRow] | None = None   # the run's rows, when there are several
        run_meter: str | None = None
        run_obis: str | None = None
        run_id = run_units = first_own = first_digits = first_constant = ""
        first_quick = False               # its line written here (see one())
        # of that line's bound (one()'s), what the MeterID, constant and value leave for
        # the time: a CMEP minute is never over 12 characters
        room = MAX_LINE - fixed - 12
        unknown = _UNKNOWN
        secondary = BASIS_SECONDARY
        basis_unknown = BASIS_UNKNOWN
        ok = STATUS_OK
        digits_of = _digits
        unsigned_of = _UNSIGNED_NUMBER
        for r in rows:
            if type(r) is not ExportRow:
                r = as_row(r)
            (meter, obis, time, value, unit, status, _hhu, _upload, _received, _site,
             _list, _rate, value_time, _reset, multiplier, value_basis, _primary, _scheme,
             _flags, _notes) = r
            if status != ok:
                continue
            known = units_of.get(unit, unknown)
            if known is unknown:
                known = units_of[unit] = CMEP_UNITS.get(unit.lower())
            if known is None or (value_basis == basis_unknown and multiplier):
                continue
            unsigned = unsigned_of(value)   # most values: the digits at one match
            if unsigned is not None:
                digits = unsigned[1]
            else:
                digits = digits_of(value)
                if digits is None:
                    continue
            if meter == run_meter and obis == run_obis:
                if more is None:
                    more = [first, r]
                else:
                    more.append(r)
                continue
            meter_kind = meters.get(meter)
            if meter_kind is None:
                meter_kind = meters[meter] = _id_part(meter, head=True)
            if meter_kind == _QUOTED:
                continue
            obis_kind = registers.get(obis)
            if obis_kind is None:
                obis_kind = registers[obis] = _id_part(obis, head=False)
            if obis_kind == _QUOTED:
                continue
            if run_meter is not None:       # the run before: its records
                if more is not None:
                    records += several(run_id, more)
                else:
                    converted = times.get(first_own)
                    if converted is None:
                        converted = times[first_own] = _both_times(first_own)
                    when = converted[0]
                    if first_quick and when:
                        # the line csv.writer would write (see one())
                        lines.append(f"{head_line},{run_id},OK,E,{run_units},{first_constant},"
                                     f"00000000,1,{when},{QUALITY_READ},{first_digits}\n")
                        records += 1
                        if len(lines) >= 1024:
                            flush()
                    elif when:
                        records += one(run_id, first_own, first_digits, first_constant,
                                       run_units)
            run_meter, run_obis, first, more, run_units = meter, obis, r, None, known
            run_id = (f"{meter}:{obis}" if meter_kind == obis_kind == _PLAIN
                      else safe_cell(f"{meter}:{obis}"))
            first_own, first_digits = value_time or time, digits
            if value_basis == secondary and multiplier:
                first_constant = multiplier
                plain = unquoted.get(multiplier)
                if plain is None:
                    plain = unquoted[multiplier] = _UNQUOTED(multiplier) is not None
            else:
                first_constant, plain = "1", True
            first_quick = plain and (2 * (len(run_id) + len(first_constant))
                                     + len(digits) <= room)
        if run_meter is not None:
            records += (one(run_id, first_own, first_digits, first_constant, run_units)
                        if more is None else several(run_id, more))
        flush()
    return records


_UNKNOWN = object()     # a unit not looked up yet
_PLAIN, _QUOTED, _ESCAPED = 0, 1, 2


def _id_part(text: str, *, head: bool) -> int:
    """What a MeterID (``SERIAL:OBIS``) made with ``text`` as its serial (``head``) or
    its obis needs: :data:`_QUOTED`, a comma or quote (left out of the CMEP); else
    :data:`_PLAIN` when :func:`safe_cell` keeps it as it is whatever the other part (so
    short that the two never pass :data:`MAX_CELL`, printable ASCII without a backslash,
    and as the head, no formula or blank first), else :data:`_ESCAPED`."""
    if _NEEDS_QUOTING.search(text):
        return _QUOTED
    if (len(text) <= MAX_CELL // 2 - 1 and text.isascii() and text.isprintable()
            and "\\" not in text and not (head and text and text[0] in _NOT_PLAIN_HEAD)):
        return _PLAIN
    return _ESCAPED


def _write_records(out, head: list[str], triplets: list[tuple[str, str, str]]) -> int:
    """As many records as the triplets need, none over the count or the line limit."""
    # Most series fit on a line whatever the head renders to (a field renders to at most
    # twice its length and two quotes): then only the count splits them, and the head
    # need not be rendered to be measured (a third of the CMEP writer's time).
    sizes = sum(map(len, chain.from_iterable(triplets))) + 3 * len(triplets)
    if sizes + 2 * sum(map(len, head)) + 3 * len(head) + len(f",{MAX_TRIPLETS}") <= MAX_LINE:
        for start in range(0, len(triplets), MAX_TRIPLETS):
            chunk = triplets[start:start + MAX_TRIPLETS]
            out.writerow([*head, str(len(chunk)), *(f for t in chunk for f in t)])
        return -(-len(triplets) // MAX_TRIPLETS)
    room = MAX_LINE - len(_render(head)) - len(f",{MAX_TRIPLETS}")
    written = 0
    start = 0
    while start < len(triplets):
        used, end = 0, start
        while end < len(triplets) and end - start < MAX_TRIPLETS:
            when, quality, value = triplets[end]   # digits only: never quoted
            size = len(when) + len(quality) + len(value) + 3
            if used + size > room:
                break
            used += size
            end += 1
        if end == start:           # not even one triplet fits beside this MeterID
            break
        chunk = triplets[start:end]
        out.writerow([*head, str(len(chunk)), *(f for t in chunk for f in t)])
        written += 1
        start = end
    return written
