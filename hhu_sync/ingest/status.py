"""The codes ingest and exports write: a reading's status and the kind of an exception.

These are the contract with exports and reports (codes, never wording), one vocabulary
for the readings table and every export (docs/exports.md lists them). Only
:attr:`ReadingStatus.OK` is billable; every other status is exported as what it is.
"""

from __future__ import annotations

from enum import StrEnum


class ReadingStatus(StrEnum):
    """``readings.status`` and the export's ``status``: why a reading may or may not be
    billed. The store writes the first group; the export passes it on and, for a reading
    the store holds as ``ok``, re-checks the list and decodes the meter's ``F.F`` flags."""

    OK = "ok"                          # every check passed: billable
    SUSPECT = "suspect"                # the reading passed, its visit did not (time, meter)
    NO_LIST = "no_list"                # the visit names no meter list (or none is held)
    NOT_ON_LIST = "not_on_list"        # meter not on the list the visit names
    UNKNOWN_LIST = "unknown_list"      # the visit names a list the depot does not hold
    LIST_CANCELLED = "list_cancelled"  # the visit names a list back office cancelled
    NOT_DELIVERED = "not_delivered"    # the visit names a list given to other HHUs only
    CONFLICT = "conflict"              # another value is held for the same meter, OBIS, time
    NO_ACCESS = "no_access"            # visit outcomes other than done, as the crew said
    NOT_FOUND = "not_found"
    PASSWORD_REJECTED = "password_rejected"
    VERIFY_FAILED = "verify_failed"
    # A clerk dismissed the exception raised on the reading (an already_read second
    # reading, which ingest held ok): not billed (hhu_sync.store.exception_rules).
    DISMISSED = "dismissed"
    # Decided by the export from the visit's F.F register (hhu_sync.export.flags), never
    # stored: the meter reported an error, so its reading is not billed as ok. Several
    # bits join with FLAG_JOIN (battery_low+cover_opened); a bit without a name is
    # UNNAMED_FLAG with its mask (flag_0x00000010).
    FLAGS_UNREADABLE = "flags_unreadable"   # F.F was not 1-8 hex digits
    BATTERY_LOW = "battery_low"
    REVERSE_RUN = "reverse_run"
    COVER_OPENED = "cover_opened"
    # Never in the readings table: a reading that failed a field check is held only in
    # the exceptions table (kind = its FindingCode), so no export can see it.
    REJECTED = "rejected"


class FindingCode(StrEnum):
    """``exceptions.kind`` for a field that failed a check (the field is in ``detail``)."""

    BAD_OBIS = "bad_obis"
    BAD_UNIT = "bad_unit"
    BAD_VALUE = "bad_value"
    NEGATIVE_ENERGY = "negative_energy"
    TOO_MANY_DIGITS = "too_many_digits"
    BAD_TIME = "bad_time"
    NO_ZONE = "no_zone"
    TIME_TOO_EARLY = "time_too_early"
    TIME_IN_FUTURE = "time_in_future"
    TIME_OFF_VISIT = "time_off_visit"  # a reading time further than visit_span from its visit
    BEFORE_LIST = "before_list"        # visit earlier than the list was issued
    BAD_METER = "bad_meter"
    CONTROL_CHARS = "control_chars"    # text kept, flagged: escape it wherever it is shown
    FORMULA_TEXT = "formula_text"      # text kept, flagged: starts like a spreadsheet formula
    TOO_LONG = "too_long"
    BAD_RATIO = "bad_ratio"            # a visit's ratios: not PRIMARY/SECONDARY: no evidence


class ExceptionKind(StrEnum):
    """``exceptions.kind`` for what the store finds (besides the finding codes)."""

    DUPLICATE = "duplicate"            # same key, same value: held once
    CONFLICT = "conflict"              # same key, another value: the first is kept, and
                                       # neither is billable (status conflict)
    NOT_ON_LIST = "not_on_list"
    ALREADY_READ = "already_read"      # read on the same list by another HHU
    UNKNOWN_LIST = "unknown_list"
    LIST_CANCELLED = "list_cancelled"
    NOT_DELIVERED = "not_delivered"
    NO_READINGS = "no_readings"        # a visit said done and sent no register at all
    RATIOS_MISMATCH = "ratios_mismatch"  # the meter holds CT/VT ratios its scheme does not say
    # A re-read interval (meter, channel, interval end) with another quantity than the one
    # held: the held row stays in intervals, the value brought is the exception's value.
    INTERVAL_CONFLICT = "interval_conflict"
    # A validation (VEE) finding on a visit's interval data: value is the finding code
    # (hhu_sync.profile.vee.VeeCode), the vee_findings table the intervals it covers.
    INTERVAL_VALIDATION = "interval_validation"
    # A billing determinant (hhu-sync billing) that disagrees with the meter's own
    # register beyond tolerance: obis and time are the register read at the end of the
    # span compared, the detail holds both values (hhu_sync.store.billing_rules).
    BILLING_MISMATCH = "billing_mismatch"


#: F.F bit → status (docs/iec62056.md, "Simulated meters"); see ReadingStatus.
FLAG_STATUS: dict[int, ReadingStatus] = {0x00000001: ReadingStatus.BATTERY_LOW,
                                         0x00000002: ReadingStatus.REVERSE_RUN,
                                         0x00000004: ReadingStatus.COVER_OPENED}
FLAG_JOIN = "+"
UNNAMED_FLAG = "flag_0x{mask:08x}"


def billable(status: str) -> bool:
    """Whether a reading of this status may be billed: only ``ok`` may, everywhere."""
    return status == ReadingStatus.OK


#: Statuses a visit outcome gives its readings when it is not ``done``.
OUTCOME_STATUS = {"no_access": ReadingStatus.NO_ACCESS, "not_found": ReadingStatus.NOT_FOUND,
                  "password_rejected": ReadingStatus.PASSWORD_REJECTED,
                  "verify_failed": ReadingStatus.VERIFY_FAILED}
