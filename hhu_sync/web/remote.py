"""The remote runs pages and ``/api/remote/runs`` (issue 17, point 4): each run of a
remote list (its list, state, when and by whom it was begun, meters settled of all), and
a run's page with each meter's outcome (read, not_found, no_access ..., its attempts and
the depot's runner that read it), live while the run goes on.

A run's progress is in the database, written by whichever depot's daemon reads a meter
(several may share a run), not in this process's dock events: the pages poll their JSON
(``static/remote.js``, every POLL_S) rather than the cradles' event stream.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hhu_sync.remote.runner import upload_id_of
from hhu_sync.store.accounts import UserRecord
from hhu_sync.store.base import ListState, Store
from hhu_sync.store.claim_rules import ClaimState, RemoteRunSummary
from hhu_sync.web.app import Context, guarded, page
from hhu_sync.web.params import Field, Params
from hhu_sync.web.roles import Action
from hhu_sync.web.sessions import Session

POLL_S = 2.0        # how often an open page asks again (static/remote.js reads data-poll)
PAGE = 100          # runs a page by default
#: states of a run still moving: its page keeps asking
LIVE = (ListState.QUEUED, ListState.RUNNING)


def _store(request: Request) -> Store:
    ctx: Context = request.app.state.ctx
    return cast(Store, ctx.store)


def _clock(request: Request) -> float:
    ctx: Context = request.app.state.ctx
    return float(getattr(ctx.sessions, "clock", time.time)())


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
    return page(request, "remote_runs.html", limit=request.state.query["limit"], **found)


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
        one_run, _store(request), delivery_id, _clock(request))
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


ROUTES = [
    Route("/remote", runs_page, methods=["GET"]),
    Route("/api/remote/runs", runs_api, methods=["GET"]),
    Route("/remote/runs/{run_id}", run_page, methods=["GET"]),
    Route("/api/remote/runs/{run_id}", run_api, methods=["GET"]),
]
