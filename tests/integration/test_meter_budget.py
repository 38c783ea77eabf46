"""`hhu-sync meter read` ends at its --budget against a meter that never finishes a frame.

A fake meter over TCP answers the sign-on with the start of a readout block and then
one byte of it at a time, forever (each byte is part of the frame, so no answer
time-out fires): only the budget ends the command, with the no-answer exit code.
"""

from __future__ import annotations

import socket
import threading

from hhu_firmware_sim.serving import SocketServer
from hhu_sync.cli import main
from hhu_sync.cli.meter_cmds import EXIT_NO_ANSWER


class EndlessFrame:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.server = SocketServer(self._serve, max_connections=1, blocking=True).start()
        self.url = self.server.url

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            conn.recv(100)                               # the sign-on
            conn.sendall(b"/GEC5A1700\r\n")
            conn.recv(100)                               # the option select
            conn.sendall(b"\x02")
            while not self.stop.wait(0.05):
                conn.sendall(b"1")
        except OSError:
            return

    def close(self) -> None:
        self.stop.set()
        self.server.stop()


def test_meter_read_ends_at_its_budget(tmp_path, capsys):
    config = tmp_path / "hhu-sync.toml"
    config.write_text('[paths]\nkeystore = "keystore"\n')
    meter = EndlessFrame()
    try:
        code = main(["meter", "read", "--port", meter.url, "--reaction-ms", "0",
                     "--timeout", "0.3", "--retries", "0", "--budget", "1",
                     "--config", str(config)])
    finally:
        meter.close()
    assert code == EXIT_NO_ANSWER
    assert "budget" in capsys.readouterr().err
