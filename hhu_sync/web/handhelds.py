"""The handhelds page and ``/api/handhelds``: the HHUs the depot has seen, a page at a
time (the store's keyset-paged ``hhus_page``), with what is queued for each.

Revoking one is :mod:`hhu_sync.web.admin`'s (admins only). Nothing here reads a key or a
transfer file (a delivery says only whether it is packed).
"""

from __future__ import annotations

from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hhu_sync.store.accounts import UserRecord
from hhu_sync.store.base import Store
from hhu_sync.store.paging import PagedStore
from hhu_sync.web.app import DEPOT_FIELD, Context, guarded, page
from hhu_sync.web.depots import depot_choices, own_depot
from hhu_sync.web.lists import _problem
from hhu_sync.web.paging import BadPaging, checked_paging, paging_fields
from hhu_sync.web.params import Params
from hhu_sync.web.roles import Action, may
from hhu_sync.web.sessions import Session

#: The dock a revoked HHU is recorded at (Store.revoke_hhu).
REVOKED = "revoked"
#: Later than any time a delivery's back-off holds: every queued delivery, due or not.
ANY_TIME = "9999-12-31T23:59:59+00:00"
PAGE = 100      # HHUs a page by default


def handhelds(store: Store, limit: int = PAGE, after: str | None = None,
              depot: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """A page of HHUs by id, each with its last sign, firmware, battery, flash, dock and
    the depot that last saw it (``depot``: that depot's only), and each delivery queued
    for it (by its id, or by its crew and not yet bound to another HHU); and the cursor
    of the next page (None: the last)."""
    found = cast(PagedStore, store).hhus_page(limit=limit, after=after, depot=depot)
    out = []
    for hhu in found.rows:
        revoked = hhu["dock"] == REVOKED
        queued = [] if revoked else [
            {"delivery_id": d.delivery_id, "kind": d.kind, "ref": d.ref,
             "for": "hhu" if d.target_crew is None else "crew", "attempts": d.attempts,
             "packed": d.packed}
            for d in store.pending_deliveries(hhu["hhu_id"], hhu["crew"], ANY_TIME)]
        out.append({"hhu_id": hhu["hhu_id"], "crew": hhu["crew"],
                    "firmware": hhu["firmware"], "battery_pct": hhu["battery"],
                    "free_flash": hhu["free_flash"],
                    "dock": None if revoked else (hhu["dock"] or None),
                    "depot": hhu["depot"],
                    "last_seen": hhu["last_seen"],
                    "last_activity": hhu["last_activity"] or None,
                    "session_running_since": hhu["session_running_since"],
                    "revoked": revoked, "queued": queued})
    return out, found.next


def _store(request: Request) -> Store:
    ctx: Context = request.app.state.ctx
    return cast(Store, ctx.store)


HHUS_QUERY = Params((*paging_fields(PAGE), DEPOT_FIELD))


@guarded(Action.VIEW, query=HHUS_QUERY)
async def handhelds_page(request: Request, session: Session, user: UserRecord) -> Response:
    try:
        limit, after = checked_paging(request.state.query, 1)
    except BadPaging as exc:
        return _problem(request, 400, str(exc))
    depot = request.state.query["depot"]
    hhus, more = await run_in_threadpool(handhelds, _store(request), limit, after, depot)
    choices = await run_in_threadpool(depot_choices, _store(request), depot)
    return page(request, "handhelds.html", hhus=hhus, next=more,
                may_revoke=may(user.role, Action.REVOKE_HHU), own=own_depot(request),
                **choices)


@guarded(Action.VIEW, query=HHUS_QUERY)
async def handhelds_api(request: Request, session: Session, user: UserRecord) -> Response:
    """The HHUs by id, a page at a time (``?limit=`` up to 500, default 100; ``?after=``
    the ``next`` of the page before; ``?depot=`` those last seen at that depot): id,
    crew, firmware, battery, flash, dock, depot, last seen, revoked, queued."""
    try:
        limit, after = checked_paging(request.state.query, 1)
    except BadPaging as exc:
        return _problem(request, 400, str(exc))
    hhus, more = await run_in_threadpool(handhelds, _store(request), limit, after,
                                         request.state.query["depot"])
    return JSONResponse({"hhus": hhus, "next": more})


ROUTES = [
    Route("/handhelds", handhelds_page, methods=["GET"]),
    Route("/api/handhelds", handhelds_api, methods=["GET"]),
]
