"""The export row: one reading with what a billing clerk needs beside it.

The first nine fields are the columns exports always had, in the same order, so a reader
that takes columns by position still finds them; the clerk's columns follow. Every field
is text (decimals stay the meter's digits; an unknown value is ``""``). docs/exports.md
documents each column.
"""

from __future__ import annotations

from typing import NamedTuple

from hhu_sync.ingest.status import ReadingStatus


class ExportRow(NamedTuple):
    meter: str
    obis: str
    time: str                 # when the register was read (the visit), ISO 8601
    value: str                # the meter's digits, as read
    unit: str
    status: str               # "ok" only for a valid reading without meter error flags
    hhu: str
    upload_id: str
    received_at: str
    site: str = ""
    list_id: str = ""
    rate: str = ""            # the scheme's name for the register's tariff rate
    value_time: str = ""      # the value's own time: MD time, or billing reset for history
    reset_time: str = ""      # historical values: the billing reset that closed the period
    multiplier: str = ""      # CT ratio x VT ratio of the scheme in force
    value_basis: str = ""     # primary | secondary | unknown
    value_primary: str = ""   # value x multiplier when the value is secondary
    scheme: str = ""          # the scheme that names the rate and gives the ratios
    error_flags: str = ""     # the meter's F.F register as read at the visit
    notes: str = ""           # the crew's notes on the visit


COLUMNS: tuple[str, ...] = ExportRow._fields
STATUS_OK = ReadingStatus.OK.value     # the only billable status


LEGACY_COLUMNS = 9     # meter .. received_at: the rows exports took before issue 12


def as_row(row: tuple) -> ExportRow:
    """An :class:`ExportRow` from one, or from a tuple of the nine legacy columns.

    Any other tuple is refused: a longer one (a reading row of the store's own layout)
    would put its fields under the wrong column names without a word.
    """
    if isinstance(row, ExportRow):
        return row
    if len(row) != LEGACY_COLUMNS:
        raise TypeError(f"an export row has {LEGACY_COLUMNS} or {len(COLUMNS)} named "
                        f"fields, not a tuple of {len(row)}: take rows from Store.readings()")
    return ExportRow(*row)
