"""A scheme drawn as a picture: for each season its week of rate switches, Monday to
Sunday across 24 hours, each stretch coloured by its rate (classes ``rate-1`` ..
``rate-8`` in ``static/app.css``; SVG presentation attributes only, no ``style``).

What is drawn is worked out first (:func:`season_weeks`, :func:`day_segments`: plain data
the tests and the API can read), then drawn (:func:`timetable_svg`). Nothing here
reads a scheme's passwords.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from hhu_sync.model.scheme import WEEKDAYS, DayProfile, Scheme

DAY_MINUTES = 24 * 60
RATE_CLASSES = 8                 # rate-1 .. rate-8 in app.css; others: rate-other
LABEL_W, HOUR_W, ROW_H, HEAD_H = 150, 30, 26, 22
DAY_NAMES = dict(zip(WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
                     strict=True))


@dataclass(frozen=True)
class Segment:
    """A stretch of a day at one rate: from ``start`` to ``end``, minutes after midnight."""

    start: int
    end: int
    rate: int

    @property
    def span(self) -> str:
        return f"{_hhmm(self.start)}–{_hhmm(self.end)}"


@dataclass(frozen=True)
class Row:
    label: str           # Mon .. Sun, or a special day's date
    profile: str         # the day profile's id
    segments: tuple[Segment, ...]   # empty: the profile is not in the scheme


@dataclass(frozen=True)
class SeasonWeek:
    season: str
    start: str           # MM-DD
    until: str           # MM-DD the next season starts ("" when the week is all year)
    week: str
    rows: tuple[Row, ...]


def _minutes(at: str) -> int | None:
    try:
        hours, minutes = at.split(":")
        value = int(hours) * 60 + int(minutes)
    except ValueError:
        return None
    return value if 0 <= value <= DAY_MINUTES else None


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def day_segments(profile: DayProfile) -> tuple[Segment, ...]:
    """Each switch's rate until the next switch, the last until midnight."""
    switches = sorted((m, s.rate) for s in profile.switches
                      if (m := _minutes(s.at)) is not None and m < DAY_MINUTES)
    out = []
    for k, (start, rate) in enumerate(switches):
        end = switches[k + 1][0] if k + 1 < len(switches) else DAY_MINUTES
        if end > start:
            out.append(Segment(start, end, rate))
    return tuple(out)


def season_weeks(scheme: Scheme) -> list[SeasonWeek]:
    """Every season (in date order) with its week's rows, Monday first; a scheme without
    seasons has its one week profile all year."""
    days = {d.id: day_segments(d) for d in scheme.day_profiles}
    weeks = {w.id: w for w in scheme.week_profiles}
    seasons = sorted(scheme.seasons, key=lambda s: s.start)
    plan = [(s.id, s.start, seasons[(k + 1) % len(seasons)].start if len(seasons) > 1
             else "", s.week) for k, s in enumerate(seasons)]
    if not plan and scheme.week_profiles:
        plan = [("all year", "01-01", "", scheme.week_profiles[0].id)]
    out = []
    for season, start, until, week_id in plan:
        week = weeks.get(week_id)
        profiles = week.days if week else ("",) * len(WEEKDAYS)
        rows = tuple(Row(DAY_NAMES[day], p, days.get(p, ()))
                     for day, p in zip(WEEKDAYS, profiles, strict=True))
        out.append(SeasonWeek(season, start, until, week_id, rows))
    return out


def special_rows(scheme: Scheme) -> list[Row]:
    """Each special day (by date) as a row of its own day profile."""
    days = {d.id: day_segments(d) for d in scheme.day_profiles}
    return [Row(s.date, s.day_profile, days.get(s.day_profile, ()))
            for s in sorted(scheme.special_days, key=lambda s: s.date)]


def rate_class(rate: int) -> str:
    return f"rate-{rate}" if 1 <= rate <= RATE_CLASSES else "rate-other"


def x_of(minutes: int) -> float:
    """Where a time of day is drawn, in the SVG's units."""
    return LABEL_W + minutes * HOUR_W / 60


def timetable_svg(rows: list[Row] | tuple[Row, ...], rate_names: dict[int, str], *,
                  title: str) -> Markup:
    """The rows as a timetable: hours across the top, a row a day, a rectangle a stretch
    (its rate in its class, its times and rate name in its tooltip)."""
    width = LABEL_W + 24 * HOUR_W + 8
    height = HEAD_H + ROW_H * len(rows) + 4
    parts = [f'<svg class="timetable" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
             '<g class="timetable-hours">']
    for hour in range(25):
        x = x_of(hour * 60)
        parts.append(f'<line x1="{x:.0f}" x2="{x:.0f}" y1="{HEAD_H - 4}" '
                     f'y2="{height - 4}"/>')
        if hour % 2 == 0:
            anchor = "start" if hour == 0 else "end" if hour == 24 else "middle"
            parts.append(f'<text x="{x:.0f}" y="{HEAD_H - 8}" text-anchor="{anchor}">'
                         f"{hour:02d}</text>")
    parts.append("</g>")
    for k, row in enumerate(rows):
        top = HEAD_H + k * ROW_H
        parts.append(f'<g class="timetable-row" data-day="{escape(row.label)}">'
                     f'<text class="timetable-day" x="4" y="{top + ROW_H * 0.65:.0f}">'
                     f"{escape(row.label)} <tspan class=\"timetable-profile\">"
                     f"{escape(row.profile)}</tspan></text>")
        if not row.segments:
            parts.append(f'<text class="timetable-missing" x="{x_of(12 * 60):.0f}" '
                         f'y="{top + ROW_H * 0.65:.0f}" text-anchor="middle">'
                         f"no day profile {escape(row.profile)}</text>")
        for seg in row.segments:
            x0, x1 = x_of(seg.start), x_of(seg.end)
            name = rate_names.get(seg.rate, f"rate {seg.rate}")
            parts.append(
                f'<rect class="{rate_class(seg.rate)}" x="{x0:.1f}" y="{top + 2}" '
                f'width="{x1 - x0:.1f}" height="{ROW_H - 4}" data-rate="{seg.rate}" '
                f'data-start="{_hhmm(seg.start)}" data-end="{_hhmm(seg.end)}">'
                f"<title>{escape(row.label)} {seg.span}: {escape(name)} "
                f"(rate {seg.rate})</title></rect>")
            if x1 - x0 >= 18:
                parts.append(f'<text class="timetable-rate" x="{(x0 + x1) / 2:.1f}" '
                             f'y="{top + ROW_H * 0.65:.0f}" text-anchor="middle">'
                             f"{seg.rate}</text>")
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))
