"""`hhu-sync meter` when the line itself goes: a message and exit 5, never a traceback."""

from __future__ import annotations

from datetime import datetime

from hhu_firmware_sim.meter import Fleet, MeterServer, Quirks, SimMeter
from hhu_sync.cli import main
from tests.conftest import EXAMPLES


def test_a_peer_that_hangs_up_on_an_unknown_address_exits_5_with_a_message(tmp_path, capsys):
    # The fleet stays silent for an address it does not serve and drops an idle connection:
    # with the client's answer timeout longer than the server's idle limit, the socket
    # closes under the client (as `hhu-sim meter --fleet` did for `--address 99999999`).
    meter = SimMeter("35012345", passwords={1: "DEMO-L1"}, start=datetime(2026, 11, 1))
    config = tmp_path / "hhu-sync.toml"
    config.write_text('[paths]\nkeystore = "keystore"\n')
    with MeterServer(Fleet([meter], Quirks()), idle_timeout=0.2) as server:
        code = main(["meter", "read", "--port", server.url, "--address", "99999999",
                     "--reaction-ms", "0", "--timeout", "1.0", "--retries", "1",
                     "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 5
    assert "Traceback" not in err
    assert "99999999" in err and server.url in err


def test_output_piped_into_a_reader_that_quits_early_is_no_traceback(tmp_path, monkeypatch,
                                                                      capsys):
    # `hhu-sync validate schemes/ | head -c 1`: the reader closes the pipe early.
    class ClosedPipe:
        def write(self, _text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            raise OSError("no descriptor")

    config = tmp_path / "hhu-sync.toml"
    config.write_text('[paths]\ndatabase = "db.sqlite"\n')
    monkeypatch.setattr("sys.stdout", ClosedPipe())
    code = main(["validate", str(EXAMPLES), "--config", str(config)])
    assert code == 141        # 128 + SIGPIPE, as a shell reports a reader that hung up
    assert "Traceback" not in capsys.readouterr().err
