"""A meter's load profile page: one chart per channel over a window of days, flagged
intervals marked, with the meter's events and the validation findings of the window.

``/meters/{serial}/profile?days=N&end=YYYY-MM-DD``: ``days`` zooms (1 to 92), ``end``
moves the window (the day after its last interval, UTC); the page links the zooms and
the windows before and after. Charts are server-side SVG like the register charts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hhu_sync.export.interval_rows import flag_names
from hhu_sync.profile.held import series_from_held
from hhu_sync.profile.series import ChannelSeries
from hhu_sync.profile.times import iso_z as _iso
from hhu_sync.store.accounts import UserRecord
from hhu_sync.web.app import Context, guarded, page
from hhu_sync.web.chart import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, nice_ticks
from hhu_sync.web.lists import _problem
from hhu_sync.web.params import Field, Params
from hhu_sync.web.readings import BadParameter, _serial
from hhu_sync.web.roles import Action
from hhu_sync.web.sessions import Session

ZOOMS = (1, 7, 28, 92)
MAX_MARKS = 300               # flagged intervals marked on one chart, at most
PROFILE = Params((
    Field("days", int, minimum=1, maximum=92, default=7, description="the window, days"),
    Field("end", max_length=10, pattern=r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
          description="the day after the window (UTC), YYYY-MM-DD; default: after the "
                      "last interval held"),
))




def profile_chart(one: ChannelSeries, start: int, stop: int, flagged: set[int]) -> Markup:
    """The channel's interval values as a line over [start, stop], intervals the meter
    or validation flagged marked (each with its time, value and flags in a tooltip)."""
    label = f"{one.channel.code} ({one.channel.unit} per {one.interval_s // 60} min)"
    head = (f'<svg class="chart profile-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(label)}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>')
    rows = [(end, v, st) for end, v, st in one.intervals() if start < end <= stop]
    values = [float(one.value(v)) for _, v, _ in rows if v is not None]
    if not values:
        return Markup(head + f'<text class="chart-empty" x="{WIDTH // 2}" y="{HEIGHT // 2}" '
                      'text-anchor="middle">No intervals in this window.</text></svg>')
    ticks = nice_ticks(min(0.0, min(values)), max(values))
    y0, y1 = ticks[0], ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - start) / (stop - start) * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - (v - y0) / (y1 - y0) * plot_h

    parts = [head, '<g class="chart-grid">']
    parts += [f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
              for v in ticks]
    parts.append('</g><g class="chart-axis">')
    parts += [f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:,.6g}</text>'
              for v in ticks]
    days = max(1, round((stop - start) / 86400))
    for k in range(5):
        t = start + (stop - start) * k / 4
        anchor = "start" if k == 0 else "end" if k == 4 else "middle"
        when = datetime.fromtimestamp(t, UTC)
        text = when.strftime("%Y-%m-%d" if days > 2 else "%m-%d %H:%M")
        parts.append(f'<text x="{x(t):.1f}" y="{TOP + plot_h + 18}" text-anchor="{anchor}">'
                     f"{text}</text>")
    parts.append(f'<text class="chart-unit" x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" '
                 'text-anchor="end">interval end (UTC)</text></g>')
    segments: list[list[str]] = [[]]
    previous: int | None = None
    for end, v, _ in rows:          # a gap breaks the line: missing is not zero
        if v is None or (previous is not None and end - previous != one.interval_s):
            segments.append([])
        if v is not None:
            segments[-1].append(f"{x(end):.1f},{y(float(one.value(v))):.1f}")
            previous = end
    for seg in segments:
        if seg:
            parts.append(f'<polyline class="chart-line" fill="none" points="{" ".join(seg)}"/>')
    marks = [(end, v, st) for end, v, st in rows if st or end in flagged][:MAX_MARKS]
    parts.append('<g class="profile-flags">')
    for end, v, st in marks:
        value = float(one.value(v)) if v is not None else y0
        tip = (f"{_iso(end)}: {one.value(v) if v is not None else 'no value'} "
               f"{one.channel.unit}; {flag_names(st) or 'validation finding'}")
        parts.append(f'<circle class="profile-flag" cx="{x(end):.1f}" cy="{y(value):.1f}" '
                     f'r="4"><title>{escape(tip)}</title></circle>')
    parts.append("</g></svg>")
    return Markup("".join(parts))


def window(store: Any, serial: str, days: int, end_day: str | None) -> tuple[int, int]:
    if end_day:
        stop_day = date.fromisoformat(end_day)
    else:
        ends = store.last_interval_ends(serial)
        last = max(ends.values()) if ends else int(datetime.now(UTC).timestamp())
        stop_day = datetime.fromtimestamp(last - 1, UTC).date() + timedelta(days=1)
    stop = int(datetime.combine(stop_day, datetime.min.time(), UTC).timestamp())
    return stop - days * 86400, stop


def profile_data(store: Any, serial: str, days: int, end_day: str | None,
                 with_charts: bool) -> dict[str, Any] | None:
    if not store.last_interval_ends(serial) and not store.meter_events(serial):
        return None
    start, stop = window(store, serial, days, end_day)
    held = store.intervals(serial, since=start + 1, until=stop)
    findings = store.vee_findings(serial, since=start + 1, until=stop)
    flagged: dict[str, set[int]] = {}
    series = series_from_held(held)
    for _code, channel, first, last, _count, _detail, _upload in findings:
        if first is None:
            continue
        for one in series:
            if channel in ("", one.channel.code):
                flagged.setdefault(one.channel.code, set()).update(
                    end for end, _, _ in one.intervals() if first <= end <= last)
    channels = []
    for one in series:
        entry: dict[str, Any] = {
            "channel": one.channel.code, "unit": one.channel.unit,
            "interval_minutes": one.interval_s // 60, "count": one.count(),
            "flagged": len({e for e, _, st in one.intervals() if st}
                           | flagged.get(one.channel.code, set()))}
        if with_charts:
            entry["svg"] = profile_chart(one, start, stop,
                                         flagged.get(one.channel.code, set()))
        else:
            entry["intervals"] = [{"end_utc": _iso(e), "value": None if v is None
                                   else format(one.value(v), "f"), "status": st,
                                   "flags": flag_names(st)} for e, v, st in one.intervals()]
        channels.append(entry)
    events = [{"at_utc": _iso(e.at), "kind": e.kind, "code": e.code, "data": dict(e.data)}
              for e in store.meter_events(serial, since=start + 1, until=stop)]
    stop_day = datetime.fromtimestamp(stop, UTC).date()
    return {"serial": serial, "days": days, "start_utc": _iso(start), "end_utc": _iso(stop),
            "end": stop_day.isoformat(),
            "earlier": (stop_day - timedelta(days=days)).isoformat(),
            "later": (stop_day + timedelta(days=days)).isoformat(),
            "channels": channels, "events": events,
            "findings": [{"code": c, "channel": ch, "first_end_utc": _iso(f),
                          "last_end_utc": _iso(la), "count": n, "detail": d, "upload": u}
                         for c, ch, f, la, n, d, u in findings]}


def _query(request: Request) -> tuple[int, str | None]:
    raw = request.query_params.get("days", "7")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 92:
        raise BadParameter("days: a whole number of days, 1 to 92")
    end = request.query_params.get("end")
    if end is not None:
        try:
            date.fromisoformat(end)
        except ValueError:
            raise BadParameter("end: a date YYYY-MM-DD") from None
        if len(end) != 10:
            raise BadParameter("end: a date YYYY-MM-DD")
    return int(raw), end


def _store(request: Request) -> Any:
    ctx: Context = request.app.state.ctx
    return ctx.store


@guarded(Action.VIEW, query=PROFILE)
async def profile_page(request: Request, session: Session, user: UserRecord) -> Response:
    try:
        serial, (days, end) = _serial(request), _query(request)
    except BadParameter as exc:
        return _problem(request, 400, str(exc))
    found = await run_in_threadpool(profile_data, _store(request), serial, days, end, True)
    if found is None:
        return _problem(request, 404, f"no load profile or events held for meter {serial!r}")
    return page(request, "profile.html", p=found, zooms=ZOOMS)


@guarded(Action.VIEW, query=PROFILE)
async def profile_api(request: Request, session: Session, user: UserRecord) -> Response:
    """A meter's intervals over a window of days (``?days=`` 1-92, ``?end=`` the day after
    it, UTC): per channel each interval's UTC end, value, status bits and their names;
    the meter's events and the validation findings in the window."""
    try:
        serial, (days, end) = _serial(request), _query(request)
    except BadParameter as exc:
        return _problem(request, 400, str(exc))
    found = await run_in_threadpool(profile_data, _store(request), serial, days, end, False)
    if found is None:
        return _problem(request, 404, f"no load profile or events held for meter {serial!r}")
    return JSONResponse(found)


ROUTES = [
    Route("/meters/{serial}/profile", profile_page, methods=["GET"]),
    Route("/api/meters/{serial}/profile", profile_api, methods=["GET"]),
]
