"""A remote list's maintenance window (issue 17): ``HH:MM-HH:MM`` UTC, the start inside,
the end not, across midnight when the end comes first; the time checked is the caller's
(an injected clock), never read here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hhu_sync.model.window import MaintenanceWindow, WindowError, zone_problem


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


# -- a list's time zone ------------------------------------------------------------------

def test_a_window_in_a_zone_holds_its_wall_clock_hours_in_winter_and_in_summer():
    w = MaintenanceWindow.parse("01:00-04:00", "Europe/London")
    # winter: London is UTC; summer: 01:00 BST is 00:00 UTC
    assert w.contains(datetime(2026, 12, 3, 1, 0, tzinfo=UTC))
    assert not w.contains(datetime(2026, 7, 3, 3, 30, tzinfo=UTC))     # 04:30 BST
    assert w.contains(datetime(2026, 7, 3, 0, 0, tzinfo=UTC))          # 01:00 BST
    assert not w.contains(datetime(2026, 7, 2, 23, 59, tzinfo=UTC))    # 00:59 BST
    assert w.shown() == "01:00-04:00 Europe/London" and w.text() == "01:00-04:00"


def test_a_window_without_a_zone_is_utc():
    assert MaintenanceWindow.parse("01:00-04:00").zone == "UTC"
    assert MaintenanceWindow.parse("01:00-04:00", None).zone == "UTC"


def test_the_time_left_counts_real_seconds_across_a_change_of_the_clocks():
    # 2026-03-29 01:00 UTC London springs forward (01:00 GMT -> 02:00 BST): a window
    # 00:00-03:00 opened at 00:00 GMT ends at 03:00 BST = 02:00 UTC, two real hours on
    w = MaintenanceWindow.parse("00:00-03:00", "Europe/London")
    assert w.seconds_left(datetime(2026, 3, 29, 0, 0, tzinfo=UTC)) == 2 * 3600
    # 2026-10-25 01:00 UTC it falls back (02:00 BST -> 01:00 GMT): four real hours
    assert w.seconds_left(datetime(2026, 10, 24, 23, 0, tzinfo=UTC)) == 4 * 3600


def test_an_hour_the_clocks_skip_is_not_inside_and_one_they_repeat_is_inside_twice():
    w = MaintenanceWindow.parse("01:00-02:00", "Europe/London")
    spring = [datetime(2026, 3, 29, 0, m, tzinfo=UTC) for m in (0, 59)]   # 00:xx GMT
    spring += [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)]                    # 02:00 BST
    assert [w.contains(t) for t in spring] == [False, False, False]
    autumn = [datetime(2026, 10, 25, 0, 30, tzinfo=UTC),     # 01:30 BST
              datetime(2026, 10, 25, 1, 30, tzinfo=UTC),     # 01:30 GMT
              datetime(2026, 10, 25, 2, 0, tzinfo=UTC)]      # 02:00 GMT
    assert [w.contains(t) for t in autumn] == [True, True, False]


def test_a_window_across_midnight_in_a_zone_ends_on_the_next_local_day():
    w = MaintenanceWindow.parse("22:00-02:00", "America/New_York")
    # 2026-12-03 23:00 EST = 2026-12-04 04:00 UTC: three hours left
    assert w.seconds_left(datetime(2026, 12, 4, 4, 0, tzinfo=UTC)) == 3 * 3600
    assert not w.contains(datetime(2026, 12, 3, 23, 0, tzinfo=UTC))    # 18:00 EST


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe/../etc/passwd", "../../x", "",
                                  "UTC; DROP", "a" * 80, "/etc/localtime"])
def test_a_zone_no_one_knows_is_refused_naming_it(zone):
    assert "time zone" in (zone_problem(zone) or "")
    if zone:
        with pytest.raises(WindowError, match="time zone"):
            MaintenanceWindow.parse("01:00-04:00", zone)


def test_known_zones_are_zones():
    assert [zone_problem(z) for z in ("UTC", "Europe/London", "America/Argentina/Salta")] \
        == [None, None, None]


@pytest.mark.parametrize("zone", ["Europe", "Etc", "America/Argentina"])
def test_a_folder_of_the_zone_database_is_no_zone_and_no_crash(zone):
    # tzdata's zoneinfo/Europe is a folder: ZoneInfo raises IsADirectoryError for it
    assert "time zone" in (zone_problem(zone) or "")


def test_a_huge_zone_is_not_echoed_whole():
    assert len(zone_problem("a" * 1_000_000) or "") < 300


def test_the_time_left_ends_where_the_window_does_in_a_skipped_hour():
    # London 2026-03-29: 01:00 GMT becomes 02:00 BST; the wall-clock end 01:30 never comes
    w = MaintenanceWindow.parse("00:00-01:30", "Europe/London")
    assert not w.contains(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    assert w.seconds_left(datetime(2026, 3, 29, 0, 59, tzinfo=UTC)) == 60.0


def test_the_time_left_inside_a_repeated_hour_is_until_its_second_end():
    # London 2026-10-25: 02:00 BST becomes 01:00 GMT; 01:10 GMT is inside (the repeat)
    w = MaintenanceWindow.parse("00:00-01:30", "Europe/London")
    now = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)
    assert w.contains(now) and w.seconds_left(now) == 20 * 60


def test_the_time_left_agrees_with_contains_minute_by_minute_over_both_changes():
    from datetime import timedelta as td
    for zone in ("Europe/London", "America/New_York", "Australia/Lord_Howe"):
        for text in ("00:00-03:00", "01:00-02:30", "22:00-02:00", "00:00-24:00"):
            w = MaintenanceWindow.parse(text, zone)
            for start in (datetime(2026, 3, 7, 20, tzinfo=UTC),
                          datetime(2026, 10, 3, 20, tzinfo=UTC)):
                for n in range(0, 60 * 60 * 24 * 30, 60 * 97):   # every 97 min, a month
                    t = start + td(seconds=n)
                    left = w.seconds_left(t)
                    assert (left > 0) == w.contains(t)
                    if 0 < left < 25 * 3600:
                        assert w.contains(t + td(seconds=left - 60))
                        assert not w.contains(t + td(seconds=left))


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory"])
def test_a_name_that_is_no_place_is_refused(zone):
    assert "time zone" in (zone_problem(zone) or "")
