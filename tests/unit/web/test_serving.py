"""Serving: the daemon serves the web app on its own thread when [web] listen is set,
`hhu-sync web` serves it alone, and a port in use never stops the cradles."""

from __future__ import annotations

import json
import logging
import socket
import threading
import urllib.request

import pytest

from hhu_sync.cli import main
from hhu_sync.config import parse_config
from hhu_sync.daemon import Daemon
from hhu_sync.model.problems import ModelError


def _config(tmp_path, listen: str):
    return parse_config({"paths": {"outbox": "outbox", "database": "db/depot.db"},
                         "web": {"listen": listen}}, tmp_path / "hhu-sync.toml")


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:      # noqa: S310 - loopback
        return json.loads(r.read())


def test_the_daemon_serves_the_web_app_while_it_runs_and_stops_it_at_the_end(tmp_path):
    daemon = Daemon(_config(tmp_path, "127.0.0.1:0"))
    assert daemon.web is not None
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    try:
        deadline = 200
        while not daemon.web.server.started and deadline:
            deadline -= 1
            daemon.stop.wait(0.05)
        assert _get(daemon.web.url + "healthz") == {"ok": True}
    finally:
        daemon.stop.set()
        runner.join(30)
    assert not runner.is_alive()
    with pytest.raises(OSError):
        _get(daemon.web.url + "healthz")


def test_every_connection_is_sent_without_delay(tmp_path):
    """TCP_NODELAY on the listening socket, so on every connection it accepts: without it
    a response's body waited for the browser's delayed ACK of its head, 40 ms a request
    on a kept-alive connection."""
    from hhu_sync.store import SqliteStore
    from hhu_sync.web.server import WebServer

    store = SqliteStore(tmp_path / "d.db")
    server = WebServer(_config(tmp_path, "127.0.0.1:0"), store)
    try:
        assert server.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        server.sock.close()
        store.close()


def test_a_port_in_use_is_logged_and_the_cradles_are_served_anyway(tmp_path, caplog):
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        with caplog.at_level(logging.ERROR):
            daemon = Daemon(_config(tmp_path, f"127.0.0.1:{taken.getsockname()[1]}"))
        assert daemon.web is None
        assert "cannot listen on" in caplog.text and "without the web app" in caplog.text
        daemon.lock.release()
        daemon.store.close()
    finally:
        taken.close()


def test_a_batch_run_shows_no_screen(tmp_path):
    daemon = Daemon(_config(tmp_path, "127.0.0.1:0"), once=True)
    assert daemon.web is None
    daemon.lock.release()


@pytest.mark.parametrize("bad", ["8080", "localhost:", "a b:80", "127.0.0.1:70000"])
def test_a_listen_address_that_is_not_host_and_port_is_refused_by_field(tmp_path, bad):
    with pytest.raises(ModelError, match="web.listen"):
        _config(tmp_path, bad)


def test_user_commands_read_the_password_from_stdin_never_an_argument(tmp_path, monkeypatch,
                                                                     capsys):
    (tmp_path / "hhu-sync.toml").write_text('[paths]\ndatabase = "db/depot.db"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", _Lines("a long enough password\n"))
    assert main(["user", "add", "kim", "--role", "depot"]) == 0
    monkeypatch.setattr("sys.stdin", _Lines("short\n"))
    assert main(["user", "add", "lee", "--role", "depot"]) == 1
    assert "too short" in capsys.readouterr().err
    assert main(["user", "list"]) == 0
    assert capsys.readouterr().out == "kim\tdepot\tenabled\n"
    assert main(["user", "disable", "kim"]) == 0
    monkeypatch.setattr("sys.stdin", _Lines(""))
    assert main(["user", "passwd", "nobody"]) == 1
    assert "no user 'nobody'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["user", "add", "kim", "--role", "root"])


class _Lines:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines(keepends=True)

    def isatty(self) -> bool:
        return False

    def readline(self, limit: int = -1) -> str:
        return self.lines.pop(0) if self.lines else ""


def test_a_requeue_or_cancel_from_the_command_line_is_audited_too(tmp_path, monkeypatch):
    from hhu_sync.store import SqliteStore
    from tests.unit.store.helpers import meter_list

    (tmp_path / "hhu-sync.toml").write_text('[paths]\ndatabase = "db/depot.db"\n')
    monkeypatch.chdir(tmp_path)
    store = SqliteStore(tmp_path / "db" / "depot.db")
    store.add_meter_list(meter_list("L1", ("M1",)), "2026-12-01T00:00:00+00:00")
    store.close()
    assert main(["cancel", "L1"]) == 0
    store = SqliteStore(tmp_path / "db" / "depot.db")
    try:
        (entry,) = store.audit_log()
    finally:
        store.close()
    assert entry.user.startswith("cli:") and (entry.action, entry.target) == (
        "list.cancel", "L1")
    assert json.loads(entry.after) == {"state": "cancelled"}
