"""What resolving an exception does: one set of rules for every backend, the web app and
the CLI, so a decision means the same wherever it is taken.

* **conflict**: accept one of the values seen under the key (the reading held, or a value
  a conflicting upload brought): it becomes the reading under that key, billable (status
  ``ok``) unless another reason holds it back; every open conflict under the key is
  resolved with it, the values not chosen stay in their exceptions, never billed.
  Dismiss: the reading stays ``conflict``, not billed.
* **a visit the lists do not account for** (``not_on_list``, ``unknown_list``,
  ``list_cancelled``, ``not_delivered``) and **a suspect visit** (``before_list``, a visit
  time that failed its check): accept makes that visit's readings held with the status
  the exception gave them billable (``ok``, and the export does not check the list again
  for them); dismiss leaves them as they are, not billed.
* **already_read** (a second reading on a list, by another HHU): its readings are held
  ``ok``; accept confirms them, dismiss makes them ``dismissed``, not billed.
* **a rejected reading** (a field failed its check: it is in no readings table) and what
  holds no reading (``duplicate``, ``no_readings``, ``ratios_mismatch``, a flagged note):
  dismiss only. A rejected value is not accepted: what failed (its number, unit, time) is
  what billing would take, and the exception holds its text escaped, not as read.
"""

from __future__ import annotations

from dataclasses import dataclass

from hhu_sync.ingest.status import ExceptionKind, FindingCode, ReadingStatus
from hhu_sync.store.accounts import Change
from hhu_sync.store.exceptions import (
    MAX_REASON,
    Decision,
    ExceptionStore,
    Resolution,
)

#: The longest value a request may name (a register value is far shorter).
MAX_VALUE = 64
ACTION = "exception.resolve"


class BadResolution(ValueError):
    """A resolution request that is malformed (no reason, too long): ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Remedy:
    """What accept and dismiss do to the readings of one exception."""

    accept: str                       # "value" | "statuses" | "" (dismiss only)
    accept_from: tuple[str, ...] = ()   # statuses accept turns to ok
    dismiss_from: tuple[str, ...] = ()  # statuses dismiss turns to dismissed
    effect: str = ""


_OK, _SUSPECT = ReadingStatus.OK.value, ReadingStatus.SUSPECT.value
_LISTS: dict[str, tuple[str, ...]] = {
    ExceptionKind.NOT_ON_LIST: (ReadingStatus.NOT_ON_LIST.value, ReadingStatus.NO_LIST.value),
    ExceptionKind.UNKNOWN_LIST: (ReadingStatus.UNKNOWN_LIST.value,),
    ExceptionKind.LIST_CANCELLED: (ReadingStatus.LIST_CANCELLED.value,),
    ExceptionKind.NOT_DELIVERED: (ReadingStatus.NOT_DELIVERED.value,),
}
#: Visit findings that leave the visit's readings ``suspect`` (the readings passed).
_SUSPECT_VISIT = frozenset({FindingCode.BEFORE_LIST, FindingCode.BAD_TIME,
                            FindingCode.NO_ZONE, FindingCode.TIME_TOO_EARLY,
                            FindingCode.TIME_IN_FUTURE})
_FINDINGS = frozenset(code.value for code in FindingCode)
_DISMISS_ONLY = "Dismiss only: it holds no reading a decision could bill."


def remedy(kind: str, obis: str | None) -> Remedy:
    """The remedy for an exception of ``kind``; ``obis`` is None for one about a visit
    (a field finding with an OBIS code is about one reading, rejected)."""
    if kind == ExceptionKind.CONFLICT:
        return Remedy("value", effect="Accept one value: it becomes the billable reading "
                      "under this key; the others stay recorded, not billed. Dismiss: "
                      "no value is billed.")
    if kind in _LISTS:
        return Remedy("statuses", _LISTS[kind], effect="Accept: this visit's readings "
                      "are billed although the lists do not account for them. Dismiss: "
                      "they stay not billed.")
    if kind in _SUSPECT_VISIT and obis is None:
        return Remedy("statuses", (_SUSPECT,), effect="Accept: this visit's suspect "
                      "readings are billed. Dismiss: they stay not billed.")
    if kind == ExceptionKind.ALREADY_READ:
        return Remedy("statuses", (), (_OK,), effect="Accept: this second reading is "
                      "billed as held. Dismiss: its readings are no longer billed "
                      "(status dismissed).")
    if kind in _FINDINGS and obis is not None:
        return Remedy("", effect="Dismiss only: the reading failed a field check and is "
                      "not held as a reading; a rejected value is never billed.")
    return Remedy("", effect=_DISMISS_ONLY)


def bounded_text(field: str, value: object, limit: int, *, required: bool) -> str:
    """``value`` as one stripped line of at most ``limit`` characters ('' if absent)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BadResolution(field, "must be text")
    text = value.strip()
    if required and not text:
        raise BadResolution(field, "is required")
    if len(text) > limit:
        raise BadResolution(field, f"is longer than {limit} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise BadResolution(field, "holds control characters")
    return text


def resolve(store: ExceptionStore, exception_id: int, decision: str, now: str, *,
            value: object = None, reason: object = None, user: str) -> Resolution:
    """Validate a request and resolve exception ``exception_id`` as ``user``, audited in
    the resolution's transaction. :class:`BadResolution` for a malformed request; the
    store raises :class:`~hhu_sync.store.exceptions.UnknownException`,
    :class:`~hhu_sync.store.exceptions.AlreadyResolved` or
    :class:`~hhu_sync.store.exceptions.ResolutionRefused`."""
    try:
        chosen = Decision(decision)
    except ValueError:
        raise BadResolution("decision", "is accept or dismiss") from None
    why = bounded_text("reason", reason, MAX_REASON, required=chosen == Decision.DISMISS)
    picked = bounded_text("value", value, MAX_VALUE, required=False) or None
    if chosen == Decision.DISMISS and picked is not None:
        raise BadResolution("value", "a dismissal takes no value")
    change = Change(user, ACTION, str(exception_id))
    return store.resolve_exception(exception_id, chosen, now, value=picked, reason=why,
                                   change=change)
