"""CMEP interval records (issue 15, point 9): MEPMD01, KWH/KVARH, interval 00000030 or
00000015, at most 48 triplets a record, UTC interval-end times, quality empty/E/N/R."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from hhu_sync.export.cmep import MAX_LINE
from hhu_sync.export.cmep_intervals import ProfileExport, interval_code, write_interval_records
from hhu_sync.profile.flags import IntervalStatus as S
from hhu_sync.profile.series import Channel, ChannelSeries, Run

T0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def export(items):
    buf = io.StringIO()
    count = write_interval_records(items, buf, sender="DEPOT1", receiver="MDM", now=NOW)
    lines = buf.getvalue().splitlines()
    assert len(lines) == count
    assert all(len(line) <= MAX_LINE for line in lines)
    return [next(csv.reader([line])) for line in lines]


def test_a_day_of_half_hours_is_one_record_of_48_in_utc():
    values = tuple(range(100, 148))
    one = ChannelSeries(Channel("1.8.0", "kWh"), 1800, -3, (Run(T0 + 1800, values, (0,) * 48),))
    (record,) = export([ProfileExport("M1", one)])
    assert record[:14] == ["MEPMD01", "19970819", "DEPOT1", "", "MDM", "", "202612020900",
                           "M1:1.8.0", "OK", "E", "KWH", "1", "00000030", "48"]
    assert record[14:17] == ["202611010030", "", "0.100"]
    assert record[-3:] == ["202611020000", "", "0.147"]


def test_more_than_48_intervals_go_on_in_further_records():
    one = ChannelSeries(Channel("3.8.0", "kvarh"), 900, 0, (Run(T0 + 900, (1,) * 100, (0,) * 100),))
    rows = export([ProfileExport("M1", one)])
    assert [r[13] for r in rows] == ["48", "48", "4"]
    assert {r[10] for r in rows} == {"KVARH"} and {r[12] for r in rows} == {"00000015"}
    assert rows[1][14] == "202611011215"            # the 49th interval end


def test_quality_flags():
    status = (0, S.ESTIMATED, S.MISSING, S.POWER_FAIL, S.DST_CHANGE, 0)
    values = (1, 2, None, 4, 5, 6)
    one = ChannelSeries(Channel("1.8.0", "kWh"), 1800, 0, (Run(T0 + 1800, values, status),))
    (record,) = export([ProfileExport("M1", one, flagged={T0 + 6 * 1800})])
    qualities = record[15::3]
    assert qualities == ["", "E", "N", "R", "", "R"]
    assert record[14 + 2 * 3 + 2] == ""              # no value: the value is empty


def test_a_unit_cmep_lacks_is_not_written_and_interval_codes():
    one = ChannelSeries(Channel("0.0.0", "V"), 1800, 0, (Run(T0, (1,), (0,)),))
    assert export([ProfileExport("M1", one)]) == []
    assert [interval_code(s) for s in (900, 1800, 3600, 300)] == [
        "00000015", "00000030", "00000100", "00000005"]


def test_a_long_meter_id_splits_by_line_length():
    one = ChannelSeries(Channel("1.8.0", "kWh"), 1800, -3,
                        (Run(T0 + 1800, (123456789,) * 48, (0,) * 48),))
    rows = export([ProfileExport("M" * 900, one)])
    assert len(rows) > 1 and sum(int(r[13]) for r in rows) == 48
