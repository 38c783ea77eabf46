"""The paged part of the store contract: bounded, keyset-paged reads for the screens.

A page is at most :data:`MAX_PAGE` rows and a cursor for the next one: the key of its
last row, so the next page is an index seek (``WHERE key > cursor``), never an OFFSET
that reads every row before it. Cursors are opaque to callers (base64 of a JSON list of
the key's values) and checked when decoded: a bad one is :class:`BadCursor`, not a
database error. 10,000 lists or meters cost a page what 100 do.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Protocol

MAX_PAGE = 500
MAX_CURSOR = 1024          # characters: a cursor is a short key, never a payload


class BadCursor(ValueError):
    """A cursor that is not one this store handed out."""


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next: str | None        # the cursor of the following page; None: this is the last


def clamp(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def encode_cursor(*values: str) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, parts: int) -> tuple[str, ...]:
    """The key values of ``cursor``, ``parts`` strings; :class:`BadCursor` otherwise."""
    if len(cursor) > MAX_CURSOR:
        raise BadCursor("cursor too long")
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise BadCursor("not a cursor of this list") from None
    if (not isinstance(values, list) or len(values) != parts
            or not all(isinstance(v, str) for v in values)):
        raise BadCursor("not a cursor of this list")
    return tuple(values)


class PagedStore(Protocol):
    def lists_page(self, *, state: str | None = None, limit: int = 100,
                   after: str | None = None) -> Page:
        """Meter lists by due date then id: list_id, name, hhu, crew, due, state,
        entries, delivered_to (``state``: only those)."""
        ...

    def lists_by_state(self) -> dict[str, int]: ...

    def hhus_page(self, *, limit: int = 100, after: str | None = None,
                  depot: str | None = None) -> Page:
        """HHUs by id: the columns of ``status()["hhus"]`` with ``last_activity`` and
        ``session_running_since`` (``depot``: only those last seen at that depot)."""
        ...

    def inputs_page(self, *, status: str | None = None, limit: int = 50,
                    after: str | None = None) -> Page:
        """Outbox files received, newest first: sha256, name, kind, status, reason,
        moved_to, received_at, duplicate_of (``status``: accepted, rejected or duplicate
        only). A duplicate (its content already held) is a row of its own, its
        ``duplicate_of`` the name the content was first received as ('' for others)."""
        ...
