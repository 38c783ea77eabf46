"""End to end: a simulated Elster A1700 over socket:// -> `hhu-sync meter profile|events`.

The meter's probe echoes every byte (no --echo flag: the client notices). The command
picks the Elster dialect from the identification (``/GEC5A1700``), selects with W1 551,
reads register 550 block by block and interprets the stream in the meter's standard
time: in July in Berlin that is UTC+1 while the meter's own clock shows UTC+2. A power
failure shows as flagged intervals, a gap, and power down and up events.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hhu_firmware_sim.meter.fleet import meter_from_dict
from hhu_firmware_sim.meter.server import MeterServer
from hhu_sync.cli import main
from hhu_sync.cli.meter_profile_cmds import _clip, dialect_of, profile_rows
from hhu_sync.iec62056 import Identification
from hhu_sync.iec62056.elster_profile import interpret
from hhu_sync.iec62056.elster_records import decode_records


def iso(*args: int) -> str:
    return datetime(*args, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def served(tmp_path):
    meter, quirks = meter_from_dict({
        "serial": "35000001", "model": "A1700", "start": "2026-07-01T00:00:00",
        "load": [["00:00", "1.0"], ["08:00", "6.0"], ["18:00", "2.0"]],
        "outages": [["2026-07-03T10:05:00", "2026-07-03T11:50:00"]],
        "profile": {"zone": "Europe/Berlin"}, "quirks": ["echo"]})
    meter.at(datetime(2026, 7, 5, 12, 0))
    config = tmp_path / "hhu-sync.toml"
    config.write_text('[paths]\nkeystore = "keystore"\n')
    with MeterServer(meter, quirks=quirks) as server:
        yield meter, ["--port", server.url, "--reaction-ms", "0", "--zone", "Europe/Berlin",
                      "--config", str(config)]


def test_the_profile_read_is_what_the_meter_recorded(served, capsys):
    meter, common = served
    assert main(["meter", "profile", "--json", *common]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["dialect"] == "elster" and got["meter"] == "GEC A1700"
    recorded = interpret(decode_records(meter.elster.stream(meter.utc_now)),
                         std_offset_s=3600)
    assert got["intervals"] == profile_rows(_clip(recorded.series, None, None))
    assert got["blocks"] > 1
    assert [s["channel"] for s in got["series"]] == ["1.8.0", "2.8.0", "5.8.0", "6.8.0",
                                                     "7.8.0", "8.8.0"]
    # read at 12:00 CEST on the 5th, the memory full to the catalog's 100 days: 28 March
    # to 4 July (29 March an hour short), half of the 5th, less two inside the outage
    assert got["series"][0]["count"] == 99 * 48 - 2 + 24 - 2
    rec = meter.recorder
    clean = next(r for r in got["intervals"] if r["end"] == iso(2026, 7, 2, 7, 0)
                 and r["channel"] == "1.8.0")
    wh = rec.values(int(datetime(2026, 7, 2, 7, tzinfo=UTC).timestamp()))[0]
    assert clean["value"] == f"{wh / 1000:.3f}" == "3.000"       # 08:30-09:00 CEST, 6 kW
    outage = [(r["end"], r["value"], r["flags"]) for r in got["intervals"]
              if r["channel"] == "1.8.0" and r["flags"] and r["end"] > iso(2026, 7, 2)]
    assert outage == [            # 10:05 to 11:50 CEST is 08:05 to 09:50 UTC
        (iso(2026, 7, 3, 8, 30), "0.500", ["power_fail"]),        # 5 minutes at 6 kW
        (iso(2026, 7, 3, 10, 0), "1.000", ["power_recovery"]),    # 10 minutes at 6 kW
    ]
    ends = [r["end"] for r in got["intervals"] if r["channel"] == "1.8.0"]
    assert iso(2026, 7, 3, 9, 0) not in ends and iso(2026, 7, 3, 9, 30) not in ends


def test_a_range_and_the_events(served, capsys):
    _, common = served
    assert main(["meter", "profile", "--csv", "--from", "2026-07-03T10:00",
                 "--to", "2026-07-03T12:00", *common]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "end_utc,channel,unit,value,status,raw_status,flags"
    imports = [line for line in lines[1:] if ",1.8.0," in line]
    assert imports == [f"{iso(2026, 7, 3, 8, 0)},1.8.0,kWh,3.000,0,0000,",
                       f"{iso(2026, 7, 3, 8, 30)},1.8.0,kWh,0.500,1,0001,power_fail",
                       f"{iso(2026, 7, 3, 10, 0)},1.8.0,kWh,1.000,2,0002,power_recovery"]
    assert main(["meter", "events", "--json", *common]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["dialect"] == "elster"
    assert [(e["at"], e["kind"], e["code"]) for e in got["events"]] == [
        (iso(2026, 7, 3, 8, 5), "power_down", 0x01),
        (iso(2026, 7, 3, 9, 50), "power_up", 0x02)]


def test_an_empty_range_the_table_and_a_forced_dialect(served, capsys):
    _, common = served
    assert main(["meter", "profile", "--from", "2027-01-01T00:00", *common]) == 0
    assert "no intervals" in capsys.readouterr().out
    assert main(["meter", "profile", "--model", "A1700", "--from", "2026-07-05T10:00",
                 *common]) == 0
    table = capsys.readouterr().out
    assert "GEC A1700: 5 intervals" in table     # ends 08:00 .. 10:00 UTC
    assert "2026-07-05 08:00" in table and "2026-07-05 10:00" in table
    assert main(["meter", "profile", "--dialect", "vdew", *common]) != 0   # no P.01 here
    assert "ER01" in capsys.readouterr().err
    assert main(["meter", "profile", "--model", "NOPE", *common]) == 1     # before the line
    assert "--model 'NOPE'" in capsys.readouterr().err


def test_the_dialect_is_the_forced_one_then_the_catalogs_then_the_makers():
    elster, emh = Identification("GEC", "5", "A1700"), Identification("EMH", "5", "LZQJXC")
    assert dialect_of("auto", None, elster) == "elster"
    assert dialect_of("auto", None, Identification("ELS", "5", "AS230")) == "elster"
    assert dialect_of("auto", None, emh) == "vdew"
    assert dialect_of("vdew", None, elster) == "vdew"
    assert dialect_of("elster", None, emh) == "elster"
