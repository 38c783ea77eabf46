"""The meter lists pages and ``/api/lists``: each list's state, due date and entries; a
list's page with its meters, deliveries and every visit's outcome and notes; requeue and
cancel.

Requeue and cancel go through :func:`hhu_sync.store.list_actions.change_list`, the rules
``hhu-sync requeue``/``cancel`` apply, and are audited in the change's own transaction.
A form's POST (``/lists/ID/ACTION``) is answered 303 back to the list's page, an API
POST (``/api/lists/ID/ACTION``) with JSON; an unknown list is 404, a change the store
refuses 409 with its message, a storage fault 503.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from hhu_sync.store.accounts import UserRecord
from hhu_sync.store.base import ListState, StorageUnavailable, Store, StoreError
from hhu_sync.store.list_actions import UnknownList, change_list
from hhu_sync.store.paging import PagedStore
from hhu_sync.web.app import Context, guarded, page
from hhu_sync.web.paging import BadPaging, checked_paging, paging_fields
from hhu_sync.web.params import Field, Params
from hhu_sync.web.roles import Action, may
from hhu_sync.web.sessions import Session

log = logging.getLogger(__name__)

PAGE = 200      # lists a page by default

STATES = (ListState.QUEUED, ListState.ON_HHU, ListState.RUNNING, ListState.UPLOADED,
          ListState.COMPLETE, ListState.PARTIAL, ListState.CANCELLED)


def _store(request: Request) -> Store:
    ctx: Context = request.app.state.ctx
    return cast(Store, ctx.store)


def _problem(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    response = page(request, "error.html", status=status, message=message)
    response.status_code = status
    return response


def lists(store: Store, state: str | None = None, limit: int = PAGE,
          after: str | None = None) -> dict[str, Any]:
    """A page of lists (due first), how many are in each state, and the cursor of the
    next page (``next``; None on the last); ``state``: only those."""
    paged = cast(PagedStore, store)
    found = paged.lists_page(state=state, limit=limit, after=after)
    counts = paged.lists_by_state()
    return {"by_state": {s: counts.get(s, 0) for s in STATES}, "lists": found.rows,
            "next": found.next}


def _query(request: Request) -> tuple[str | None, int, str | None]:
    """``?state=``, ``?limit=``, ``?after=`` (declared in LISTS_QUERY); BadPaging for a
    cursor that is not one of this list's."""
    query = request.state.query
    return (query["state"], *checked_paging(query, 2))


def one_list(store: Store, list_id: str) -> dict[str, Any] | None:
    """A list's row, its meters (each with its visits, oldest first), its deliveries;
    visits to meters not on the list (by serial) come last in ``other_visits``."""
    view = store.list_view(list_id)
    mlist = store.get_list(list_id)
    if view is None or mlist is None:
        return None
    by_meter: dict[str, list[dict[str, Any]]] = {}
    for v in view["visits"]:
        by_meter.setdefault(v["meter"], []).append(v)
    meters = []
    for m in mlist.meters:
        visits = by_meter.pop(m.serial, [])
        meters.append({"serial": m.serial, "site": m.site, "address": m.address,
                       "task": m.task, "scheme": m.scheme, "model": m.model,
                       "notes": m.notes,
                       "outcome": visits[-1]["outcome"] if visits else None,
                       "visits": visits})
    return {**view["list"], "notes": mlist.notes, "meters": meters,
            "deliveries": view["deliveries"],
            "other_visits": [v for vs in by_meter.values() for v in vs]}


LISTS_QUERY = Params((Field("state", choices=STATES, description="only lists in this state"),
                      *paging_fields(PAGE)))


@guarded(Action.VIEW, query=LISTS_QUERY)
async def lists_page(request: Request, session: Session, user: UserRecord) -> Response:
    try:
        state, limit, after = _query(request)
    except BadPaging as exc:
        return _problem(request, 400, str(exc))
    found = await run_in_threadpool(lists, _store(request), state, limit, after)
    return page(request, "lists.html", state=state, limit=limit, **found)


@guarded(Action.VIEW, query=LISTS_QUERY)
async def lists_api(request: Request, session: Session, user: UserRecord) -> Response:
    """The meter lists, due first, a page at a time (``?limit=`` up to 500, default 200;
    ``?after=`` the ``next`` of the page before; ``?state=`` one state): id, name,
    target, due, state, entries; ``by_state`` counts every list."""
    try:
        state, limit, after = _query(request)
    except BadPaging as exc:
        return _problem(request, 400, str(exc))
    return JSONResponse(await run_in_threadpool(lists, _store(request), state, limit, after))


@guarded(Action.VIEW)
async def list_page(request: Request, session: Session, user: UserRecord) -> Response:
    list_id = request.path_params["list_id"]
    found = await run_in_threadpool(one_list, _store(request), list_id)
    if found is None:
        return _problem(request, 404, f"no meter list {list_id!r}")
    return page(request, "list.html", mlist=found,
                may_requeue=may(user.role, Action.REQUEUE),
                may_cancel=may(user.role, Action.CANCEL) and found["state"] != "cancelled")


@guarded(Action.VIEW)
async def list_api(request: Request, session: Session, user: UserRecord) -> Response:
    """One meter list: its row, meters with their visits, deliveries."""
    list_id = request.path_params["list_id"]
    found = await run_in_threadpool(one_list, _store(request), list_id)
    if found is None:
        return _problem(request, 404, f"no meter list {list_id!r}")
    return JSONResponse(found)


async def _change(request: Request, user: UserRecord, action: str) -> Response:
    list_id = request.path_params["list_id"]
    now = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        done = await run_in_threadpool(change_list, _store(request), list_id, action, now,
                                       user=user.name)
    except UnknownList as exc:
        return _problem(request, 404, str(exc))
    except StorageUnavailable as exc:       # the path and the fault go to the log only
        log.warning("web %s of list %r by %s: %s", action, list_id, user.name, exc)
        return _problem(request, 503, "the database is unavailable: nothing changed, "
                                      "try again later")
    except StoreError as exc:
        return _problem(request, 409, str(exc))
    if not request.url.path.startswith("/api/"):
        return RedirectResponse(f"/lists/{quote(list_id, safe='')}", status_code=303)
    return JSONResponse({"list_id": done.list_id, "action": done.action,
                         "before": done.before, "after": done.after})


@guarded(Action.REQUEUE)
async def requeue(request: Request, session: Session, user: UserRecord) -> Response:
    """Queue the list again for its HHU or crew (``hhu-sync requeue``)."""
    return await _change(request, user, "requeue")


@guarded(Action.CANCEL)
async def cancel(request: Request, session: Session, user: UserRecord) -> Response:
    """Withdraw the list: what is queued of it is not sent (``hhu-sync cancel``)."""
    return await _change(request, user, "cancel")


ROUTES = [
    Route("/lists", lists_page, methods=["GET"]),
    Route("/api/lists", lists_api, methods=["GET"]),
    Route("/lists/{list_id}", list_page, methods=["GET"]),
    Route("/api/lists/{list_id}", list_api, methods=["GET"]),
    Route("/lists/{list_id}/requeue", requeue, methods=["POST"]),
    Route("/api/lists/{list_id}/requeue", requeue, methods=["POST"]),
    Route("/lists/{list_id}/cancel", cancel, methods=["POST"]),
    Route("/api/lists/{list_id}/cancel", cancel, methods=["POST"]),
]
