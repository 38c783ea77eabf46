"""A profile the HHU writes always fits the transfer format's bound on one array
(``MAX_ITEMS``): a run longer than it (version 2's deltas) or flagging more intervals
than half of it (the status pairs, either version) is written as consecutive runs, so a
depot reads it instead of refusing the upload at every docking."""

from __future__ import annotations

import pytest

from hhu_sync.dock.readings import check_upload
from hhu_sync.profile.flags import IntervalStatus
from hhu_sync.profile.series import Channel, ChannelSeries, Run
from hhu_sync.profile.wire import encode_profile
from hhu_sync.transfer import encode_transfer
from hhu_sync.transfer.shape import MAX_ITEMS

KEY = b"k" * 32
T = "2026-11-25T10:00:00+00:00"
STEP = 60
FIRST = 1_764_064_800 - 200_000 * STEP          # the last interval well before the visit


def through_a_depot(series: ChannelSeries, version: int) -> ChannelSeries:
    visit = {"meter": "M1", "list": "", "time": T, "outcome": "done", "registers": [],
             "profiles": [encode_profile(series, version)]}
    data = encode_transfer("readings", {"version": version, "visits": [visit]},
                           source="HHU-001", target="depot", key=KEY, bundle_id="U-1")
    upload = check_upload(data, hhu_id="HHU-001", hhu_key=KEY, upload_id="U-1")
    ((_, read),) = upload.profiles
    return read


def one_run(n: int, flag_every: int) -> ChannelSeries:
    values = tuple(1000 + i % 7 for i in range(n))
    status = tuple(int(IntervalStatus.CLOCK_INVALID) if i % flag_every == 0 else 0
                   for i in range(n))
    return ChannelSeries(Channel("1.8.0", "kWh"), STEP, -3, (Run(FIRST, values, status),))


@pytest.mark.parametrize(("version", "n", "flag_every"), [
    (2, MAX_ITEMS + 5_000, 1_000),            # version 2: the deltas' array
    (2, 2 * MAX_ITEMS + 1, 1),                # both arrays, every interval flagged
    (3, MAX_ITEMS // 2 + 7, 1),               # version 3: the status pairs alone
])
def test_a_run_beyond_one_array_s_bound_reaches_the_depot_whole(version, n, flag_every):
    sent = one_run(n, flag_every)
    read = through_a_depot(sent, version)
    assert len(read.runs) > 1                                  # cut into consecutive runs
    assert read.intervals() == sent.intervals()                # every end, value, status


def test_a_run_within_the_bounds_is_written_as_one():
    sent = one_run(MAX_ITEMS, 4)
    assert len(encode_profile(sent, 2)[4]) == 1 and len(encode_profile(sent, 3)[4]) == 1
