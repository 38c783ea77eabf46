"""The exceptions pages and ``/api/exceptions``: conflicts, meters not on a list, second
readings and failed field checks, filtered and paged; one exception with its evidence
side by side; resolve it (accept one value, or dismiss with a reason).

A resolution goes through :func:`hhu_sync.store.exception_rules.resolve`, the rules the
CLI applies too, and is audited in its own transaction. A form's POST
(``/exceptions/ID/resolve``) is answered 303 back to the exception's page, an API POST
(``/api/exceptions/ID/resolve``, a JSON body) with JSON; a malformed request is 400
naming the field, an unknown exception 404, a second resolution or a decision the
exception does not allow 409, a storage fault 503.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from hhu_sync.ingest.status import ExceptionKind, FindingCode
from hhu_sync.store.accounts import UserRecord
from hhu_sync.store.base import StorageUnavailable, StoreError
from hhu_sync.store.exception_rules import MAX_VALUE, BadResolution, resolve
from hhu_sync.store.exceptions import (
    DEFAULT_PAGE,
    MAX_PAGE,
    MAX_REASON,
    AlreadyResolved,
    Decision,
    ExceptionFilter,
    ExceptionStore,
    State,
    UnknownException,
)
from hhu_sync.web.app import Context, _is_api, guarded, page
from hhu_sync.web.lists import _problem
from hhu_sync.web.params import Field, Params
from hhu_sync.web.roles import Action, may
from hhu_sync.web.sessions import Session

log = logging.getLogger(__name__)

KINDS = tuple(sorted({k.value for k in ExceptionKind} | {c.value for c in FindingCode}))
#: the longest meter serial or upload id a filter takes
MAX_FILTER = 128

QUERY = Params((
    Field("kind", choices=KINDS, description="only exceptions of this kind"),
    Field("meter", max_length=MAX_FILTER, description="only this meter's"),
    Field("upload", max_length=MAX_FILTER, description="only this upload's"),
    Field("state", choices=(State.OPEN.value, State.RESOLVED.value)),
    Field("before", int, minimum=0, description="the last page's next_before"),
    Field("limit", int, minimum=1, maximum=MAX_PAGE, default=DEFAULT_PAGE),
))
RESOLUTION = Params((
    Field("decision", required=True, choices=tuple(d.value for d in Decision)),
    Field("value", max_length=MAX_VALUE, description="accept: the value to bill"),
    Field("reason", max_length=MAX_REASON, description="dismiss: why (required)"),
))


def _store(request: Request) -> ExceptionStore:
    ctx: Context = request.app.state.ctx
    return cast(ExceptionStore, ctx.store)


def _query(request: Request) -> tuple[ExceptionFilter, int | None, int]:
    """The filter, ``before`` and ``limit`` of a request's checked query."""
    q = request.state.query
    meter, upload = ((q[name] or "").strip() or None for name in ("meter", "upload"))
    where = ExceptionFilter(kind=q["kind"], meter=meter, upload_id=upload,
                            state=State(q["state"]) if q["state"] else None)
    return where, q["before"], q["limit"]


def listing(store: ExceptionStore, where: ExceptionFilter, before: int | None,
            limit: int) -> dict[str, Any]:
    found = store.exceptions(where, before=before, limit=limit)
    return {"exceptions": [asdict(r) for r in found.rows], "counts": found.counts,
            "next_before": found.next_before}


def _exception_id(request: Request) -> int | None:
    raw = request.path_params["exception_id"]
    return int(raw) if re.fullmatch(r"[0-9]{1,18}", raw) else None   # not isdigit: '²' is one


def evidence(store: ExceptionStore, exception_id: int) -> dict[str, Any] | None:
    found = store.exception(exception_id)
    return asdict(found) if found is not None else None


@guarded(Action.VIEW, query=QUERY)
async def exceptions_page(request: Request, session: Session, user: UserRecord) -> Response:
    where, before, limit = _query(request)
    found = await run_in_threadpool(listing, _store(request), where, before, limit)
    params = {k: v for k, v in (("kind", where.kind), ("meter", where.meter),
                                ("upload", where.upload_id),
                                ("state", where.state.value if where.state else None))
              if v}
    return page(request, "exceptions.html", where=where, params=params, kinds=KINDS,
                limit=limit, **found)


@guarded(Action.VIEW, query=QUERY)
async def exceptions_api(request: Request, session: Session, user: UserRecord) -> Response:
    """Exceptions, newest first (``?kind=``, ``?meter=``, ``?upload=``,
    ``?state=open|resolved``, ``?before=`` the last page's ``next_before``, ``?limit=``
    up to 200), with the count of each kind matching the other filters."""
    where, before, limit = _query(request)
    return JSONResponse(await run_in_threadpool(listing, _store(request), where, before,
                                                limit))


@guarded(Action.VIEW)
async def exception_page(request: Request, session: Session, user: UserRecord) -> Response:
    exception_id = _exception_id(request)
    found = await run_in_threadpool(evidence, _store(request), exception_id) \
        if exception_id is not None else None
    if found is None:
        return _problem(request, 404, f"no exception {request.path_params['exception_id']!r}")
    return page(request, "exception.html", e=found,
                may_resolve=may(user.role, Action.RESOLVE) and found["resolution"] is None)


@guarded(Action.VIEW)
async def exception_api(request: Request, session: Session, user: UserRecord) -> Response:
    """One exception with its evidence: the reading(s) held under its key or read on its
    visit, the value its upload brought, the visit, the upload, the values accept may
    take, the other exceptions under the key, its resolution."""
    exception_id = _exception_id(request)
    found = await run_in_threadpool(evidence, _store(request), exception_id) \
        if exception_id is not None else None
    if found is None:
        return _problem(request, 404, f"no exception {request.path_params['exception_id']!r}")
    return JSONResponse(found)


@guarded(Action.RESOLVE, body=RESOLUTION)
async def resolve_exception(request: Request, session: Session, user: UserRecord) -> Response:
    """Resolve the exception: ``{"decision": "accept", "value": V}`` bills value V (a
    conflict; the other kinds take no value), ``{"decision": "dismiss", "reason": R}``
    leaves its readings unbilled; once only (409 after), audited."""
    exception_id = _exception_id(request)
    if exception_id is None:
        return _problem(request, 404, f"no exception {request.path_params['exception_id']!r}")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        body = request.state.body
        done = await run_in_threadpool(
            lambda: resolve(_store(request), exception_id, body["decision"],
                            now, value=body["value"], reason=body["reason"],
                            user=user.name))
    except BadResolution as exc:
        return _problem(request, 400, str(exc))
    except UnknownException as exc:
        return _problem(request, 404, str(exc))
    except StorageUnavailable as exc:        # the path and the fault go to the log only
        log.warning("web resolve of exception %d by %s: %s", exception_id, user.name, exc)
        return _problem(request, 503, "the database is unavailable: nothing changed, "
                                      "try again later")
    except (AlreadyResolved, StoreError) as exc:
        return _problem(request, 409, str(exc))
    if not _is_api(request):
        return RedirectResponse(f"/exceptions/{exception_id}", status_code=303)
    return JSONResponse(asdict(done))


ROUTES = [
    Route("/exceptions", exceptions_page, methods=["GET"]),
    Route("/api/exceptions", exceptions_api, methods=["GET"]),
    Route("/exceptions/{exception_id}", exception_page, methods=["GET"]),
    Route("/api/exceptions/{exception_id}", exception_api, methods=["GET"]),
    Route("/exceptions/{exception_id}/resolve", resolve_exception, methods=["POST"]),
    Route("/api/exceptions/{exception_id}/resolve", resolve_exception, methods=["POST"]),
]
