"""``hhu-sync billing`` (issue 15, point 8): determinants per meter and month from the
stored intervals, in the meter's local time, as text, JSON or CSV."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hhu_sync.cli import main
from hhu_sync.config import load_config
from hhu_sync.store import SqliteStore
from tests.cli.test_billing_registers import END, ingest, visit
from tests.unit.store.test_intervals import series, v2

NOV = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
DAYS = 30 * 48


@pytest.fixture
def depot(tmp_path):
    cfg = tmp_path / "hhu-sync.toml"
    cfg.write_text("[schedule]\npoll_seconds = 2.0\n")
    config = load_config(cfg)
    store = SqliteStore(config.paths.database)
    values = [500] * DAYS
    values[100] = 1500                                 # 3 kW for half an hour
    # read at the end of the month: every interval had ended (one ending after the
    # read would be a future_interval, left out of the bill)
    ingest(store, "U-1", [visit("M1", END, [], [series(values, first=NOV + 1800)])])
    store.close()
    return cfg


def test_billing_as_json(depot, capsys):
    assert main(["billing", "--config", str(depot), "--period", "2026-11", "--json"]) == 0
    (found,) = json.loads(capsys.readouterr().out)
    assert found["meter"] == "M1" and found["period_start_utc"] == "2026-11-01T00:00:00Z"
    assert found["import_kwh"] == "721.000"
    assert found["energy_by_rate_kwh"] == {"1": "721.000"}     # no scheme: one rate
    assert (found["max_demand_kw"], found["max_demand_end_utc"]) == (
        "3", "2026-11-03T02:30:00Z")
    assert (found["intervals"], found["expected"]) == (DAYS, DAYS)


def test_billing_as_csv_and_text(depot, capsys):
    assert main(["billing", "--config", str(depot), "--period", "2026-11", "--csv"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.startswith("meter,period,rate_1_kwh,import_kwh")
    assert row.startswith("M1,2026-11,721.000,721.000")
    assert main(["billing", "--config", str(depot), "--period", "2026-11",
                 "--meter", "M1"]) == 0
    assert "max demand 3 kW ending 2026-11-03T02:30:00Z" in capsys.readouterr().out


@pytest.mark.parametrize("extra, words", [
    (["--period", "2026-13"], "expected a month"),
    (["--period", "2026-11", "--zone", "Mars/Base"], "not a time zone"),
    (["--period", "2026-11", "--meter", "NOPE"], "no intervals held"),
    (["--period", "2026-11", "--scheme", "nope"], "not in the scheme library"),
    (["--period", "0000-01"], "--period '0000-01': out of range"),
    (["--period", "0001-01"], "--period '0001-01': out of range"),     # its read window
    (["--period", "9999-12"], "--period '9999-12': out of range"),     # ends in 10000
])
def test_bad_options_are_named(depot, capsys, extra, words):
    assert main(["billing", "--config", str(depot), *extra]) == 1
    assert words in capsys.readouterr().err


def test_a_hostile_serial_neither_rewrites_the_terminal_nor_starts_a_formula(tmp_path,
                                                                           capsys):
    """A serial an HHU sent (flagged bad_meter, stored as sent) is shown escaped, as
    status shows it: an escape sequence would clear the clerk's terminal, and in the CSV
    a cell starting with ``=`` is a spreadsheet formula."""
    cfg = tmp_path / "hhu-sync.toml"
    cfg.write_text("[schedule]\npoll_seconds = 2.0\n")
    store = SqliteStore(load_config(cfg).paths.database)
    for n, meter in enumerate(["M\x1b[2J1", "=HYPERLINK(1)"]):
        store.ingest(v2(f"U-{n}", [series([500] * 48, first=NOV + 1800)], meter=meter),
                     "now")
    store.close()
    assert main(["billing", "--config", str(cfg), "--period", "2026-11"]) == 0
    text = capsys.readouterr().out
    assert "\x1b" not in text and "M\\x1b[2J1 2026-11" in text
    assert main(["billing", "--config", str(cfg), "--period", "2026-11", "--csv"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert not any(row.startswith("=") for row in rows)
    assert "\x1b" not in "".join(rows)
