"""The scheme library pages and ``/api/schemes``: every scheme held with its version,
and one scheme drawn: each season's week of rate switches as a coloured timetable, its
special days, its demand period, billing reset and displays.

A scheme names the key-store secrets that hold its meter passwords; neither they nor
their names leave the depot: :func:`public_scheme` drops them before a page or an answer
is made of a scheme.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hhu_sync.model.scheme import Scheme
from hhu_sync.store.accounts import UserRecord
from hhu_sync.store.base import LibraryEntry, Store
from hhu_sync.web.app import Context, guarded, page
from hhu_sync.web.lists import _problem
from hhu_sync.web.roles import Action
from hhu_sync.web.sessions import Session
from hhu_sync.web.timetable import (
    rate_class,
    season_weeks,
    special_rows,
    timetable_svg,
)

_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: what of a scheme is never shown: the secrets its password levels name
SECRET_FIELDS = frozenset({"passwords"})


def _store(request: Request) -> Store:
    ctx: Context = request.app.state.ctx
    return cast(Store, ctx.store)


def public_scheme(scheme: Scheme) -> dict[str, Any]:
    """The scheme as plain data without its password levels' secrets."""
    return {k: v for k, v in scheme.to_dict().items() if k not in SECRET_FIELDS}


def library(store: Store) -> list[dict[str, Any]]:
    return [asdict(e) for e in store.library_entries()]


def one_scheme(store: Store, scheme_id: str) -> dict[str, Any] | None:
    """The scheme (no passwords), its library row, its seasons' weeks and special days."""
    scheme = store.scheme(scheme_id)
    if scheme is None:
        return None
    entry: LibraryEntry | None = next(
        (e for e in store.library_entries() if e.scheme_id == scheme_id), None)
    return {"scheme": public_scheme(scheme),
            "library": asdict(entry) if entry else None,
            "seasons": [asdict(s) for s in season_weeks(scheme)],
            "special_days": [asdict(r) for r in special_rows(scheme)],
            "_scheme": scheme}


def drawn(found: dict[str, Any]) -> dict[str, Any]:
    """The page's pictures: a timetable a season, one for the special days, a legend."""
    scheme: Scheme = found["_scheme"]
    names = {r.number: r.name for r in scheme.rates}
    weeks = season_weeks(scheme)
    specials = special_rows(scheme)
    return {
        "seasons": [{"season": w.season, "start": w.start, "until": w.until,
                     "week": w.week,
                     "svg": timetable_svg(w.rows, names,
                                          title=f"{scheme.id}: season {w.season}, "
                                                f"week {w.week}")}
                    for w in weeks],
        "specials_svg": timetable_svg(specials, names, title=f"{scheme.id}: special days")
        if specials else None,
        "legend": [{"number": r.number, "name": r.name, "registers": r.registers,
                    "css": rate_class(r.number)} for r in scheme.rates],
    }


def _scheme_id(request: Request) -> str | None:
    scheme_id = request.path_params["scheme_id"]
    return scheme_id if _IDENT.fullmatch(scheme_id) else None


_BAD_ID = "scheme_id: a scheme id is 1-64 letters, digits, '.', '_' or '-'"


@guarded(Action.VIEW)
async def schemes_page(request: Request, session: Session, user: UserRecord) -> Response:
    return page(request, "schemes.html",
                schemes=await run_in_threadpool(library, _store(request)))


@guarded(Action.VIEW)
async def schemes_api(request: Request, session: Session, user: UserRecord) -> Response:
    """The scheme library: every scheme's id, version, model, when taken, from which file."""
    return JSONResponse({"schemes": await run_in_threadpool(library, _store(request))})


async def _found(request: Request) -> dict[str, Any] | Response:
    """The scheme the path names (:func:`one_scheme`), or the 400/404 answer."""
    scheme_id = _scheme_id(request)
    if scheme_id is None:
        return _problem(request, 400, _BAD_ID)
    found = await run_in_threadpool(one_scheme, _store(request), scheme_id)
    if found is None:
        return _problem(request, 404, f"no scheme {scheme_id!r} in the library")
    return found


@guarded(Action.VIEW)
async def scheme_page(request: Request, session: Session, user: UserRecord) -> Response:
    found = await _found(request)
    if isinstance(found, Response):
        return found
    return page(request, "scheme.html", s=found["scheme"], entry=found["library"],
                specials=found["special_days"], **drawn(found))


@guarded(Action.VIEW)
async def scheme_api(request: Request, session: Session, user: UserRecord) -> Response:
    """One scheme (its password levels' secrets removed), its library row, each season's
    week (per day: profile and rate stretches in minutes) and its special days."""
    found = await _found(request)
    if isinstance(found, Response):
        return found
    found.pop("_scheme")
    return JSONResponse(found)


ROUTES = [
    Route("/schemes", schemes_page, methods=["GET"]),
    Route("/api/schemes", schemes_api, methods=["GET"]),
    Route("/schemes/{scheme_id}", scheme_page, methods=["GET"]),
    Route("/api/schemes/{scheme_id}", scheme_api, methods=["GET"]),
]
