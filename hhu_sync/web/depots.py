"""The sessions page and ``/api/sessions``, and the ``?depot=`` filter the depot views
share: several depots may write one store, and every session, HHU and upload says
which (:mod:`hhu_sync.store.depots`). Without ``?depot=`` a view shows every depot's,
each row naming its depot; with it, that depot's alone."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hhu_sync.store.accounts import UserRecord
from hhu_sync.store.base import Store
from hhu_sync.store.paging import MAX_PAGE, PagedStore
from hhu_sync.web.app import DEPOT_FIELD, Context, guarded, page
from hhu_sync.web.params import Field, Params
from hhu_sync.web.roles import Action
from hhu_sync.web.sessions import Session

__all__ = ["DEPOT_FIELD", "ROUTES", "depot_choices", "own_depot", "recorded_docks"]

SESSIONS_PAGE = 50


def depot_choices(store: Store, shown: str | None) -> dict[str, Any]:
    """What a page's depot filter offers: every depot the store knows, the one shown
    (None: all) and the server's own."""
    known = [d.depot for d in store.depots()]
    return {"depots": known + ([shown] if shown and shown not in known else []),
            "depot": shown}


def recorded_docks(store: Store, depot: str) -> list[dict[str, Any]]:
    """Another depot's docks as its HHUs recorded them (its cradles are its server's to
    show live): each dock named by one of its HHUs, with the HHU last seen there and
    when, and whether that HHU's session still runs. Up to a page of its HHUs."""
    found = cast(PagedStore, store).hhus_page(limit=MAX_PAGE, depot=depot)
    docks: dict[str, dict[str, Any]] = {}
    for hhu in found.rows:
        name = hhu["dock"]
        if not name or name == "revoked":
            continue
        seen = hhu["last_activity"] or hhu["last_seen"] or ""
        if name not in docks or seen > (docks[name]["last_seen"] or ""):
            docks[name] = {"dock": name, "depot": depot, "hhu_id": hhu["hhu_id"],
                           "last_seen": seen or None,
                           "session_running_since": hhu["session_running_since"]}
    return [docks[name] for name in sorted(docks)]


def _store(request: Request) -> Store:
    ctx: Context = request.app.state.ctx
    return cast(Store, ctx.store)


def own_depot(request: Request) -> str | None:
    """The depot this server's configuration names (None: an app without one)."""
    ctx: Context = request.app.state.ctx
    depot = ctx.extra.get("depot")
    return depot if isinstance(depot, str) else None


SESSIONS_QUERY = Params((
    DEPOT_FIELD,
    Field("limit", int, minimum=1, maximum=500, default=SESSIONS_PAGE,
          description="sessions a page"),
    Field("before", int, minimum=0, maximum=2**63 - 1,
          description="a session id: only older ones (the next page)"),
))


def _sessions(store: Store, depot: str | None, limit: int, before: int | None
              ) -> tuple[list[dict[str, Any]], int | None, dict[str, Any]]:
    found = store.sessions(depot=depot, limit=limit + 1, before_id=before)
    more = len(found) > limit
    rows = [asdict(s) for s in found[:limit]]
    return rows, rows[-1]["session_id"] if more and rows else None, \
        depot_choices(store, depot)


@guarded(Action.VIEW, query=SESSIONS_QUERY)
async def sessions_page(request: Request, session: Session, user: UserRecord) -> Response:
    q = request.state.query
    rows, more, choices = await run_in_threadpool(_sessions, _store(request), q["depot"],
                                                  q["limit"], q["before"])
    return page(request, "sessions.html", sessions=rows, next=more, own=own_depot(request),
                **choices)


@guarded(Action.VIEW, query=SESSIONS_QUERY)
async def sessions_api(request: Request, session: Session, user: UserRecord) -> Response:
    """Docking sessions newest first, each naming its depot, dock and HHU (``?depot=``
    one depot's; ``?limit=``; ``?before=`` the ``next`` of the page before)."""
    q = request.state.query
    rows, more, _ = await run_in_threadpool(_sessions, _store(request), q["depot"],
                                            q["limit"], q["before"])
    return JSONResponse({"depot": q["depot"], "sessions": rows, "next": more})


ROUTES = [
    Route("/sessions", sessions_page, methods=["GET"]),
    Route("/api/sessions", sessions_api, methods=["GET"]),
]
