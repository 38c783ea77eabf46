"""The readings pages and their API: meters found by serial, site or list; a meter's
page with its registers, each register's history (table and chart) and its visits.

Pages are keyset-paged in a stable order (meters by serial; a meter's history register
by register in OBIS order, each newest first), so every page costs what the first does
(the store answers each from an index: :mod:`hhu_sync.store.readings_view`). The
cursor of a meter's history is ``OBIS|TIME`` (the last row shown), given back as
``next``. Every parameter is checked and bounded; a bad one is 400 naming it.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hhu_sync.ingest.fields import fixed_form
from hhu_sync.store.accounts import UserRecord
from hhu_sync.store.readings_view import ReadingRow, ReadingsView, RegisterSummary
from hhu_sync.web.app import Context, guarded, page
from hhu_sync.web.chart import line_chart, points
from hhu_sync.web.lists import _problem
from hhu_sync.web.params import Field, Params
from hhu_sync.web.roles import Action
from hhu_sync.web.sessions import Session

PAGE = 50                 # rows a page unless ?limit= says fewer or more
MAX_LIMIT = 200
MAX_CHARTS = 8            # registers drawn on a meter's page when none is chosen
CHART_POINTS = 500        # the newest readings a chart draws
VISITS = 100              # the newest visits a meter's page lists

_SERIAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")
_PREFIX = re.compile(r"[A-Za-z0-9-]{0,32}")
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_OBIS = re.compile(r"[A-Za-z0-9.:*-]{1,32}")
_TIME = re.compile(r"[0-9T:.+Z-]{10,40}")
_NO_CONTROL = r"[^\x00-\x1f\x7f-\x9f]*"
_CURSOR = rf"(?:{_OBIS.pattern})\|(?:{_TIME.pattern})"
MAX_SITE = 100


class BadParameter(ValueError):
    """A query or path parameter out of form; the message names it."""


def _view(request: Request) -> ReadingsView:
    ctx: Context = request.app.state.ctx
    return cast(ReadingsView, ctx.store)


def _catalog(request: Request) -> Path | None:
    """The configured meter-model catalog (which models take CT/VT ratios): the one the
    exports are written with, so a value's basis here is the billing file's."""
    ctx: Context = request.app.state.ctx
    config = ctx.extra.get("config")
    return config.paths.catalog if config is not None else None


SEARCH = Params((
    Field("meter", max_length=32, pattern=_PREFIX.pattern, default="",
          description="a serial's start: up to 32 letters, digits or '-'"),
    Field("site", max_length=MAX_SITE, pattern=_NO_CONTROL,
          description="a site's start, any case"),
    Field("list", max_length=64, pattern=_IDENT.pattern, description="a list id"),
    Field("after", max_length=32, pattern=_SERIAL.pattern,
          description="the next a page gave (the last serial seen)"),
    Field("limit", int, minimum=1, maximum=MAX_LIMIT, default=PAGE),
))
HISTORY = Params((
    Field("obis", max_length=32, pattern=_OBIS.pattern, description="one register"),
    Field("after", max_length=80, pattern=_CURSOR,
          description="the next a page gave (OBIS|TIME of the last row seen)"),
    Field("limit", int, minimum=1, maximum=MAX_LIMIT, default=PAGE),
))


def search_query(request: Request) -> dict[str, Any]:
    """The search's parameters, checked (``SEARCH``): ``meter`` (a serial prefix), ``site``
    (a site's start, any case), ``list`` (a list id), ``after`` (the last serial seen),
    ``limit``."""
    return dict(request.state.query)


def search(view: ReadingsView, query: dict[str, Any]) -> dict[str, Any]:
    """One page of meters, and the cursor of the next (None: this is the last)."""
    found = view.find_meters(prefix=query["meter"], site=query["site"],
                             list_id=query["list"], after=query["after"],
                             limit=query["limit"] + 1)
    more = len(found) > query["limit"]
    found = found[:query["limit"]]
    return {"meters": [asdict(m) for m in found],
            "next": found[-1].serial if more else None}


def _serial(request: Request) -> str:
    serial = request.path_params["serial"]
    if not _SERIAL.fullmatch(serial):
        raise BadParameter("serial: a meter serial is 1-32 letters, digits or '-'")
    return serial


def history_query(request: Request) -> dict[str, Any]:
    """``obis`` (one register), ``after`` (``OBIS|TIME``, the last row seen, of that
    register when one is chosen), ``limit``; their forms checked by ``HISTORY``."""
    q = request.state.query
    obis, cursor = q["obis"], None
    if q["after"] is not None:
        reg, _, time = q["after"].partition("|")
        if obis is not None and reg != obis:
            raise BadParameter(f"after: the next cursor a page gave (OBIS|TIME of register "
                               f"{obis})")
        cursor = (reg, time)
    return {"obis": obis, "after": cursor, "limit": q["limit"]}


def history(view: ReadingsView, serial: str, registers: list[RegisterSummary],
            query: dict[str, Any], catalog: Path | None = None) -> dict[str, Any]:
    """A page of the meter's readings: register by register in OBIS order, each newest
    first, from the cursor on; each register's rows are one index range."""
    limit = query["limit"]
    wanted = [query["obis"]] if query["obis"] else [r.obis for r in registers]
    start, before = query["after"] or (None, None)
    rows: list[ReadingRow] = []
    for obis in wanted:
        if start is not None and obis < start:
            continue
        rows += view.register_readings(serial, obis, before=before if obis == start else None,
                                       limit=limit + 1 - len(rows), catalog=catalog)
        if len(rows) > limit:
            break
    more = len(rows) > limit
    rows = rows[:limit]
    return {"readings": [asdict(r) for r in rows],
            "next": f"{rows[-1].obis}|{rows[-1].time}" if more else None}


def chartable(register: RegisterSummary) -> bool:
    """A register whose values are quantities: not the flags, an id, the clock or date."""
    return fixed_form(register.obis) is None


def _basis_of(row: ReadingRow | None) -> dict[str, str]:
    if row is None:
        return {"multiplier": "", "value_basis": "", "value_primary": "", "scheme": ""}
    return {"multiplier": row.multiplier, "value_basis": row.value_basis,
            "value_primary": row.value_primary, "scheme": row.scheme}


def meter(view: ReadingsView, serial: str, catalog: Path | None = None
          ) -> dict[str, Any] | None:
    """The meter: the lists that place it, its registers (the latest value with its
    basis, as the export says it), its newest visits; None when the depot knows
    nothing of it."""
    registers = view.meter_registers(serial)
    places = view.meter_places(serial)
    visits = view.meter_visits(serial, VISITS)
    if not (registers or places or visits):
        return None
    latest = view.registers_readings(serial, [(r.obis, 1) for r in registers],
                                     catalog=catalog)
    described = [{**asdict(reg), **_basis_of(rows[0] if rows else None)}
                 for reg, rows in zip(registers, latest, strict=True)]
    return {"serial": serial, "places": [asdict(p) for p in places],
            "registers": described,
            "visits": [asdict(v) for v in visits], "_registers": registers}


def chart_values(rows: list[ReadingRow]) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The (time, value) pairs a chart draws, all on one basis, and what it says of them.

    As the exports bill them: a value a transformer scales is drawn as its primary
    quantity (``value_primary``: a secondary value times its multiplier, a primary one as
    read); one whose basis is ``unknown`` has no primary quantity and is left out
    (counted), unless no value has one: then all are drawn as read, and said to be of
    unknown basis. A register no transformer scales (no basis) is drawn as read. Never
    secondary and primary values on one line."""
    known = [r for r in rows if r.value_basis in ("primary", "secondary")]
    if not known:
        basis = "unknown" if any(r.value_basis == "unknown" for r in rows) else ""
        return [(r.time, r.value) for r in rows], {
            "basis": basis, "unknown": 0, "converted": 0, "multipliers": []}
    secondary = [r for r in known if r.value_basis == "secondary"]
    # a value that is no number has no value_primary: drawn from its text, it is skipped
    # as one that is not a number
    pairs = [(r.time, r.value_primary or r.value) for r in known]
    return pairs, {"basis": "primary", "unknown": len(rows) - len(known),
                   "converted": len(secondary),
                   "multipliers": sorted({r.multiplier for r in secondary}, key=_number)}


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def charts(view: ReadingsView, serial: str, registers: list[RegisterSummary],
           obis: str | None, catalog: Path | None = None) -> dict[str, Any]:
    """A chart for the chosen register, or for each register worth drawing (never for a
    flag word, whose hex digits can look like a number), up to ``MAX_CHARTS``: the
    answer says how many could be drawn (``of``)."""
    worth = [r for r in registers if chartable(r) and (obis is None or r.obis == obis)]
    chosen = worth[:1] if obis else worth[:MAX_CHARTS]
    out = []
    drawn = view.registers_readings(serial, [(r.obis, CHART_POINTS) for r in chosen],
                                    catalog=catalog)
    for reg, rows in zip(chosen, drawn, strict=True):
        pairs, said = chart_values(rows)
        pts = points(pairs)
        shown = {"primary": "primary", "unknown": "as read, basis unknown"}.get(said["basis"])
        unit = ", ".join(x for x in (reg.unit, shown) if x)
        out.append({"obis": reg.obis, "unit": reg.unit, "drawn": len(pts),
                    "skipped": len(pairs) - len(pts), **said,
                    "svg": line_chart(pts, title=f"{serial} {reg.obis}", unit=unit)})
    return {"drawn": out, "of": len(worth)}


def meter_page_data(view: ReadingsView, serial: str, query: dict[str, Any],
                    catalog: Path | None = None) -> dict[str, Any] | None:
    found = meter(view, serial, catalog)
    if found is None:
        return None
    registers = found.pop("_registers")
    if query["obis"] is not None and query["obis"] not in {r.obis for r in registers}:
        raise LookupError(f"meter {serial} has no register {query['obis']}")
    drawn = charts(view, serial, registers, query["obis"], catalog)
    return {**found, "history": history(view, serial, registers, query, catalog),
            "charts": drawn["drawn"], "charts_of": drawn["of"]}


# -- routes -----------------------------------------------------------------------------

@guarded(Action.VIEW, query=SEARCH)
async def readings_page(request: Request, session: Session, user: UserRecord) -> Response:
    try:
        query = search_query(request)
    except BadParameter as exc:
        return _problem(request, 400, str(exc))
    found = await run_in_threadpool(search, _view(request), query)
    searched = any(query[k] for k in ("meter", "site", "list"))
    return page(request, "readings.html", query=query, searched=searched, **found)


@guarded(Action.VIEW, query=SEARCH)
async def readings_api(request: Request, session: Session, user: UserRecord) -> Response:
    """Meters by serial prefix (``?meter=``), site start (``?site=``) or list (``?list=``),
    by serial, a page at a time (``?after=`` the ``next`` a page gave, ``?limit=`` up to
    200): each with its site, how many readings and the latest's time."""
    try:
        query = search_query(request)
    except BadParameter as exc:
        return _problem(request, 400, str(exc))
    return JSONResponse(await run_in_threadpool(search, _view(request), query))


@guarded(Action.VIEW, query=HISTORY)
async def meter_page(request: Request, session: Session, user: UserRecord) -> Response:
    try:
        serial, query = _serial(request), history_query(request)
        found = await run_in_threadpool(meter_page_data, _view(request), serial, query,
                                        _catalog(request))
    except BadParameter as exc:
        return _problem(request, 400, str(exc))
    except LookupError as exc:
        return _problem(request, 404, str(exc))
    if found is None:
        return _problem(request, 404, f"no meter {serial!r} in the depot's readings, "
                                      "visits or lists")
    return page(request, "meter.html", m=found, query=query)


@guarded(Action.VIEW)
async def meter_api(request: Request, session: Session, user: UserRecord) -> Response:
    """One meter: the lists that place it (site), its registers (readings, first,
    latest, latest value with its basis as the export gives it: ``value_basis``
    primary/secondary/unknown, ``multiplier``, ``value_primary``, ``scheme``) and its
    newest 100 visits (list, outcome, notes)."""
    try:
        serial = _serial(request)
    except BadParameter as exc:
        return _problem(request, 400, str(exc))
    found = await run_in_threadpool(meter, _view(request), serial, _catalog(request))
    if found is None:
        return _problem(request, 404, f"no meter {serial!r}")
    found.pop("_registers")
    return JSONResponse(found)


def _meter_readings(view: ReadingsView, serial: str, query: dict[str, Any],
                    catalog: Path | None = None) -> dict[str, Any] | None:
    registers = view.meter_registers(serial)
    if not registers:
        return None
    if query["obis"] is not None and query["obis"] not in {r.obis for r in registers}:
        raise LookupError(f"meter {serial} has no register {query['obis']}")
    return {"serial": serial, "obis": query["obis"],
            **history(view, serial, registers, query, catalog)}


@guarded(Action.VIEW, query=HISTORY)
async def meter_readings_api(request: Request, session: Session, user: UserRecord
                             ) -> Response:
    """A meter's readings (obis, time, value, unit, status, upload, HHU, and as the export
    gives them: ``value_basis`` primary/secondary/unknown, empty for a register no
    transformer scales; ``multiplier`` CT x VT; ``value_primary``; ``scheme``): register by
    register in OBIS order, each newest first (``?obis=`` one register), a page at a
    time (``?after=`` the ``next`` a page gave, ``?limit=`` up to 200)."""
    try:
        serial, query = _serial(request), history_query(request)
        found = await run_in_threadpool(_meter_readings, _view(request), serial, query,
                                        _catalog(request))
    except BadParameter as exc:
        return _problem(request, 400, str(exc))
    except LookupError as exc:
        return _problem(request, 404, str(exc))
    if found is None:
        return _problem(request, 404, f"no readings of meter {serial!r}")
    return JSONResponse(found)


ROUTES = [
    Route("/readings", readings_page, methods=["GET"]),
    Route("/api/readings", readings_api, methods=["GET"]),
    Route("/meters/{serial}", meter_page, methods=["GET"]),
    Route("/api/meters/{serial}", meter_api, methods=["GET"]),
    Route("/api/meters/{serial}/readings", meter_readings_api, methods=["GET"]),
]
