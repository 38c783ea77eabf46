"""The pictures the pages draw on the server: a register's chart (numbers only, in time
order, every text escaped) and a scheme's week timetable (each switch time on its place,
each stretch in its rate's class). Plain SVG: no script, no style attribute."""

from __future__ import annotations

import re

from hhu_sync.model.scheme import DayProfile, Rate, Scheme, Season, Switch, WeekProfile
from hhu_sync.web.chart import line_chart, nice_ticks, points
from hhu_sync.web.timetable import (
    HOUR_W,
    LABEL_W,
    Segment,
    day_segments,
    rate_class,
    season_weeks,
    timetable_svg,
    x_of,
)

T = "2026-11-{:02d}T10:00:00+00:00"


def test_only_plain_numbers_become_points_oldest_first():
    pts = points([(T.format(3), "12.5"), (T.format(1), "n/a"), (T.format(2), "0000001A"),
                  ("yesterday", "3"), (T.format(4), "1,5"), (T.format(5), "-2"),
                  (T.format(1), "7")])
    assert [(p.time, p.value) for p in pts] == [(T.format(1), 7.0), (T.format(3), 12.5),
                                                (T.format(5), -2.0)]


def test_a_chart_has_its_axes_labels_and_a_point_each_with_its_value():
    pts = points([(T.format(d), f"{100 + d}.0") for d in (1, 2, 3)])
    svg = str(line_chart(pts, title="M<1> 1.8.1", unit="kWh"))
    assert svg.startswith('<svg class="chart"') and svg.endswith("</svg>")
    assert svg.count("<circle") == 3 and '<polyline class="chart-line"' in svg
    assert "<title>2026-11-02T10:00:00+00:00: 102.0 kWh</title>" in svg
    assert "M&lt;1&gt; 1.8.1 (kWh)" in svg and "M<1>" not in svg
    assert ">2026-11-01 10:00<" not in svg and ">11-01 10:00<" in svg     # a short span
    assert ">kWh</text>" in svg and ">time (UTC)</text>" in svg
    assert "style" not in svg and "<script" not in svg


def test_points_are_placed_by_time_and_value_inside_the_axes():
    pts = points([(T.format(1), "0"), (T.format(2), "10"), (T.format(3), "5")])
    svg = str(line_chart(pts, title="t"))
    xs = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', svg)]
    ys = [float(y) for y in re.findall(r'cy="([\d.]+)"', svg)]
    assert xs[0] < xs[1] < xs[2] and abs((xs[1] - xs[0]) - (xs[2] - xs[1])) < 0.2
    assert ys[1] < ys[2] < ys[0]                    # higher values drawn higher up


def test_a_chart_with_nothing_numeric_says_so():
    svg = str(line_chart(points([(T.format(1), "on")]), title="F.F"))
    assert "No numeric values to draw." in svg and "<circle" not in svg


def test_one_point_or_one_value_still_has_a_scale():
    svg = str(line_chart(points([(T.format(1), "5")]), title="x"))
    assert svg.count("<circle") == 1
    assert nice_ticks(5, 5)[0] < 5 < nice_ticks(5, 5)[-1]
    ticks = nice_ticks(3.2, 97.1)
    assert ticks[0] <= 3.2 and ticks[-1] >= 97.1 and 3 <= len(ticks) <= 7


PEAK_DAY = DayProfile("workday", (Switch("00:00", 3), Switch("07:00", 1), Switch("16:30", 2),
                                  Switch("19:00", 1)))
WEEKEND = DayProfile("weekend", (Switch("00:00", 3),))


def _scheme(seasons=(), weeks=None) -> Scheme:
    weeks = weeks or (WeekProfile("w", ("workday",) * 5 + ("weekend",) * 2),)
    return Scheme(id="s", name="s", model="A1700", version=1, description="", ct_ratio=None,
                  vt_ratio=None, rates=(Rate(1, "Day", ("1.8.1",)), Rate(2, "Peak", ("1.8.2",)),
                                        Rate(3, "Night", ("1.8.3",))),
                  day_profiles=(PEAK_DAY, WEEKEND), week_profiles=weeks,
                  seasons=tuple(seasons), special_days=(), demand_period_minutes=30,
                  billing_reset_day=1, billing_reset_time="00:00", display_items=(),
                  display_scroll_seconds=5)


def test_each_switch_runs_until_the_next_and_the_last_until_midnight():
    assert day_segments(PEAK_DAY) == (Segment(0, 420, 3), Segment(420, 990, 1),
                                      Segment(990, 1140, 2), Segment(1140, 1440, 1))
    assert day_segments(WEEKEND) == (Segment(0, 1440, 3),)


def test_switch_times_land_on_their_place_in_the_days_row():
    (week,) = season_weeks(_scheme())
    assert week.season == "all year" and [r.label for r in week.rows] == \
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    svg = str(timetable_svg(week.rows, {1: "Day", 2: "Peak", 3: "Night"}, title="s"))
    rows = re.findall(r'<g class="timetable-row" data-day="(\w+)">(.*?)</g>', svg)
    assert [day for day, _ in rows] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    monday = dict(rows)["Mon"]
    peak = re.search(r'<rect class="rate-2" x="([\d.]+)" y="\d+" width="([\d.]+)"', monday)
    assert float(peak.group(1)) == x_of(16 * 60 + 30) == LABEL_W + 16.5 * HOUR_W
    assert float(peak.group(2)) == 2.5 * HOUR_W                     # 16:30 to 19:00
    assert "<title>Mon 16:30–19:00: Peak (rate 2)</title>" in monday
    assert re.findall(r'class="(rate-\d)"', dict(rows)["Sun"]) == ["rate-3"]
    assert "style" not in svg


def test_seasons_in_date_order_each_until_the_next_starts():
    weeks = (WeekProfile("winter", ("workday",) * 7), WeekProfile("summer", ("weekend",) * 7))
    drawn = season_weeks(_scheme(seasons=(Season("winter", "10-01", "winter"),
                                          Season("summer", "04-01", "summer")), weeks=weeks))
    assert [(w.season, w.start, w.until, w.week) for w in drawn] == [
        ("summer", "04-01", "10-01", "summer"), ("winter", "10-01", "04-01", "winter")]
    assert drawn[0].rows[0].segments == (Segment(0, 1440, 3),)


def test_a_day_profile_the_scheme_lacks_is_drawn_empty_and_named():
    weeks = (WeekProfile("w", ("<gone>",) * 7),)
    (week,) = season_weeks(_scheme(weeks=weeks))
    assert week.rows[0].segments == ()
    svg = str(timetable_svg(week.rows, {}, title="t"))
    assert "no day profile &lt;gone&gt;" in svg and "<gone>" not in svg


def test_rates_beyond_the_stylesheets_eight_share_one_class():
    assert [rate_class(n) for n in (1, 8, 9, 0)] == ["rate-1", "rate-8", "rate-other",
                                                      "rate-other"]
