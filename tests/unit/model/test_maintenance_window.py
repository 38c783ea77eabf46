"""A remote list's maintenance window (issue 17): ``HH:MM-HH:MM`` UTC, the start inside,
the end not, across midnight when the end comes first; the time checked is the caller's
(an injected clock), never read here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hhu_sync.model.window import MaintenanceWindow, WindowError


def at(hhmm: str, day: int = 3) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 12, day, h, m, tzinfo=UTC)


def test_a_window_holds_its_start_and_not_its_end():
    w = MaintenanceWindow.parse("01:00-04:00")
    assert [w.contains(at(t)) for t in ("00:59", "01:00", "03:59", "04:00")] == [
        False, True, True, False]
    assert w.text() == "01:00-04:00" and not w.crosses_midnight


def test_a_window_across_midnight_holds_both_evenings_and_mornings():
    w = MaintenanceWindow.parse("22:30-02:00")
    assert w.crosses_midnight
    assert [w.contains(at(t)) for t in ("22:29", "22:30", "23:59", "00:00", "01:59",
                                        "02:00", "12:00")] == [
        False, True, True, True, True, False, False]
    assert w.seconds_left(at("23:30")) == 2.5 * 3600
    assert w.seconds_left(at("01:00")) == 3600 and w.seconds_left(at("02:00")) == 0


def test_a_time_in_another_zone_is_compared_in_utc():
    w = MaintenanceWindow.parse("01:00-04:00")
    berlin_3am = datetime(2026, 12, 3, 3, 0, tzinfo=timezone(timedelta(hours=1)))  # 02:00Z
    tokyo_3am = datetime(2026, 12, 3, 3, 0, tzinfo=timezone(timedelta(hours=9)))   # 18:00Z
    assert w.contains(berlin_3am) and not w.contains(tokyo_3am)


def test_a_whole_day_window_is_written_00_00_to_24_00():
    w = MaintenanceWindow.parse("00:00-24:00")
    assert all(w.contains(at(t)) for t in ("00:00", "12:00", "23:59"))
    assert w.text() == "00:00-24:00"


@pytest.mark.parametrize("text", ["1:00-4:00", "01:00", "01:00-01:00", "25:00-02:00",
                                  "01:60-02:00", "01:00-24:30", "night", ""])
def test_what_is_no_window_is_refused(text):
    with pytest.raises(WindowError):
        MaintenanceWindow.parse(text)
