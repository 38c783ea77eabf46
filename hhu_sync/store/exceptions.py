"""The exceptions part of the store contract: list them, show one with its evidence, and
record a clerk's resolution of it.

Typed values in and out. What a resolution does to the readings (which statuses become
billable, which value a conflict keeps) is decided in :mod:`hhu_sync.store.exception_rules`,
above every backend; a backend applies it in one transaction with its audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from hhu_sync.store.accounts import Change
from hhu_sync.store.base import StoreError

#: The most exceptions one page holds (a caller asking for more gets this many).
MAX_PAGE = 200
DEFAULT_PAGE = 50
#: A dismissal's reason, in characters: required, one line's worth.
MAX_REASON = 500


class Decision(StrEnum):
    ACCEPT = "accept"        # bill it: the value chosen, or the readings as they are
    DISMISS = "dismiss"      # do not bill it: the readings stay (or become) not billable


class State(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class UnknownException(StoreError):
    """The store holds no exception of that id."""

    def __init__(self, exception_id: int) -> None:
        super().__init__(f"no exception {exception_id}")
        self.exception_id = exception_id


class AlreadyResolved(StoreError):
    """The exception has a resolution already: a second one is refused, never merged."""

    def __init__(self, exception_id: int, decision: str, user: str, at: str) -> None:
        super().__init__(f"exception {exception_id} was resolved already ({decision} by "
                         f"{user} at {at})")
        self.exception_id = exception_id


class ResolutionRefused(StoreError):
    """The decision does not fit the exception (a value it never saw, nothing to accept,
    no reading held any more); ``field`` names the part of the request at fault."""

    def __init__(self, message: str, *, field: str = "decision") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ExceptionFilter:
    kind: str | None = None
    meter: str | None = None
    upload_id: str | None = None
    state: State | None = None


@dataclass(frozen=True)
class ExceptionRow:
    exception_id: int
    upload_id: str
    kind: str
    meter: str
    obis: str | None
    time: str | None
    value: str | None
    detail: str
    created_at: str
    decision: str | None        # None: open


@dataclass(frozen=True)
class ExceptionPage:
    """One page, newest first; ``next_before``: pass it as ``before`` for the next one."""

    rows: list[ExceptionRow]
    next_before: int | None
    counts: dict[str, int]      # every exception matching the filter but its kind, by kind


@dataclass(frozen=True)
class HeldReading:
    meter: str
    obis: str
    time: str
    value: str
    unit: str
    status: str
    upload_id: str
    hhu: str
    accepted_by: int | None     # the exception whose acceptance made it billable


@dataclass(frozen=True)
class VisitEvidence:
    upload_id: str
    seq: int
    meter: str
    list_id: str
    time: str
    outcome: str
    operator: str
    notes: str


@dataclass(frozen=True)
class UploadEvidence:
    upload_id: str
    hhu_id: str
    received_at: str
    visits: int
    readings: int


@dataclass(frozen=True)
class Resolution:
    exception_id: int
    decision: str
    value: str | None           # the value accepted (a conflict's choice)
    replaced: str | None        # the value the reading held before, when it changed
    reason: str
    user: str
    at: str
    readings: int               # readings whose status or value the resolution changed


@dataclass(frozen=True)
class ExceptionEvidence:
    """An exception with what a clerk needs beside it: the reading(s) held under its key
    (a conflict, a duplicate) or read on its visit, the value its upload brought, the
    visit, the upload; the values ``accept`` may take; the other exceptions under the
    same key; and its resolution, once there is one."""

    exception: ExceptionRow
    upload: UploadEvidence | None
    visit: VisitEvidence | None
    held: list[HeldReading]
    brought: str | None
    choices: list[str]          # a conflict's candidate values (accept takes one)
    may_accept: bool
    effect: str                 # what accept and dismiss do, in a sentence
    siblings: list[ExceptionRow] = field(default_factory=list)
    resolution: Resolution | None = None


class ExceptionStore(Protocol):
    def exceptions(self, where: ExceptionFilter, *, before: int | None = None,
                   limit: int = DEFAULT_PAGE) -> ExceptionPage: ...
    def exception(self, exception_id: int) -> ExceptionEvidence | None: ...
    def resolve_exception(self, exception_id: int, decision: Decision, now: str, *,
                          value: str | None, reason: str, change: Change) -> Resolution: ...
