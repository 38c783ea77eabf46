"""The paging parameters every paged page and API takes: ``?limit=`` (1 to
:data:`~hhu_sync.store.paging.MAX_PAGE`) and ``?after=`` (the ``next`` cursor of the page
before). Checked here, so a bad one is a 400 naming it, never a database error."""

from __future__ import annotations

from starlette.requests import Request

from hhu_sync.store.paging import MAX_CURSOR, MAX_PAGE, BadCursor, decode_cursor
from hhu_sync.web.params import Field


class BadPaging(ValueError):
    """A ``limit`` or ``after`` parameter that is not one; the message names it."""


def paging(request: Request, default: int, parts: int) -> tuple[int, str | None]:
    """``(limit, after)`` from the query; ``parts``: how many values the cursor holds."""
    raw = request.query_params.get("limit")
    try:
        limit = default if raw in (None, "") else int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_PAGE:
        raise BadPaging(f"limit: a whole number from 1 to {MAX_PAGE}")
    after = request.query_params.get("after") or None
    if after is not None:
        try:
            decode_cursor(after[:MAX_CURSOR + 1], parts)
        except BadCursor:
            raise BadPaging("after: not a cursor of this list (take the page's next)") \
                from None
    return limit, after


def paging_fields(default: int) -> tuple[Field, Field]:
    """The declared ``limit`` and ``after`` of a paged route (``guarded(query=...)``)."""
    return (Field("limit", int, minimum=1, maximum=MAX_PAGE, default=default,
                  description="rows a page"),
            Field("after", max_length=MAX_CURSOR,
                  description="the next cursor of the page before"))


def checked_paging(query: dict, parts: int) -> tuple[int, str | None]:
    """``(limit, after)`` of a declared query, the cursor checked to hold ``parts``
    values (BadPaging names it)."""
    after = query["after"]
    if after is not None:
        try:
            decode_cursor(after, parts)
        except BadCursor:
            raise BadPaging("after: not a cursor of this list (take the page's next)") \
                from None
    return query["limit"], after
