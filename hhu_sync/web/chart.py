"""A register's values over time drawn on the server as SVG: no script, no library, and
nothing the Content-Security-Policy forbids (presentation attributes and classes from
``static/app.css``, never a ``style``).

Values are text in the store; only plain decimal numbers are drawn (a flag word, a clock
or a value the meter garbled is skipped, never an error). Every text in the picture is
escaped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from markupsafe import Markup, escape

from hhu_sync.export.cells import is_plain_number

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 26, 40       # the margins the axes and labels use
TICKS = 5
MAX_POINTS = 500                                # the most a chart draws (the newest)


@dataclass(frozen=True)
class Point:
    when: datetime
    value: float
    time: str         # as stored
    text: str         # the value as stored


def points(readings: Iterable[tuple[str, str]]) -> list[Point]:
    """(time, value) pairs as chart points, oldest first; a value that is not a plain
    decimal number, or a time that is not ISO 8601, is skipped."""
    out = []
    for time, value in readings:
        if not is_plain_number(value):
            continue
        try:
            number = float(Decimal(value))
            when = datetime.fromisoformat(time)
        except (InvalidOperation, ValueError):
            continue
        if not math.isfinite(number):
            continue
        out.append(Point(when if when.tzinfo else when.replace(tzinfo=UTC), number, time,
                         value))
    out.sort(key=lambda p: p.when)
    return out[-MAX_POINTS:]


def nice_ticks(low: float, high: float, count: int = TICKS) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) covering low..high."""
    if high <= low:
        spread = abs(low) * 0.1 or 1.0
        low, high = low - spread, high + spread
    raw = (high - low) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = [first]
    while ticks[-1] < high - step * 1e-9 or len(ticks) < 2:
        ticks.append(first + len(ticks) * step)
    return [round(t, 12) for t in ticks]


def _number(value: float) -> str:
    return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:.3g}"


def _when(when: datetime, span_s: float) -> str:
    return when.strftime("%Y-%m-%d" if span_s > 3 * 86400 else "%m-%d %H:%M")


def line_chart(pts: list[Point], *, title: str, unit: str = "") -> Markup:
    """The points as an SVG line with its axes: values up the left, times along the
    bottom (UTC), each point's time and value in its tooltip."""
    label = f"{title} ({unit})" if unit else title
    head = (f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
            f'height="{HEIGHT}" role="img" aria-label="{escape(label)}" '
            'xmlns="http://www.w3.org/2000/svg">'
            f"<title>{escape(label)}</title>")
    if not pts:
        return Markup(head + f'<text class="chart-empty" x="{WIDTH // 2}" y="{HEIGHT // 2}" '
                      'text-anchor="middle">No numeric values to draw.</text></svg>')
    values = [p.value for p in pts]
    yticks = nice_ticks(min(values), max(values))
    y0, y1 = yticks[0], yticks[-1]
    t0, t1 = pts[0].when.timestamp(), pts[-1].when.timestamp()
    if t1 <= t0:
        t0, t1 = t0 - 3600, t1 + 3600
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - (v - y0) / (y1 - y0) * plot_h

    parts = [head, '<g class="chart-grid">']
    for v in yticks:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" '
                     f'y2="{y(v):.1f}"/>')
    parts.append('</g><g class="chart-axis">')
    parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}"/>')
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" '
                 f'y2="{TOP + plot_h}"/>')
    for v in yticks:
        parts.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">'
                     f"{escape(_number(v))}</text>")
    span = t1 - t0
    for k in range(TICKS):
        t = t0 + span * k / (TICKS - 1)
        anchor = "start" if k == 0 else "end" if k == TICKS - 1 else "middle"
        when = datetime.fromtimestamp(t, UTC)
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{TOP + plot_h}" '
                     f'y2="{TOP + plot_h + 4}"/>'
                     f'<text x="{x(t):.1f}" y="{TOP + plot_h + 18}" text-anchor="{anchor}">'
                     f"{escape(_when(when, span))}</text>")
    if unit:
        # from the left edge: a long label ("kWh, primary") must not run off it
        parts.append(f'<text class="chart-unit" x="4" y="{TOP - 12}" '
                     f'text-anchor="start">{escape(unit)}</text>')
    parts.append(f'<text class="chart-unit" x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" '
                 'text-anchor="end">time (UTC)</text></g>')
    line = " ".join(f"{x(p.when.timestamp()):.1f},{y(p.value):.1f}" for p in pts)
    parts.append(f'<polyline class="chart-line" fill="none" points="{line}"/>')
    parts.append('<g class="chart-points">')
    for p in pts:
        tip = f"{p.time}: {p.text} {unit}".rstrip()
        parts.append(f'<circle cx="{x(p.when.timestamp()):.1f}" cy="{y(p.value):.1f}" r="3">'
                     f"<title>{escape(tip)}</title></circle>")
    parts.append("</g></svg>")
    return Markup("".join(parts))
