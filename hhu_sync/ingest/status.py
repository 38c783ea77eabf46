"""The codes ingest writes: a reading's status and the kind of an exception.

These are the contract with exports and reports (codes, never wording). Only
:attr:`ReadingStatus.OK` is billable; every other status is exported as what it is.
"""

from __future__ import annotations

from enum import StrEnum


class ReadingStatus(StrEnum):
    """``readings.status``: why a stored reading may or may not be billed."""

    OK = "ok"                          # every check passed: billable
    SUSPECT = "suspect"                # the reading passed, its visit did not (time, meter)
    NOT_ON_LIST = "not_on_list"        # meter not on the visit's list, or no list named
    UNKNOWN_LIST = "unknown_list"      # the visit names a list the depot does not hold
    NO_ACCESS = "no_access"            # visit outcomes other than done, as the crew said
    NOT_FOUND = "not_found"
    PASSWORD_REJECTED = "password_rejected"
    VERIFY_FAILED = "verify_failed"
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
    BEFORE_LIST = "before_list"        # visit earlier than the list was issued
    BAD_METER = "bad_meter"
    CONTROL_CHARS = "control_chars"    # text kept, flagged: escape it wherever it is shown
    FORMULA_TEXT = "formula_text"      # text kept, flagged: starts like a spreadsheet formula
    TOO_LONG = "too_long"


class ExceptionKind(StrEnum):
    """``exceptions.kind`` for what the store finds (besides the finding codes)."""

    DUPLICATE = "duplicate"            # same key, same value: held once
    CONFLICT = "conflict"              # same key, another value: the first is kept
    NOT_ON_LIST = "not_on_list"
    ALREADY_READ = "already_read"      # read on the same list by another HHU
    UNKNOWN_LIST = "unknown_list"


#: Statuses a visit outcome gives its readings when it is not ``done``.
OUTCOME_STATUS = {"no_access": ReadingStatus.NO_ACCESS, "not_found": ReadingStatus.NOT_FOUND,
                  "password_rejected": ReadingStatus.PASSWORD_REJECTED,
                  "verify_failed": ReadingStatus.VERIFY_FAILED}
