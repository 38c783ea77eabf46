"""`hhu-sync meter program` refuses a scheme that does not fit the meter, as lists do."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from hhu_firmware_sim.meter import Fleet, MeterServer, Quirks, SimMeter, TouTable
from hhu_sync.cli import main
from hhu_sync.cli.meter_cmds import EXIT_MISFIT
from hhu_sync.keys import KeyStore
from tests.conftest import EXAMPLES

FAST = ["--reaction-ms", "0", "--timeout", "0.2", "--retries", "1"]


@pytest.fixture
def depot(tmp_path):
    config = tmp_path / "hhu-sync.toml"
    config.write_text('[paths]\nkeystore = "keystore"\n')
    KeyStore(tmp_path / "keystore").set_secret("level3", "FEDC0003")
    return ["--config", str(config)]


def meter(model: str = "A1700") -> SimMeter:
    return SimMeter("35012345", model=model, passwords={1: "DEMO-L1", 3: "FEDC0003"},
                    start=datetime(2026, 11, 1))


def program(server: MeterServer, scheme: str, depot, *extra: str) -> int:
    return main(["meter", "program", "--port", server.url, "--scheme", str(EXAMPLES / scheme),
                 "--password-ref", "level3", *FAST, *extra, *depot])


def _untouched(m: SimMeter) -> bool:
    return m.tou == TouTable.flat() and m.display_items == ()


def test_a_scheme_for_another_model_is_refused_and_nothing_is_written(depot, capsys):
    m = meter("A1700")
    with MeterServer(Fleet([m], Quirks()), idle_timeout=1.0) as server:
        code = program(server, "a1140-day-night.toml", depot)
    assert code == EXIT_MISFIT != 0
    err = capsys.readouterr().err
    assert "A1140" in err and "A1700" in err and "nothing written" in err
    assert _untouched(m)


def test_force_programs_it_all_the_same_with_a_warning(depot, capsys):
    m = meter("A1700")
    with MeterServer(Fleet([m], Quirks()), idle_timeout=1.0) as server:
        code = program(server, "a1140-day-night.toml", depot, "--force", "--json")
    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out)["verified"]
    assert "warning" in captured.err and "A1140" in captured.err
    assert not _untouched(m)


def test_a_meter_of_no_catalog_model_is_refused(depot, capsys):
    m = meter("MT174")
    with MeterServer(Fleet([m], Quirks()), idle_timeout=1.0) as server:
        code = program(server, "a1700-ci-tou.toml", depot)
    assert code == EXIT_MISFIT
    err = capsys.readouterr().err
    assert "MT174" in err and "A1700" in err
    assert _untouched(m)


def test_the_right_model_is_programmed(depot, capsys):
    m = meter("A1700")
    with MeterServer(Fleet([m], Quirks()), idle_timeout=1.0) as server:
        assert program(server, "a1700-ci-tou.toml", depot) == 0
    assert "warning" not in capsys.readouterr().err
    assert not _untouched(m)
