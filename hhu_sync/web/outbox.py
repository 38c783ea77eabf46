"""The outbox page and ``/api/outbox``: the files received, newest first, accepted or
rejected with their reasons; and an upload from the browser that goes through the same
outbox path as a file dropped into the folder (:mod:`hhu_sync.outbox.upload`).

An upload is a multipart form (field ``file``; the CSRF token in ``csrf`` or the
header), or for the API also the raw file as the body with ``?filename=``. Its body is
refused unread over the outbox's own size limit (413). The outcome is the processor's;
the audit log records who uploaded which file (its name and SHA-256) and the outcome.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hhu_sync.config import Config
from hhu_sync.model.loader import MAX_INPUT_BYTES
from hhu_sync.outbox.upload import Handover, UploadRefused, UploadResult, problems_of
from hhu_sync.store.accounts import Change, UserRecord
from hhu_sync.store.base import StorageUnavailable, Store, StoreError
from hhu_sync.store.paging import BadCursor, PagedStore
from hhu_sync.web.app import Context, guarded, page
from hhu_sync.web.lists import _problem
from hhu_sync.web.paging import BadPaging, checked_paging, paging_fields
from hhu_sync.web.params import Field, Params
from hhu_sync.web.roles import Action, may
from hhu_sync.web.sessions import Session

log = logging.getLogger(__name__)

PAGE = 50
STATUSES = ("accepted", "rejected", "duplicate")
#: the file at the outbox's limit, and room for the form around it
MAX_UPLOAD_BODY = MAX_INPUT_BYTES + 64 * 1024
#: the answer's status for each outcome (API and page alike)
OUTCOME_STATUS = {"accepted": 201, "rejected": 422, "duplicate": 409, "waiting": 202}


def _ctx(request: Request) -> Context:
    return cast(Context, request.app.state.ctx)


def _config(request: Request) -> Config | None:
    return _ctx(request).extra.get("config")


def _shown(text: str, config: Config | None) -> str:
    """The depot's folders as their short names (``outbox/``, ``rejected/``...): the
    browser needs to know where a file went, not the server's layout."""
    if config is None or not text:
        return text
    p = config.paths
    for folder, short in ((p.outbox, "outbox"), (p.archive, "archive"),
                          (p.rejected, "rejected")):
        text = text.replace(str(folder) + os.sep, short + "/")
    return text


def _row(row: dict[str, Any], config: Config | None) -> dict[str, Any]:
    reason = _shown(row["reason"], config)
    return {"name": row["name"], "kind": row["kind"], "status": row["status"],
            "received_at": row["received_at"], "sha256": row["sha256"],
            "moved_to": _shown(row["moved_to"], config), "reason": reason,
            "problems": problems_of(reason), "duplicate_of": row.get("duplicate_of", "")}


def inputs(store: Store, config: Config | None, status: str | None, limit: int,
           after: str | None) -> dict[str, Any]:
    found = cast(PagedStore, store).inputs_page(status=status, limit=limit, after=after)
    return {"inputs": [_row(r, config) for r in found.rows], "next": found.next}


LISTING_QUERY = Params((Field("status", choices=tuple(STATUSES),
                              description="only files with this outcome"),
                        *paging_fields(PAGE)))


def _query(request: Request) -> tuple[str | None, int, str | None]:
    """The listing's checked query; after an upload (a route of its own): the first page."""
    query = getattr(request.state, "query", None) or LISTING_QUERY.parse_query(
        {}, lambda name: [])
    return (query["status"], *checked_paging(query, 3))


async def _listing(request: Request) -> dict[str, Any]:
    status, limit, after = _query(request)
    found = await run_in_threadpool(inputs, cast(Store, _ctx(request).store),
                                    _config(request), status, limit, after)
    return {"status": status, **found}


@guarded(Action.VIEW, query=LISTING_QUERY)
async def outbox_page(request: Request, session: Session, user: UserRecord) -> Response:
    try:
        found = await _listing(request)
    except (BadPaging, BadCursor) as exc:
        return _problem(request, 400, str(exc))
    return page(request, "outbox.html", result=None, may_upload=may(user.role, Action.UPLOAD),
                max_bytes=MAX_INPUT_BYTES, **found)


@guarded(Action.VIEW, query=LISTING_QUERY)
async def outbox_api(request: Request, session: Session, user: UserRecord) -> Response:
    """Outbox files received, newest first, a page at a time (``?limit=`` up to 500,
    default 50; ``?after=`` the ``next`` of the page before; ``?status=`` accepted,
    rejected or duplicate): name, kind, status, reason, its problems (line, field,
    message), where the file went; a duplicate (its content already held, set aside) is
    listed too, ``duplicate_of`` the name the content was first received as."""
    try:
        return JSONResponse(await _listing(request))
    except (BadPaging, BadCursor) as exc:
        return _problem(request, 400, str(exc))


async def _file_of(request: Request) -> tuple[str, bytes]:
    """The uploaded file's name and bytes: a form's ``file`` part, or (API) the body
    itself with ``?filename=``."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=10)
        except HTTPException as exc:        # a malformed form, or more than one file
            raise UploadRefused("file", str(exc.detail)) from None
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise UploadRefused("file", "no file in the form (field file)")
        data = await part.read(MAX_INPUT_BYTES + 1)
        return part.filename or "", data
    api = request.url.path.startswith("/api/")
    if kind.startswith("application/x-www-form-urlencoded") and not (
            api and request.query_params.get("filename")):   # curl's default type: raw
        raise UploadRefused("file", "a file upload is multipart/form-data, or (API) the "
                                    "raw body with ?filename=")
    if not api:
        raise UploadRefused("file", "no file in the form (field file)")
    name = request.query_params.get("filename")
    if not name:
        raise UploadRefused("filename", "give the file's name: ?filename=NAME.toml")
    return name, await request.body()      # bounded by the route's max_body


def _audit(store: Store, user: str, result: UploadResult, given: str) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    after = {"sha256": result.sha256, "status": result.status, "kind": result.kind}
    if given != result.name:
        after["name_given"] = given[:300]
    cast(Any, store).record_audit(Change(user, "outbox.upload", result.name, None, after),
                                  now)


@guarded(Action.UPLOAD, max_body=MAX_UPLOAD_BODY, max_files=1, responses={
    201: "accepted: taken into the library or the queue, the file archived",
    202: "waiting: in the outbox, not handled yet (a list waiting for its schemes, or a "
         "daemon that has not taken it yet)",
    400: "no file, or a bad file name (the message names the field)",
    409: "a duplicate: the same content was received before (the first's outcome), or "
         "the store refused it",
    413: "larger than the outbox takes: refused unread, nothing written",
    422: "rejected: its problems by line and field, the file moved to rejected/",
    503: "no outbox on this server, or the outbox or the database is unavailable"})
async def upload(request: Request, session: Session, user: UserRecord) -> Response:
    """Upload a scheme or a meter list into the outbox (multipart field ``file``, or the
    raw body with ``?filename=``): the processor's outcome, 201 accepted, 422 rejected
    (its problems with line and field), 409 a duplicate, 202 still waiting; 413 over
    the outbox's size limit, 400 a bad file name."""
    config = _config(request)
    store = cast(Store, _ctx(request).store)
    if config is None:
        return _problem(request, 503, "this server has no outbox configured")
    try:
        given, data = await _file_of(request)
        result = await run_in_threadpool(
            Handover(config, store).take, given, data,
            lambda done: _audit(store, user.name, done, given))   # every file dropped
    except UploadRefused as exc:
        return await _answer(request, exc.status, error=str(exc))
    except (StorageUnavailable, OSError) as exc:      # the path goes to the log only
        log.warning("web upload by %s: %s", user.name, exc)
        return await _answer(request, 503, error="the outbox or the database is "
                             "unavailable: try again later")
    except StoreError as exc:
        return await _answer(request, 409, error=str(exc))
    log.info("web upload by %s: %s (sha256 %s) %s", user.name, result.name, result.sha256,
             result.status)
    shown = {**result.as_dict(), "reason": _shown(result.reason, config),
             "moved_to": _shown(result.moved_to, config)}
    shown["problems"] = problems_of(shown["reason"])
    return await _answer(request, OUTCOME_STATUS[result.status], result=shown)


async def _answer(request: Request, status: int, *, error: str | None = None,
                  result: dict[str, Any] | None = None) -> Response:
    if request.url.path.startswith("/api/"):
        body = result if error is None else {"error": error, "status": status}
        return JSONResponse(body, status_code=status)
    try:
        found = await _listing(request)
    except (BadPaging, BadCursor):
        found = {}
    user = request.state.user
    response = page(request, "outbox.html", result=result, error=error,
                    may_upload=may(user.role, Action.UPLOAD), max_bytes=MAX_INPUT_BYTES,
                    **{"status": None, "inputs": [], "next": None, **found})
    response.status_code = status
    return response



ROUTES = [
    Route("/outbox", outbox_page, methods=["GET"]),
    Route("/outbox", upload, methods=["POST"]),
    Route("/api/outbox", outbox_api, methods=["GET"]),
    Route("/api/outbox", upload, methods=["POST"]),
]
