"""Direct depot mode: `hhu-sync meter read|program` over socket:// to a MeterServer."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from hhu_firmware_sim.meter import Fleet, MeterServer, Quirks, SimMeter, TouTable
from hhu_sync.cli import main
from hhu_sync.keys import KeyStore
from hhu_sync.model.loader import load_toml
from hhu_sync.model.scheme import parse_scheme
from tests.conftest import EXAMPLES

FAST = ["--reaction-ms", "0", "--timeout", "0.2", "--retries", "1"]


@pytest.fixture
def depot(tmp_path):
    config = tmp_path / "hhu-sync.toml"
    config.write_text('[paths]\nkeystore = "keystore"\n')
    store = KeyStore(tmp_path / "keystore")
    store.set_secret("a1700-level3", "FEDC0003")       # 8 characters: sent as P2
    store.set_secret("a1700-level1", "DEMO-L1")        # 7: sent as P1
    store.set_secret("stale", "00000000")
    return ["--config", str(config)]


def a1700(**kw) -> SimMeter:
    m = SimMeter("35012345", passwords={1: "DEMO-L1", 3: "FEDC0003"},
                 start=datetime(2026, 11, 1), flags=("cover_opened",), **kw)
    m.at(datetime(2026, 11, 12, 7, 30))
    return m


def serve(meter: SimMeter, quirks: Quirks | None = None) -> MeterServer:
    return MeterServer(Fleet([meter], quirks or Quirks()), idle_timeout=1.0)


def meter_cmd(*args: str) -> int:
    return main(["meter", *args])


def test_read_gives_the_full_readout_as_json(depot, capsys):
    m = a1700()
    with serve(m) as server:
        assert meter_cmd("read", "--port", server.url, "--json", *FAST, *depot) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["manufacturer"] == "GEC" and out["identification"] == "A1700"
    regs = {r["obis"]: r for r in out["registers"]}
    assert regs["1.8.0"]["value"] == m.register_value("1.8.0")[0].text
    assert regs["1.8.0"]["unit"] == "kWh"
    assert regs["F.F"]["value"] == "00000004"
    assert regs["1.6.0"]["extra"] == [m.register_value("1.6.0")[1].text]
    assert out["tables"] is None


def test_read_as_a_table_and_with_a_password_shows_the_program(depot, capsys):
    with serve(a1700()) as server:
        assert meter_cmd("read", "--port", server.url, "--password-ref", "a1700-level1",
                         *FAST, *depot) == 0
    out = capsys.readouterr().out
    assert "GEC A1700" in out and "1.8.0" in out
    assert "128.2.1" in out and "all;0000=1" in out


def test_program_writes_and_verifies_the_scheme(depot, capsys, catalog):
    m = a1700()
    scheme_file = EXAMPLES / "a1700-ci-tou.toml"
    with serve(m) as server:
        assert meter_cmd("program", "--port", server.url, "--scheme", str(scheme_file),
                         "--password-ref", "a1700-level3", "--json", *FAST, *depot) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verified"] and report["mismatches"] == []
    data, locate = load_toml(scheme_file)
    assert m.tou == TouTable.from_scheme(parse_scheme(data, "s", catalog, locate))
    assert m.display_scroll_seconds == 6


def test_a_refused_password_exits_4_and_changes_nothing(depot, capsys):
    m = a1700()
    with serve(m) as server:
        code = meter_cmd("program", "--port", server.url, "--scheme",
                         str(EXAMPLES / "a1700-ci-tou.toml"), "--password-ref", "stale",
                         *FAST, *depot)
    assert code == 4
    assert "refused the password" in capsys.readouterr().err
    assert m.tou == TouTable.flat() and m.failed_logins == 1


def test_a_meter_that_does_not_answer_exits_5(depot, capsys):
    with serve(a1700()) as server:
        code = meter_cmd("read", "--port", server.url, "--address", "99999999", *FAST,
                         *depot)
    assert code == 5
    assert "no answer" in capsys.readouterr().err


def test_an_invalid_scheme_or_missing_secret_exits_1_before_talking(depot, capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((EXAMPLES / "a1700-ci-tou.toml").read_text().replace(
        "period_minutes = 30", "period_minutes = 7"))
    assert meter_cmd("program", "--port", "socket://127.0.0.1:9", "--scheme", str(bad),
                     "--password-ref", "a1700-level3", *depot) == 1
    assert "period_minutes" in capsys.readouterr().err
    assert meter_cmd("program", "--port", "socket://127.0.0.1:9", "--scheme",
                     str(EXAMPLES / "a1700-ci-tou.toml"), "--password-ref", "nope",
                     *depot) == 1
    assert "secret 'nope'" in capsys.readouterr().err


def test_a_meter_ignoring_its_baud_and_an_echoing_probe_are_handled(depot, capsys):
    with serve(a1700(), Quirks(ignore_baud=True)) as server:
        assert meter_cmd("read", "--port", server.url, "--json", *FAST, *depot) == 0
    assert json.loads(capsys.readouterr().out)["baud_fallbacks"] == 1
    with serve(a1700(), Quirks(echo=True)) as server:
        assert meter_cmd("read", "--port", server.url, "--json", "--echo", *FAST,
                         *depot) == 0
    assert json.loads(capsys.readouterr().out)["identification"] == "A1700"


def test_clock_shows_the_meters_time_and_its_drift_from_this_pc(depot, capsys):
    with serve(a1700()) as server:
        assert meter_cmd("clock", "--port", server.url, "--json", *FAST, *depot) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["meter"] == "2026-11-12T07:30:00" and report["set_to"] is None
    pc = datetime.fromisoformat(report["pc"])
    assert abs(report["drift_s"] - (datetime(2026, 11, 12, 7, 30) - pc).total_seconds()) < 5


def test_clock_set_writes_the_time_and_reads_it_back(depot, capsys):
    m = a1700()
    with serve(m) as server:
        assert meter_cmd("clock", "--port", server.url, "--set", "2026-11-25T23:59:30",
                         "--password-ref", "a1700-level3", "--json", *FAST, *depot) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["meter"] == "2026-11-12T07:30:00"
    assert report["read_back"] == "2026-11-25T23:59:30" and abs(report["off_s"]) <= 2
    assert m.now == datetime(2026, 11, 25, 23, 59, 30)


def test_clock_set_without_a_password_is_refused_before_talking(depot, capsys):
    m = a1700()
    with serve(m) as server:
        assert meter_cmd("clock", "--port", server.url, "--set", *FAST, *depot) == 1
    assert "--set needs --password-ref" in capsys.readouterr().err
    assert m.now == datetime(2026, 11, 12, 7, 30)


def test_clock_set_to_a_time_with_an_offset_is_refused(depot, capsys):
    with serve(a1700()) as server:
        assert meter_cmd("clock", "--port", server.url, "--set", "2026-11-25T10:00:00+01:00",
                         "--password-ref", "a1700-level3", *FAST, *depot) == 1
    assert "meter's local time" in capsys.readouterr().err
