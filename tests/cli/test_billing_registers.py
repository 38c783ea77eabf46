"""``hhu-sync billing`` against the meter's own registers (issue 15, point 8): the
determinants of the span two register reads bracket are compared with the registers'
advance and maximum demand; a mismatch beyond tolerance is a ``billing_mismatch``
exception with both values, recorded once however often billing runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hhu_sync.cli import main
from hhu_sync.config import load_config
from hhu_sync.ingest import ExceptionKind, parse_upload
from hhu_sync.profile.wire import encode_profile
from hhu_sync.store import SqliteStore
from hhu_sync.store.exceptions import ExceptionFilter
from tests.unit.store.test_intervals import series

NOV = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
DAYS = 30 * 48
START, END = "2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00"
RECEIVED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def visit(meter: str, time: str, registers: list, profiles=()) -> dict:
    return {"meter": meter, "list": "L1", "time": time, "outcome": "done",
            "registers": registers, "error_flags": "00000000", "scheme": None,
            "verify": None, "operator": "crew-a", "notes": "",
            "profiles": [encode_profile(s) for s in profiles]}


def ingest(store: SqliteStore, upload_id: str, visits: list[dict]) -> None:
    store.ingest(parse_upload({"version": 2, "visits": visits}, upload_id=upload_id,
                              hhu_id="HHU-001", sha256=upload_id.ljust(64, "0"),
                              received_at=RECEIVED), "now")


def energy(start: str, end: str, rate: tuple[str, str] | None = None) -> tuple[list, list]:
    first = [["1.8.0", start, "kWh", START]]
    last = [["1.8.0", end, "kWh", END]]
    if rate:
        first.append(["1.8.1", rate[0], "kWh", START])
        last.append(["1.8.1", rate[1], "kWh", END])
    return first, last


@pytest.fixture
def depot(tmp_path):
    """M1 agrees with its registers, M2's total advanced 80 kWh more than its intervals
    hold, M3 has intervals and no register read. 721 kWh in November on each."""
    cfg = tmp_path / "hhu-sync.toml"
    cfg.write_text("[schedule]\npoll_seconds = 2.0\n")
    store = SqliteStore(load_config(cfg).paths.database)
    values = [500] * DAYS
    values[100] = 1500                                  # 3 kW in the block ending 02:30
    profile = [series(values, first=NOV + 1800)]
    m1_start, m1_end = energy("1000.0", "1721.0", ("600.0", "1321.0"))
    m1_end.append(["1.6.0", "3.00", "kW", END, "2026-11-03T02:30:00+00:00", ""])
    m2_start, m2_end = energy("1000.0", "1801.0")
    ingest(store, "U-START", [visit("M1", START, m1_start), visit("M2", START, m2_start)])
    ingest(store, "U-END", [visit("M1", END, m1_end, profile),
                            visit("M2", END, m2_end, profile),
                            visit("M3", END, [], profile)])
    store.close()
    return cfg


def billing(depot, capsys) -> dict[str, dict]:
    assert main(["billing", "--config", str(depot), "--period", "2026-11", "--json"]) == 0
    return {d["meter"]: d["registers"] for d in json.loads(capsys.readouterr().out)}


def mismatches(depot) -> list:
    store = SqliteStore(load_config(depot).paths.database)
    try:
        page = store.exceptions(ExceptionFilter(kind=ExceptionKind.BILLING_MISMATCH.value))
    finally:
        store.close()
    return page.rows


def test_a_meter_whose_intervals_agree_with_its_registers_matches(depot, capsys):
    m1 = billing(depot, capsys)["M1"]
    assert m1["outcome"] == "matched" and m1["mismatches"] == []
    assert m1["compared"] == ["1.8.0", "1.8.1", "1.6.0"]
    assert (m1["span_start_utc"], m1["span_end_utc"]) == ("2026-11-01T00:00:00Z",
                                                          "2026-12-01T00:00:00Z")
    assert [x.meter for x in mismatches(depot)] == ["M2"]         # none for M1


def test_a_register_advance_beyond_tolerance_is_an_exception_once(depot, capsys):
    m2 = billing(depot, capsys)["M2"]
    assert m2["outcome"] == "mismatch"
    assert m2["mismatches"] == [{"what": "import kWh", "register": "1.8.0",
                                 "from_intervals": "721.000", "register_value": "801.0",
                                 "allowed": "4.0050"}]
    billing(depot, capsys)                                        # and again
    (found,) = mismatches(depot)
    assert (found.meter, found.obis, found.time, found.upload_id) == (
        "M2", "1.8.0", END, "U-END")                              # the read at the end
    assert "import kWh 721.000 from intervals" in found.detail
    assert "advanced 801.0 (1000.0 at 2026-11-01T00:00:00+00:00 to 1801.0" in found.detail


def test_a_meter_without_register_reads_is_not_comparable(depot, capsys):
    m3 = billing(depot, capsys)["M3"]
    assert m3["outcome"] == "not_comparable" and m3["mismatches"] == []
    assert m3["reason"] == "no 1.8.0 read within 3 days of the period's start"
    assert "M3" not in [x.meter for x in mismatches(depot)]


def test_text_and_csv_say_the_outcome(depot, capsys):
    assert main(["billing", "--config", str(depot), "--period", "2026-11"]) == 0
    text = capsys.readouterr().out
    assert "registers: matched (1.8.0, 1.8.1, 1.6.0)" in text
    assert ("registers: mismatch: import kWh 721.000 from intervals, register 1.8.0 "
            "801.0") in text
    assert "1 billing_mismatch exception recorded" in text
    assert main(["billing", "--config", str(depot), "--period", "2026-11", "--csv"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.endswith(",registers")
    assert rows[2].endswith(",not comparable: no 1.8.0 read within 3 days of the "
                            "period's start")


def test_a_demand_stamped_before_the_span_is_not_compared(tmp_path, capsys):
    cfg = tmp_path / "hhu-sync.toml"
    cfg.write_text("[schedule]\npoll_seconds = 2.0\n")
    store = SqliteStore(load_config(cfg).paths.database)
    first, last = energy("0.0", "720.0")
    last.append(["1.6.0", "9.00", "kW", END, "2026-10-20T10:00:00+00:00", ""])
    ingest(store, "U-1", [visit("M1", START, first)])
    ingest(store, "U-2", [visit("M1", END, last, [series([500] * DAYS, first=NOV + 1800)])])
    store.close()
    m1 = billing(cfg, capsys)["M1"]
    assert m1["outcome"] == "matched" and m1["compared"] == ["1.8.0"]
    assert m1["notes"] == ["1.6.0 stamped 2026-10-20T10:00:00+00:00, outside the span: "
                           "not compared"]


def test_intervals_ending_after_the_meter_was_read_are_left_out_of_the_bill(tmp_path,
                                                                           capsys):
    # M4's clock ran ahead: read on the 20th at midnight, its profile runs to the 1st.
    # The ten days after the read are stored as sent and flagged (future_interval);
    # billing leaves them out, says so, and counts only what the meter had recorded.
    cfg = tmp_path / "hhu-sync.toml"
    cfg.write_text("[schedule]\npoll_seconds = 2.0\n")
    store = SqliteStore(load_config(cfg).paths.database)
    read = "2026-11-20T00:00:00+00:00"
    ingest(store, "U-AHEAD", [visit("M4", read, [], [series([500] * DAYS,
                                                            first=NOV + 1800)])])
    assert store._one("SELECT COUNT(*) FROM intervals") == DAYS       # kept as sent
    store.close()
    assert main(["billing", "--config", str(cfg), "--period", "2026-11", "--json"]) == 0
    (m4,) = json.loads(capsys.readouterr().out)
    held = 19 * 48                       # 1 November 00:30 to 20 November 00:00
    assert m4["intervals"] == held
    assert m4["import_kwh"] == f"{held * 0.5:.3f}"
    assert f"{DAYS - held} intervals left out: they end after the meter was read " \
        "(future_interval)" in m4["notes"]
