"""Whether a remote list may program now (issue 17, point 2): inside its maintenance
window on the wall clock of its time zone; the refusal says the hours, the zone and the
time there, so a clerk in the depot reads it in the hours the list was written in."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.remote.program import window_gate

LIST = MeterList("R1", "R1", None, None, "2026-12-31", "",
                 (MeterEntry("M1", "", "", "read+program", "s", None, "",
                             port="socket://127.0.0.1:9"),),
                 target="remote", allow_remote_program=True, maintenance_window="01:00-04:00")


def test_a_list_without_a_zone_programs_in_its_utc_hours():
    assert window_gate(LIST, datetime(2026, 7, 2, 1, 30, tzinfo=UTC)) is None
    closed = window_gate(LIST, datetime(2026, 7, 2, 4, 30, tzinfo=UTC))
    assert closed is not None and "01:00-04:00 UTC" in closed and "now 04:30 UTC" in closed


def test_a_list_in_a_zone_programs_in_its_local_hours():
    london = replace(LIST, timezone="Europe/London")
    assert window_gate(london, datetime(2026, 7, 2, 0, 30, tzinfo=UTC)) is None  # 01:30 BST
    closed = window_gate(london, datetime(2026, 7, 2, 3, 30, tzinfo=UTC))        # 04:30 BST
    assert closed is not None
    assert "01:00-04:00 Europe/London" in closed and "now 04:30 Europe/London" in closed


def test_a_list_that_does_not_allow_programming_is_refused_at_any_hour():
    assert window_gate(replace(LIST, allow_remote_program=False),
                       datetime(2026, 7, 2, 1, 30, tzinfo=UTC)) is not None
