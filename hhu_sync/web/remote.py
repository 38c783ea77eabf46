"""The remote runs pages and ``/api/remote/runs`` (issue 17, point 4): each run of a
remote list (its list, state, when and by whom it was begun, meters settled of all), and
a run's page with each meter's outcome (read, not_found, no_access ..., its attempts and
the depot's runner that read it), live while the run goes on.

Live as the docks page is, over server-sent events (``.../events``), but fed from the
database: a run's progress is written by whichever depot's daemon reads a meter (several
may share a run), not by this process's dock events, so one poller a watched run
(:mod:`hhu_sync.web.remote_feed`) reads it every POLL_S and sends it when it changed.
``static/remote.js`` redraws the tables from each event (and asks the JSON every POLL_S
in a browser without EventSource).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hhu_sync.remote.runner import upload_id_of
from hhu_sync.store.accounts import UserRecord
from hhu_sync.store.base import ListState, Store
from hhu_sync.store.claim_rules import ClaimState, RemoteRunSummary
from hhu_sync.web.app import Context, guarded, page
from hhu_sync.web.params import Field, Params
from hhu_sync.web.remote_feed import POLL_S, RemoteFeed
from hhu_sync.web.roles import Action
from hhu_sync.web.sessions import Session

PAGE = 100          # runs a page by default
#: states of a run still moving: its page keeps asking
LIVE = (ListState.QUEUED, ListState.RUNNING)


def _store(request: Request) -> Store:
    ctx: Context = request.app.state.ctx
    return cast(Store, ctx.store)


def _clock(request: Request) -> Callable[[], float]:
    ctx: Context = request.app.state.ctx
    clock: Callable[[], float] = getattr(ctx.sessions, "clock", time.time)
    return clock


def _feed(request: Request) -> RemoteFeed:
    ctx: Context = request.app.state.ctx
    feed = ctx.extra.get("remote_feed")
    if feed is None:
        feed = ctx.extra["remote_feed"] = RemoteFeed(ctx.closing)
    return cast(RemoteFeed, feed)


def _events(request: Request, key: str, read: Callable[[], dict[str, Any] | None]
            ) -> Response:
    return StreamingResponse(_feed(request).stream(key, read),
                             media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


def _problem(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    response = page(request, "error.html", status=status, message=message)
    response.status_code = status
    return response


def _summary(s: RemoteRunSummary) -> dict[str, Any]:
    """A run as JSON: ``total`` its list's meters, ``settled`` those done or skipped."""
    out = {**asdict(s), "readers": list(s.readers), "live": s.state in LIVE}
    out["total"] = out.pop("meters")
    return out


def runs(store: Store, limit: int = PAGE) -> dict[str, Any]:
    """The latest runs of remote lists, newest first."""
    return {"runs": [_summary(s) for s in store.remote_run_summaries(limit)],
            "poll_seconds": POLL_S}


def one_run(store: Store, delivery_id: int, now: float) -> dict[str, Any] | None:
    """A run and each meter of its list: ``waiting`` (nobody has it yet), ``reading``
    (a runner holds it, its lease live), ``lapsed`` (its runner's lease ran out: another
    takes it over), ``done`` or ``skipped``; the visit's outcome once stored."""
    found = store.remote_run_summaries(delivery_id=delivery_id)
    if not found:
        return None
    summary = found[0]
    mlist = store.get_list(summary.list_id)
    view = store.list_view(summary.list_id)
    if mlist is None or view is None:
        return None
    claims = {c.seq: c for c in store.remote_claims(delivery_id)}
    visits = {v["upload_id"]: v for v in view["visits"]}
    meters = []
    for seq, entry in enumerate(mlist.meters):
        claim = claims.get(seq)
        upload_id = (claim.upload_id if claim and claim.upload_id
                     else upload_id_of(delivery_id, seq, mlist.id))
        visit = visits.get(upload_id)
        if claim is None:
            state = "done" if visit else "waiting"
        elif claim.state == ClaimState.CLAIMED:
            state = "reading" if claim.lease_until > now else "lapsed"
        else:
            state = claim.state
        outcome = visit["outcome"] if visit else (
            claim.outcome if claim and claim.state != ClaimState.CLAIMED else None)
        meters.append({
            "seq": seq, "serial": entry.serial, "site": entry.site, "port": entry.port,
            "device_address": entry.device_address, "state": state, "outcome": outcome,
            "attempts": claim.attempts if claim else 0,
            "runner": claim.runner if claim else None,
            "takeovers": claim.takeovers if claim else 0,
            "claimed_at": claim.claimed_at if claim else None,
            "lease_until": (datetime.fromtimestamp(claim.lease_until, UTC)
                            .isoformat(timespec="seconds")
                            if claim and claim.state == ClaimState.CLAIMED
                            and claim.lease_until > 0 else None),
            "finished_at": claim.finished_at if claim else None,
            "notes": visit["notes"] if visit and visit["notes"] else (
                claim.notes if claim else ""),
            "upload_id": upload_id if visit else None,
        })
    return {**_summary(summary), "meters": meters, "poll_seconds": POLL_S}


RUNS_QUERY = Params((Field("limit", int, minimum=1, maximum=500, default=PAGE,
                           description="runs to show, newest first"),))


def _run_id(request: Request) -> int | None:
    raw = request.path_params["run_id"]
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


@guarded(Action.VIEW, query=RUNS_QUERY)
async def runs_page(request: Request, session: Session, user: UserRecord) -> Response:
    found = await run_in_threadpool(runs, _store(request), request.state.query["limit"])
    return page(request, "remote_runs.html", limit=request.state.query["limit"],
                default_limit=PAGE, **found)


@guarded(Action.VIEW, query=RUNS_QUERY)
async def runs_api(request: Request, session: Session, user: UserRecord) -> Response:
    """The runs of remote lists, newest first (``?limit=`` up to 500, default 100):
    list, state, queued and started at, the runner that began it, meters settled of
    all, meters claimed now, every depot's runner that read one."""
    return JSONResponse(await run_in_threadpool(runs, _store(request),
                                                request.state.query["limit"]))


async def _one(request: Request) -> dict[str, Any] | Response:
    delivery_id = _run_id(request)
    found = None if delivery_id is None else await run_in_threadpool(
        one_run, _store(request), delivery_id, _clock(request)())
    if found is None:
        return _problem(request, 404, f"no remote run {request.path_params['run_id']!r}")
    return found


@guarded(Action.VIEW)
async def run_page(request: Request, session: Session, user: UserRecord) -> Response:
    found = await _one(request)
    if isinstance(found, Response):
        return found
    return page(request, "remote_run.html", run=found)


@guarded(Action.VIEW)
async def run_api(request: Request, session: Session, user: UserRecord) -> Response:
    """One remote run (its delivery id) and each meter: state (waiting, reading, lapsed,
    done, skipped), the visit's outcome, attempts, the runner that has or read it."""
    found = await _one(request)
    if isinstance(found, Response):
        return found
    return JSONResponse(found)


@guarded(Action.VIEW)
async def runs_events(request: Request, session: Session, user: UserRecord) -> Response:
    """Server-sent events: ``runs`` (the latest 100 runs, as GET /api/remote/runs gives
    them) first, then again whenever they change (read every 2 s); a comment every 15 s
    keeps proxies from closing the stream."""
    store = _store(request)
    return _events(request, "runs", lambda: runs(store))


@guarded(Action.VIEW)
async def run_events(request: Request, session: Session, user: UserRecord) -> Response:
    """Server-sent events: ``run`` (the run and its meters, as GET
    /api/remote/runs/{run_id} gives them) first, then again whenever a meter moves on
    (read every 2 s, whichever depot reads it); a comment every 15 s keeps proxies from
    closing the stream."""
    found = await _one(request)
    if isinstance(found, Response):
        return found
    store, clock, delivery_id = _store(request), _clock(request), int(found["delivery_id"])
    return _events(request, f"run:{delivery_id}",
                   lambda: one_run(store, delivery_id, clock()))


ROUTES = [
    Route("/remote", runs_page, methods=["GET"]),
    Route("/api/remote/runs", runs_api, methods=["GET"]),
    Route("/api/remote/runs/events", runs_events, methods=["GET"]),
    Route("/remote/runs/{run_id}", run_page, methods=["GET"]),
    Route("/api/remote/runs/{run_id}", run_api, methods=["GET"]),
    Route("/api/remote/runs/{run_id}/events", run_events, methods=["GET"]),
]
