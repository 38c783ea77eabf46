"""A meter's event log (logbook) entries, dialect-independent."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class EventKind(enum.StrEnum):
    """What happened. The string is a storage and wire contract: add, never rename."""

    POWER_DOWN = "power_down"
    POWER_UP = "power_up"
    CLOCK_SET = "clock_set"
    DST_CHANGE = "dst_change"
    DEVICE_RESET = "device_reset"
    COVER_OPENED = "cover_opened"
    COVER_CLOSED = "cover_closed"
    TERMINAL_COVER_OPENED = "terminal_cover_opened"
    PROFILE_CLEARED = "profile_cleared"
    LOGBOOK_CLEARED = "logbook_cleared"
    ERROR_BEGIN = "error_begin"
    ERROR_END = "error_end"
    PARAMETER_SET = "parameter_set"
    CONFIG_CHANGE = "config_change"
    BILLING_RESET = "billing_reset"
    PHASE_FAILURE = "phase_failure"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class MeterEvent:
    """One logbook entry.

    ``at`` is UTC seconds since the epoch, converted from the meter's local time by the
    dialect decoder's caller (which knows the meter's zone). ``code`` is the dialect's own
    raw status or event code, kept so nothing the meter said is lost; ``data`` holds the
    entry's values as the meter sent them (e.g. the old time of a clock set).
    """

    at: int
    kind: EventKind
    code: int = 0
    data: tuple[tuple[str, str], ...] = ()
