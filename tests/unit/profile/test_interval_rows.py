"""CSV and JSON-lines interval exports (issue 15, point 9): one row per interval, UTC
times that say so, exact values, status bits as a number and by name."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from hhu_sync.export.cmep_intervals import ProfileExport
from hhu_sync.export.interval_rows import (
    INTERVAL_COLUMNS,
    write_interval_csv,
    write_interval_jsonl,
)
from hhu_sync.profile.flags import IntervalStatus as S
from hhu_sync.profile.series import Channel, ChannelSeries, Run

T0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
ONE = ChannelSeries(Channel("1.8.0", "kWh"), 900, -3,
                    (Run(T0 + 900, (1500, None, -20), (0, S.MISSING, S.POWER_FAIL | S.CLOCK_SET)),))


def test_csv_has_one_row_per_interval():
    buf = io.StringIO()
    assert write_interval_csv([ProfileExport("=M1", ONE)], buf) == 3
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    assert tuple(rows[0]) == INTERVAL_COLUMNS
    assert rows[1] == ["'=M1", "1.8.0", "kWh", "2026-11-01T00:15:00Z", "15", "1.500", "0",
                       "", ""]
    assert rows[2][5:] == ["", str(int(S.MISSING)), "missing", "N"]
    assert rows[3][5:] == ["-0.020", "5", "power_fail|clock_set", "R"]


def test_jsonl_has_the_same_rows():
    buf = io.StringIO()
    assert write_interval_jsonl([ProfileExport("M1", ONE)], buf) == 3
    first = json.loads(buf.getvalue().splitlines()[0])
    assert first == {"meter": "M1", "channel": "1.8.0", "unit": "kWh",
                     "interval_end_utc": "2026-11-01T00:15:00Z", "interval_minutes": "15",
                     "value": "1.500", "status": "0", "flags": "", "quality": ""}
