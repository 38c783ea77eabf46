"""A meter's load profile page (issue 15, point 10): a chart per channel over a window
of days with flagged intervals marked, its events and validation findings; zoom and
move by links; the same as JSON; bad parameters 400, unknown meters 404."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hhu_sync.ingest import parse_upload
from hhu_sync.profile.events import EventKind, MeterEvent
from hhu_sync.profile.flags import IntervalStatus
from hhu_sync.profile.series import Channel, ChannelSeries, Run
from hhu_sync.profile.wire import encode_event, encode_profile
from tests.unit.store.helpers import RECEIVED, visit
from tests.unit.web.conftest import ON_BOTH_BACKENDS, log_in

pytestmark = ON_BOTH_BACKENDS

T0 = int(datetime(2025, 11, 24, tzinfo=UTC).timestamp())
STEP = 1800


@pytest.fixture
def profiled(store):
    values = [500] * 48 + [None] + [500] * 10 + [9000] + [500] * 10
    status = [0] * 48 + [0] + [0] * 10 + [int(IntervalStatus.POWER_FAIL)] + [0] * 10
    one = ChannelSeries(Channel("1.8.0", "kWh"), STEP, -3,
                        (Run(T0 + STEP, tuple(values), tuple(status)),))
    v = visit("M1", time="2025-11-25T10:00:00+00:00")
    v["profiles"] = [encode_profile(one)]
    v["events"] = [encode_event(MeterEvent(T0 + 59 * STEP, EventKind.POWER_DOWN, 0x80,
                                           (("note", "<b>x</b>"),)))]
    store.ingest(parse_upload({"version": 2, "visits": [v]}, upload_id="U-1",
                              hhu_id="HHU-001", sha256="1" * 64, received_at=RECEIVED),
                 "2025-11-25T12:00:00+00:00")
    return store


def test_the_page_draws_each_channel_marks_flags_and_lists_events_and_findings(client,
                                                                               profiled):
    log_in(client, "dana")
    r = client.get("/meters/M1/profile?days=7")
    assert r.status_code == 200
    html = r.text
    assert html.count('class="chart profile-chart"') == 1
    assert html.count('class="profile-flag"') >= 2        # the power fail and the spike
    assert "spike" in html and "missing" in html and "power_down" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert 'href="?days=1&amp;end=' in html and "earlier" in html
    assert client.get("/meters/M1").text.count("/meters/M1/profile") == 1


def test_the_api_gives_every_interval_and_the_window(client, profiled):
    log_in(client, "otto")
    found = client.get("/api/meters/M1/profile?days=7").json()
    (channel,) = found["channels"]
    assert channel["count"] == 70 and len(channel["intervals"]) == 70
    assert channel["intervals"][0] == {"end_utc": "2025-11-24T00:30:00Z", "value": "0.500",
                                       "status": 0, "flags": ""}
    assert found["end"] == "2025-11-26"
    assert {f["code"] for f in found["findings"]} >= {"spike", "missing"}
    narrow = client.get("/api/meters/M1/profile?days=1&end=2025-11-25").json()
    assert narrow["channels"][0]["count"] == 48


@pytest.mark.parametrize("query", ["?days=0", "?days=93", "?days=x", "?end=2025-13-01",
                                   "?end=20251101"])
def test_bad_parameters_are_400(client, profiled, query):
    log_in(client, "dana")
    assert client.get(f"/api/meters/M1/profile{query}").status_code == 400


def test_a_meter_without_a_profile_is_404(client, profiled):
    log_in(client, "dana")
    assert client.get("/api/meters/NOPE/profile").status_code == 404
    assert client.get("/meters/NOPE/profile").status_code == 404
