"""Reading a meter's clock registers in the forms meters write them; setting it."""

from __future__ import annotations

from datetime import datetime

import pytest

from hhu_sync.meterio.clock import ClockError, clock_writes, parse_clock

WHEN = datetime(2026, 11, 25, 7, 5, 9)


@pytest.mark.parametrize("date_text", ["26-11-25", "261125", "3261125", "2026-11-25"])
@pytest.mark.parametrize("time_text", ["07:05:09", "070509"])
def test_every_form_of_date_and_time_reads_the_same(date_text, time_text):
    assert parse_clock(date_text, time_text) == WHEN


@pytest.mark.parametrize(("date_text", "time_text", "names"), [
    ("25/11/26", "07:05:09", "0.9.2"), ("26-11-25", "7:05", "0.9.1"),
    ("26-13-25", "07:05:09", "0.9.2/0.9.1"), ("26-11-25", "25:00:00", "0.9.2/0.9.1"),
])
def test_a_clock_register_that_is_not_a_date_or_time_is_an_error_naming_it(
        date_text, time_text, names):
    with pytest.raises(ClockError, match=names):
        parse_clock(date_text, time_text)


def test_the_time_is_written_before_the_date():
    # Whatever day the meter thought it was, time then date leaves it at WHEN.
    assert clock_writes(WHEN) == [("0.9.1", "07:05:09"), ("0.9.2", "26-11-25")]
