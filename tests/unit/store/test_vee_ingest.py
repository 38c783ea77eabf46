"""Validation at ingest (issue 15, point 7): every upload's interval data is checked
against what was held before it; each finding is recorded over the intervals it covers
and raised as an exception; nothing is dropped or changed."""

from __future__ import annotations

import pytest

from hhu_sync.ingest import ExceptionKind, parse_upload
from hhu_sync.profile.series import Channel, ChannelSeries, Run
from hhu_sync.profile.wire import encode_profile
from tests.unit.store.helpers import RECEIVED, visit

T0 = 1_764_028_800      # 2025-11-25T00:00:00Z
STEP = 1800


def series(values, first=T0 + STEP, step=STEP, code="1.8.0"):
    return ChannelSeries(Channel(code, "kWh"), step, -3,
                         (Run(first, tuple(values), (0,) * len(values)),))


def up(upload_id, profiles, time="2025-11-25T10:00:00+00:00", register=None):
    regs = [["1.8.0", register, "kWh", time]] if register else []
    v = visit("M1", time=time, registers=regs)
    v["profiles"] = [encode_profile(s) for s in profiles]
    return parse_upload({"version": 2, "visits": [v]}, upload_id=upload_id, hhu_id="HHU-001",
                        sha256=upload_id.ljust(64, "0"), received_at=RECEIVED)


@pytest.fixture
def store(empty_store):
    s = empty_store
    return s


def vee(store):
    return store._rows("SELECT code, first_end, last_end, count FROM vee_findings "
                       "ORDER BY finding_id")


def vee_exceptions(store):
    return store._rows("SELECT value, obis, detail FROM exceptions WHERE kind=? "
                       "ORDER BY exception_id", (ExceptionKind.INTERVAL_VALIDATION.value,))


def test_a_clean_profile_has_no_findings(store):
    report = store.ingest(up("U-1", [series([500] * 20)]), "now")
    assert report.vee_findings == 0 and vee(store) == [] and vee_exceptions(store) == []


def test_a_gap_and_a_spike_are_recorded_and_raised_and_every_interval_is_stored(store):
    values = [500] * 6 + [None, None] + [500] * 5 + [9000] + [500] * 6
    report = store.ingest(up("U-1", [series(values)]), "now")
    assert report.intervals_stored == 20 and report.vee_findings == 2
    assert vee(store) == [("missing", T0 + 7 * STEP, T0 + 8 * STEP, 2),
                          ("spike", T0 + 14 * STEP, T0 + 14 * STEP, 1)]
    (missing, spike) = vee_exceptions(store)
    assert missing[:2] == ("missing", "1.8.0") and "2 intervals ending" in missing[2]
    assert spike[0] == "spike"
    assert [h.value for h in store.intervals("M1")][13] == 9000       # kept as sent


def test_the_gap_since_the_last_read_is_missing(store):
    store.ingest(up("U-1", [series([500] * 4)]), "now")              # ends up to T0+4h/2
    later = series([500] * 4, first=T0 + 11 * STEP)
    store.ingest(up("U-2", [later], time="2025-11-25T10:00:00+00:00"), "now")
    assert ("missing", T0 + 5 * STEP, T0 + 10 * STEP, 6) in vee(store)


def test_register_advance_against_the_intervals_between_two_reads(store):
    store.ingest(up("U-1", [series([500] * 4)], time="2025-11-25T02:00:00+00:00",
                    register="1000.0"), "now")
    # 16 intervals of 0.5 kWh = 8 kWh from 02:00 to 10:00; the register says 80
    store.ingest(up("U-2", [series([500] * 16, first=T0 + 5 * STEP)],
                    time="2025-11-25T10:00:00+00:00", register="1080.0"), "now")
    codes = [c for c, *_ in vee(store)]
    assert codes == ["register_mismatch"]
    (exc,) = vee_exceptions(store)
    assert "intervals sum to 8.000 kWh, the register advanced 80.0" in exc[2]


def test_a_changed_interval_length_is_a_finding(store):
    store.ingest(up("U-1", [series([500] * 4)]), "now")
    store.ingest(up("U-2", [series([250] * 8, first=T0 + 4 * STEP + 900, step=900)]), "now")
    assert "config_changed" in [c for c, *_ in vee(store)]


def test_the_same_upload_twice_finds_nothing_new(store):
    values = [500] * 6 + [None] + [500] * 6
    store.ingest(up("U-1", [series(values)]), "now")
    # the missing 04:00 interval, and those from 07:00 to the visit at 10:00
    first = vee(store)
    assert [(c, n) for c, _, _, n in first] == [("missing", 1), ("missing", 7)]
    assert store.ingest(up("U-1", [series(values)]), "now").vee_findings == 0
    assert vee(store) == first


def test_intervals_ending_after_the_visit_are_stored_recorded_and_raised(store):
    # visit at 10:00: 20 half-hour intervals would end up to 10:00; 30 end up to 15:00
    report = store.ingest(up("U-1", [series([500] * 30)]), "now")
    assert report.intervals_stored == 30                                  # kept as sent
    assert ("future_interval", T0 + 21 * STEP, T0 + 30 * STEP, 10) in vee(store)
    assert any(e[0] == "future_interval" and "after the meter was read" in e[2]
               for e in vee_exceptions(store))


def test_a_visit_whose_time_failed_its_check_times_no_interval(store):
    """A visit's time in the future (here past the year 9999 in UTC) is flagged and the
    visit stored as sent; it is not the end of the span expected of its profile nor the
    time its meter was read (it was the end of a 140-million-interval gap, and a
    finding's time no formatter takes: a ValueError out of the ingest)."""
    upload = up("U-1", [series([500] * 4)], time="9999-12-31T23:59:59-23:59")
    assert not upload.visits[0].time_ok
    report = store.ingest(upload, "now")
    assert (report.visits, report.intervals_stored, report.vee_findings) == (1, 4, 0)
