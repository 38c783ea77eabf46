"""Property tests: what we render, we read back the same (schemes and meter lists)."""

from __future__ import annotations

import tomllib

from hypothesis import given, settings
from hypothesis import strategies as st

from hhu_sync.model.meterlist import (
    TASKS,
    MeterEntry,
    MeterList,
    parse_meter_list_csv,
    parse_meter_list_toml,
    render_meter_list_csv,
    render_meter_list_toml,
)
from hhu_sync.model.scheme import (
    DayProfile,
    PasswordRef,
    Rate,
    Scheme,
    Season,
    SpecialDay,
    Switch,
    WeekProfile,
    parse_scheme,
    scheme_from_dict,
)

ids = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
csv_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
                                 blacklist_characters="#"), max_size=20).map(str.strip)


@st.composite
def schemes(draw):
    nrates = draw(st.integers(1, 4))
    rates = tuple(Rate(n, f"Rate {n}", (f"1.8.{n}",)) for n in range(1, nrates + 1))
    times = sorted(draw(st.sets(st.integers(1, 23 * 60 + 59), max_size=7)))
    switches = (Switch("00:00", 1),) + tuple(
        Switch(f"{t // 60:02d}:{t % 60:02d}", draw(st.integers(1, nrates))) for t in times)
    day = DayProfile(draw(ids), switches)
    week = WeekProfile(draw(ids), (day.id,) * 7)
    months = sorted(draw(st.sets(st.integers(1, 12), max_size=3)))
    seasons = tuple(Season(f"s{mo}", f"{mo:02d}-01", week.id) for mo in months)
    specials = tuple(SpecialDay(f"12-{d:02d}", day.id)
                     for d in sorted(draw(st.sets(st.integers(1, 31), max_size=3))))
    return Scheme(
        id=draw(ids), name=draw(text.filter(bool)), model="A1700", version=draw(st.integers(1, 99)),
        description=draw(text), ct_ratio=draw(st.sampled_from([None, (400, 5), (100, 1)])),
        vt_ratio=draw(st.sampled_from([None, (11000, 110)])), rates=rates,
        day_profiles=(day,), week_profiles=(week,), seasons=seasons, special_days=specials,
        demand_period_minutes=draw(st.sampled_from([15, 30, 60])),
        billing_reset_day=draw(st.integers(1, 28)), billing_reset_time="00:00",
        display_items=tuple(r.registers[0] for r in rates),
        display_scroll_seconds=draw(st.integers(1, 60)),
        passwords=tuple(PasswordRef(lv, f"pw-{lv}") for lv in
                        sorted(draw(st.sets(st.sampled_from([1, 2, 3]), max_size=3)))),
    )


@settings(max_examples=60, deadline=None)
@given(schemes())
def test_scheme_toml_round_trip(catalog, scheme):
    back = parse_scheme(tomllib.loads(scheme.to_toml()), "s.toml", catalog)
    assert back == scheme


@settings(max_examples=60, deadline=None)
@given(schemes())
def test_scheme_dict_round_trip(scheme):
    assert scheme_from_dict(scheme.to_dict()) == scheme


@st.composite
def meter_lists(draw, field_text):
    serials = draw(st.lists(st.from_regex(r"[0-9]{8}", fullmatch=True), min_size=1,
                            max_size=6, unique=True))
    entries = []
    for serial in serials:
        task = draw(st.sampled_from(TASKS))
        entries.append(MeterEntry(serial, draw(field_text), draw(field_text), task,
                                  None if task == "read" else "s1", None, draw(field_text)))
    target = draw(st.sampled_from(["hhu", "crew"]))
    return MeterList(id=draw(ids), name=draw(ids), hhu="HHU-1" if target == "hhu" else None,
                     crew="crew-a" if target == "crew" else None,
                     due=draw(st.dates()).isoformat(), notes="", meters=tuple(entries))


SCHEMES = {"s1": None}


@settings(max_examples=60, deadline=None)
@given(meter_lists(text))
def test_meter_list_toml_round_trip(catalog, mlist):
    back = parse_meter_list_toml(tomllib.loads(render_meter_list_toml(mlist)), "l.toml",
                                 catalog, None)
    assert back == mlist


@settings(max_examples=60, deadline=None)
@given(meter_lists(csv_text))
def test_meter_list_csv_round_trip(catalog, mlist):
    back = parse_meter_list_csv(render_meter_list_csv(mlist), "l.csv", catalog, None)
    assert back == mlist
