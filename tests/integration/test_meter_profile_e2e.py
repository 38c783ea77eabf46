"""End to end: a simulated VDEW meter over socket:// -> `hhu-sync meter profile|events`.

The meter's probe echoes every byte (no --echo flag is given: the client notices), it
had a power failure, and the decoded intervals and events must be exactly what the
meter recorded.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hhu_firmware_sim.meter.fleet import meter_from_dict
from hhu_firmware_sim.meter.server import MeterServer
from hhu_sync.cli import main
from hhu_sync.cli.meter_cmds import EXIT_PASSWORD
from hhu_sync.cli.meter_profile_cmds import profile_rows
from hhu_sync.iec62056.loadprofile import to_series


def iso(*args: int) -> str:
    return datetime(*args, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def served(tmp_path):
    meter, quirks = meter_from_dict({
        "serial": "71000001", "model": "LZQJ", "start": "2026-11-01T00:00:00",
        "load": [["00:00", "1.0"], ["08:00", "5.5"], ["18:00", "2.0"]],
        "outages": [["2026-11-03T10:05:00", "2026-11-03T10:50:00"]],
        "profile": {"zone": "Europe/Berlin"}, "quirks": ["echo"]})
    meter.at(datetime(2026, 11, 5, 12, 0))
    config = tmp_path / "hhu-sync.toml"
    config.write_text('[paths]\nkeystore = "keystore"\n')
    with MeterServer(meter, quirks=quirks) as server:
        yield meter, ["--port", server.url, "--reaction-ms", "0", "--zone", "Europe/Berlin",
                      "--config", str(config)]


def test_the_profile_read_is_what_the_meter_recorded(served, capsys):
    meter, common = served
    assert main(["meter", "profile", "--json", *common]) == 0
    got = json.loads(capsys.readouterr().out)
    rec = meter.recorder
    recorded = to_series(list(rec.sections(meter.utc_now)), rec.clock)
    assert got["intervals"] == profile_rows(recorded)
    assert got["blocks"] > 1                       # R6: several partial blocks
    assert [s["channel"] for s in got["series"]] == ["1.8", "2.8", "3.8", "4.8"]
    # the memory is full (35 days): 2 October to 4 November, 25 October's extra hour,
    # and the 5th up to 12:00 CET
    assert got["series"][0]["count"] == 34 * 96 + 4 + 48
    outage = [(r["end"], r["value"], r["flags"]) for r in got["intervals"]
              if r["channel"] == "1.8" and r["flags"]]
    assert outage == [
        (iso(2026, 10, 25, 1, 0), "0.250", ["dst_change"]),   # summer time ended at 01:00 UTC
        # 10:05 to 10:50 CET is 09:05 to 09:50 UTC
        (iso(2026, 11, 3, 9, 15), "0.458", ["power_fail"]),
        (iso(2026, 11, 3, 9, 30), "0.000", ["power_fail"]),
        (iso(2026, 11, 3, 9, 45), "0.000", ["power_fail"]),
        (iso(2026, 11, 3, 10, 0), "0.917", ["power_fail", "power_recovery"]),
    ]


def test_a_range_and_the_events(served, capsys):
    _, common = served
    assert main(["meter", "profile", "--csv", "--from", "2026-11-03T10:00",
                 "--to", "2026-11-03T10:30", *common]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "end_utc,channel,unit,value,status,raw_status,flags"
    assert lines[1:4] == [f"{iso(2026, 11, 3, 9, 0)},1.8,kWh,1.375,0,0000,",
                          f"{iso(2026, 11, 3, 9, 15)},1.8,kWh,0.458,1,0080,power_fail",
                          f"{iso(2026, 11, 3, 9, 30)},1.8,kWh,0.000,1,0080,power_fail"]
    assert main(["meter", "events", "--json", *common]) == 0
    events = json.loads(capsys.readouterr().out)["events"]
    assert [(e["at"], e["kind"], e["code"]) for e in events] == [
        (iso(2026, 11, 3, 9, 5), "power_down", 0x80),
        (iso(2026, 11, 3, 9, 50), "power_up", 0x40)]


def test_an_empty_range_and_the_table(served, capsys):
    _, common = served
    assert main(["meter", "profile", "--from", "2027-01-01T00:00", *common]) == 0
    assert "no intervals" in capsys.readouterr().out
    assert main(["meter", "profile", "--r5", "--from", "2026-11-05T10:00", *common]) == 0
    table = capsys.readouterr().out
    assert "1.8 kWh" in table and "2026-11-05 09:00" in table


def test_a_table_of_one_interval_says_one_interval(served, capsys):
    _, common = served
    assert main(["meter", "profile", "--from", "2026-11-05T12:00", *common]) == 0
    assert ": 1 interval (UTC interval ends)" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["profile", "events"])
def test_a_meter_whose_reading_password_was_changed_is_refused_with_a_hint(
        tmp_path, capsys, command):
    meter, quirks = meter_from_dict({
        "serial": "71000002", "model": "LZQJ", "start": "2026-11-01T00:00:00",
        "passwords": {"1": "4D7A0001"}})
    meter.at(datetime(2026, 11, 2, 12, 0))
    config = tmp_path / "hhu-sync.toml"
    config.write_text('[paths]\nkeystore = "keystore"\n')
    with MeterServer(meter, quirks=quirks) as server:
        code = main(["meter", command, "--port", server.url, "--reaction-ms", "0",
                     "--config", str(config)])
    err = capsys.readouterr().err
    assert code == EXIT_PASSWORD
    assert "refused the password" in err
    assert "default reading password 00000000 was tried" in err
    assert "--password-ref" in err
