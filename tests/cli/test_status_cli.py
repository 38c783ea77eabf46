"""`hhu-sync status` tells what wants attention; `requeue`/`cancel` name their database.

The depot here is built through the store's own calls (no daemon), with times relative
to now: an HHU seen by the last poll is docked now, one seen a quarter of an hour ago
was last docked then.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest

from hhu_sync.cli import main
from hhu_sync.config import load_config
from hhu_sync.daemon_lock import DaemonLock
from hhu_sync.ingest import Upload, Visit
from hhu_sync.keys import KeyStore
from hhu_sync.model.catalog import load_catalog
from hhu_sync.model.inputs import load_inputs
from hhu_sync.outbox import OutboxProcessor
from hhu_sync.store import SqliteStore
from tests.conftest import EXAMPLES, ROOT

LIST = "route-north-2026-11"
OLD_KEYS = {"hhus", "queue", "lists", "lists_by_state", "sessions", "exceptions", "readings",
            "uploads", "failed_deliveries", "docks"}


SERVING: dict = {}     # database -> the lock a daemon serving it would hold


def stamp(ago_s: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=ago_s)).isoformat(timespec="seconds")


@pytest.fixture
def depot(tmp_path, catalog):
    cfg = tmp_path / "hhu-sync.toml"
    cfg.write_text(
        "[[hhus]]\nid = 'HHU-001'\ncrew = 'crew-north'\n"
        "[[hhus]]\nid = 'HHU-002'\ncrew = 'crew-south'\n"
        "[[docks]]\nname = 'cradle-1'\nport = 'socket://127.0.0.1:9'\n"
        "[[docks]]\nname = 'cradle-2'\nport = 'socket://127.0.0.1:10?a-very-long-option="
        + "x" * 120 + "'\n"
        "[schedule]\npoll_seconds = 2.0\n[limits]\nhandshake_seconds = 5\n")
    config = load_config(cfg)
    store = SqliteStore(config.paths.database)
    store.touch_hhu("HHU-001", dock="cradle-1", firmware="sim-1.0", battery=87,
                    free_flash=67_108_864, now=stamp(3), crew="crew-north")
    store.touch_hhu("HHU-002", dock="cradle-2", firmware="sim-1.0", battery=12,
                    free_flash=1_500, now=stamp(15 * 60), crew="crew-south")
    mlist = load_inputs([EXAMPLES], catalog).lists[LIST]
    store.add_meter_list(mlist, stamp(3600))
    visits = [Visit(0, "35100001", LIST, stamp(1800), "done", None, None, "00000000", "ann", ""),
              Visit(1, "35100002", LIST, stamp(1700), "done", None, None, "00000001", "ann", ""),
              Visit(2, "41200017", LIST, stamp(1600), "no_access", None, None, None, "ann",
                    "Gate locked\nthe key holder was away")]
    store.ingest(Upload("R-1", "HHU-001", "0" * 64, visits), stamp(1500))
    store.record_input("a" * 64, "bad.toml", "unknown", "rejected",
                       "bad.toml:3: scheme.id: missing\nbad.toml:9: rates: missing",
                       str(config.paths.rejected / "bad.toml"), stamp(120))
    store.close()
    lock = DaemonLock(config.paths.database)      # a daemon serves it: HHUs can be docked
    lock.acquire()
    SERVING[config.paths.database] = lock
    yield cfg, config
    SERVING.pop(config.paths.database).release()


def status_json(capsys, cfg) -> dict:
    assert main(["status", "--json", "--config", str(cfg)]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_keeps_every_earlier_key_and_raw_values(depot, capsys):
    cfg, _ = depot
    status = status_json(capsys, cfg)
    assert OLD_KEYS <= set(status)
    assert {"name", "port", "usb_serial", "baud"} <= set(status["docks"][0])
    hhu = status["hhus"][0]
    assert (hhu["battery"], hhu["free_flash"]) == (87, 67_108_864)
    assert datetime.fromisoformat(hhu["last_seen"])


def test_docked_now_is_told_from_last_docked(depot, capsys):
    cfg, _ = depot
    status = status_json(capsys, cfg)
    one, two = status["docks"]
    assert (one["hhu"], one["docked_now"]) == ("HHU-001", True)
    assert (two["hhu"], two["docked_now"]) == ("HHU-002", False)
    assert [h["docked_now"] for h in status["hhus"]] == [True, False]
    capsys.readouterr()
    assert main(["status", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "HHU-001 docked now" in out
    assert "HHU-002 last docked 15 min ago" in out


def test_low_battery_meter_flags_and_the_meter_that_failed_on_a_partial_list_are_warned(
        depot, capsys):
    cfg, _ = depot
    status = status_json(capsys, cfg)
    warnings = {(w["code"], w.get("hhu") or w.get("meter")): w["detail"]
                for w in status["warnings"]}
    assert warnings[("hhu_battery_low", "HHU-002")] == "battery 12% (below 20%)"
    assert "F.F 00000001 (battery low)" in warnings[("meter_error_flags", "35100002")]
    assert ("meter_error_flags", "35100001") not in warnings
    assert warnings[("visit_failed", "41200017")].startswith("no_access: Gate locked")
    assert status["lists_by_state"] == {"partial": 1}
    (failed,) = status["failed_visits"]
    assert (failed["list_id"], failed["meter"], failed["outcome"], failed["hhu"]) == (
        LIST, "41200017", "no_access", "HHU-001")
    capsys.readouterr()
    main(["status", "--config", str(cfg), "--battery-low", "10"])
    assert "hhu_battery_low" not in capsys.readouterr().out


def reject(config, name: str, reason: str) -> None:
    """As the outbox processor moves a file aside: the file, its reason beside it."""
    config.paths.rejected.mkdir(parents=True, exist_ok=True)
    (config.paths.rejected / name).write_text("x")
    (config.paths.rejected / f"{name}.reason.txt").write_text(reason + "\n")


def test_rejected_inputs_are_counted_with_their_reasons_first_line(depot, capsys):
    cfg, config = depot
    reject(config, "bad.toml", "bad.toml:3: scheme.id: missing\nbad.toml:9: rates: missing")
    reject(config, "k.csv", "k.csv: a symlink, not a regular file; not read")
    status = status_json(capsys, cfg)
    assert status["inputs_by_status"] == {"rejected": 1}          # what the database holds
    (recorded,) = status["rejected_inputs"]
    assert (recorded["name"], recorded["reason"], recorded["reason_lines"]) == (
        "bad.toml", "bad.toml:3: scheme.id: missing", 2)
    folder = status["rejected_folder"]                             # what is still there
    assert folder["count"] == 2
    assert {(f["name"], f["reason"]) for f in folder["files"]} == {
        ("bad.toml", "bad.toml:3: scheme.id: missing"),
        ("k.csv", "k.csv: a symlink, not a regular file; not read")}
    capsys.readouterr()
    main(["status", "--config", str(cfg)])
    out = capsys.readouterr().out
    assert "rejected inputs (2 in" in out and "bad.toml:3: scheme.id: missing" in out
    assert "rates: missing" not in out


def test_a_reason_file_that_is_a_link_is_not_read(depot, capsys, tmp_path):
    cfg, config = depot
    secret = tmp_path / "shadow"
    secret.write_text("root:SECRET-HASH\n")
    config.paths.rejected.mkdir(parents=True)
    (config.paths.rejected / "a.csv.reason.txt").symlink_to(secret)
    os.link(secret, config.paths.rejected / "b.csv.reason.txt")
    assert "SECRET-HASH" not in json.dumps(status_json(capsys, cfg))


def test_a_list_waiting_for_its_schemes_shows_in_status_and_is_logged_once(
        depot, capsys, caplog):
    cfg, config = depot
    config.paths.outbox.mkdir(parents=True)
    waiting = config.paths.outbox / "route-north.toml"
    shutil.copyfile(EXAMPLES / "route-north.toml", waiting)
    keystore = KeyStore(config.paths.keystore)
    keystore.enroll("HHU-001")
    store = SqliteStore(config.paths.database)
    proc = OutboxProcessor(config, store, load_catalog(ROOT / "config" / "meter-models.toml"),
                           keystore, wall=lambda: time.time() + 60)
    try:
        with caplog.at_level(logging.INFO, logger="hhu_sync.outbox"):
            assert proc.process(waiting).status == "deferred"
            assert proc.process(waiting).status == "deferred"
    finally:
        proc.close()
        store.close()
    said = [r.getMessage() for r in caplog.records if "waits up to" in r.getMessage()]
    assert len(said) == 1 and "unknown scheme id 'a1700-ci-tou-2026'" in said[0]
    status = status_json(capsys, cfg)
    assert status["waiting_inputs"]["count"] == 1
    (shown,) = status["waiting_inputs"]["files"]
    assert shown["name"] == "route-north.toml"
    assert shown["schemes"] == ["a1140-day-night", "a1700-ci-tou-2026"]
    capsys.readouterr()
    main(["status", "--config", str(cfg)])
    assert "meter list waiting for its schemes" in capsys.readouterr().out


def test_a_symlink_in_the_outbox_is_counted_never_followed(depot, capsys, tmp_path):
    cfg, config = depot
    config.paths.outbox.mkdir(parents=True)
    secret = tmp_path / "secret.toml"
    secret.write_text("[list]\nid = 'TOP-SECRET-LINE'\n")
    (config.paths.outbox / "k.toml").symlink_to(secret)
    status = status_json(capsys, cfg)
    assert status["waiting_inputs"]["count"] == 0
    assert "TOP-SECRET-LINE" not in json.dumps(status)


@pytest.mark.parametrize("width", [60, 200])
def test_every_line_fits_the_terminal(depot, capsys, monkeypatch, width):
    cfg, _ = depot
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["status", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= width
    assert "67.1 MB" in out and "1.5 kB" in out and "12% low" in out


def test_requeue_of_an_unknown_list_names_the_database_it_looked_in(depot, capsys):
    cfg, config = depot
    for action in ("requeue", "cancel"):
        assert main([action, "route-east", "--config", str(cfg)]) == 1
        err = capsys.readouterr().err
        assert "no meter list 'route-east'" in err
        assert str(config.paths.database.absolute()) in err and LIST in err


def test_without_a_database_nothing_is_created_and_the_path_is_named(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HHU_SYNC_CONFIG", raising=False)
    for args in (["requeue", LIST], ["cancel", LIST], ["status"], ["export"]):
        assert main(args) == 1
        err = capsys.readouterr().err
        assert f"no database at {tmp_path / 'var' / 'hhu-sync.db'}" in err
        assert "--config config/demo.toml" in err
    assert not (tmp_path / "var").exists()


def test_names_and_notes_are_shown_as_text_never_as_markup_or_terminal_codes(depot, capsys):
    cfg, config = depot
    reject(config, "\x1b[2J[bold]evil.toml", "[/red]\x07 bell\nsecond")
    assert main(["status", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J[bold]evil.toml" in out and "[/red]\\x07 bell" in out


def test_an_hhu_whose_session_is_still_committing_is_docked_now(depot, capsys):
    cfg, config = depot
    store = SqliteStore(config.paths.database)
    store.touch_hhu("HHU-002", dock="cradle-2", firmware="sim-1.0", battery=80,
                    free_flash=1_500, now=stamp(600), crew="crew-south")
    store.ingest(Upload("R-2", "HHU-002", "1" * 64, []), stamp(2))   # mid-session commit
    store.close()
    status = status_json(capsys, cfg)
    assert [h["docked_now"] for h in status["hhus"]] == [True, True]
    assert status["docks"][1]["docked_now"] is True


def test_a_file_that_is_not_a_database_is_named_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HHU_SYNC_CONFIG", raising=False)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "hhu-sync.db").write_bytes(b"not a database at all" * 100)
    for args in (["status"], ["status", "--json"], ["export"], ["requeue", LIST]):
        assert main(args) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"hhu-sync: database {tmp_path / 'var' / 'hhu-sync.db'}: ")
        assert "Traceback" not in err and len(err.splitlines()) == 1


def test_an_hhu_whose_session_runs_one_long_transfer_is_docked_now(depot, capsys):
    """Its handshake and its last commit are older than the window; the running session
    (recorded at its start, not yet ended) says it is in the cradle now."""
    cfg, config = depot
    store = SqliteStore(config.paths.database)
    store.touch_hhu("HHU-002", dock="cradle-2", firmware="sim-1.0", battery=80,
                    free_flash=1_500, now=stamp(600), crew="crew-south")
    session_id = store.start_session("cradle-2", stamp(590), hhu_id="HHU-002")
    store.close()
    status = status_json(capsys, cfg)
    assert [h["docked_now"] for h in status["hhus"]] == [True, True]
    assert status["docks"][1]["docked_now"] is True
    capsys.readouterr()
    assert main(["status", "--config", str(cfg)]) == 0
    assert "HHU-002 docked now" in capsys.readouterr().out

    store = SqliteStore(config.paths.database)    # the session ends: last docked again
    store.end_session(session_id, hhu_id="HHU-002", outcome="done", pushed=1, pulled=0,
                      report={}, now=stamp(300))
    store.close()
    assert [h["docked_now"] for h in status_json(capsys, cfg)["hhus"]] == [True, False]


def test_a_session_left_running_by_a_crash_does_not_keep_an_hhu_docked(depot, capsys):
    """No session outlives limits.session_seconds: an older running row is a daemon that
    stopped mid-session, and a running row older than the HHU's last ended one too."""
    cfg, config = depot
    store = SqliteStore(config.paths.database)
    store.start_session("cradle-2", stamp(config.limits.session_seconds + 600),
                        hhu_id="HHU-002")
    store.close()
    assert [h["docked_now"] for h in status_json(capsys, cfg)["hhus"]] == [True, False]
    store = SqliteStore(config.paths.database)
    store.start_session("cradle-2", stamp(900), hhu_id="HHU-002")      # crashed ...
    later = store.start_session("cradle-2", stamp(800), hhu_id="HHU-002")
    store.end_session(later, hhu_id="HHU-002", outcome="done", pushed=1, pulled=0,
                      report={}, now=stamp(700))                        # ... then one ended
    store.close()
    assert [h["docked_now"] for h in status_json(capsys, cfg)["hhus"]] == [True, False]


def test_the_schemes_a_waiting_list_names_are_shown_as_named_whatever_the_quoting(
        depot, capsys):
    """Told by the problems' code and subject: a scheme id holding a quote, shown by the
    message in double quotes, is still named exactly (no parsing of the wording)."""
    cfg, config = depot
    config.paths.outbox.mkdir(parents=True)
    (config.paths.outbox / "l.csv").write_text(
        "# list: L-quote\n# crew: crew-south\n# due: 2026-12-11\n"
        "serial,site,address,model,task,scheme,notes\n"
        "23000101,a,a,AS230,read+program,night'rate,\n"
        "23000102,b,b,AS230,read+program,as230-flat,\n")
    (shown,) = status_json(capsys, cfg)["waiting_inputs"]["files"]
    assert shown["schemes"] == ["as230-flat", "night'rate"]
    assert shown["reason"].startswith("meter list waiting for its schemes")


def test_status_tells_whether_a_daemon_serves_the_database(depot, capsys):
    """Right after ``run --once`` the HHU seen 3 s ago is not docked now: no daemon polls
    its cradle. A killed daemon's lock file is stale (its flock is free)."""
    cfg, config = depot
    status = status_json(capsys, cfg)
    assert status["daemon"]["running"] is True and status["daemon"]["pid"] == os.getpid()
    assert main(["status", "--config", str(cfg)]) == 0
    assert f"daemon: running (pid {os.getpid()}, since " in capsys.readouterr().out

    lock_file = SERVING[config.paths.database].path
    held = lock_file.read_text()
    for stale in (False, True):
        # the daemon gone: as at the end of run --once, or (stale) as a SIGKILL leaves
        # it, the file still there with its pid but no flock held
        SERVING[config.paths.database].release()
        if stale:
            lock_file.write_text(held)
        status = status_json(capsys, cfg)
        assert status["daemon"]["running"] is False
        assert [h["docked_now"] for h in status["hhus"]] == [False, False]
        assert not any(d["docked_now"] for d in status["docks"])
        assert main(["status", "--config", str(cfg)]) == 0
        out = capsys.readouterr().out
        assert "daemon: not running" in out and "docked now" not in out
        assert "HHU-001 last docked just now" in out


def test_a_second_daemon_on_one_database_refuses_to_start_naming_the_first(tmp_path, capsys):
    cfg = tmp_path / "hhu-sync.toml"
    cfg.write_text("[depot]\nid = 'DEPOT-T'\n")
    config = load_config(cfg)
    first = DaemonLock(config.paths.database)
    first.acquire()
    try:
        assert main(["run", "--once", "--config", str(cfg), "--log-format", "text"]) == 1
        err = capsys.readouterr().err
        assert f"cannot start: another hhu-sync daemon (pid {os.getpid()}, since " in err
        assert "daemon.lock" in err
    finally:
        first.release()
    assert not first.path.exists()                              # removed at release
    assert main(["run", "--once", "--config", str(cfg), "--log-format", "text"]) == 0
    assert not first.path.exists()                              # removed at shutdown


def test_a_configuration_from_the_environment_names_the_variable(depot, capsys, monkeypatch,
                                                                  tmp_path):
    """No --config given: the file came from $HHU_SYNC_CONFIG, which a newcomer may not
    know is set, so the message says so; a named or found file is told apart from it."""
    cfg, _ = depot
    monkeypatch.setenv("COLUMNS", "500")
    monkeypatch.setenv("HHU_SYNC_CONFIG", str(cfg))
    assert main(["status"]) == 0
    assert f"(from {cfg}, named by $HHU_SYNC_CONFIG)" in capsys.readouterr().out
    assert main(["status", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert f"(from {cfg})" in out and "HHU_SYNC_CONFIG" not in out
    monkeypatch.delenv("HHU_SYNC_CONFIG")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hhu-sync.toml").write_text(cfg.read_text())
    assert main(["status"]) == 0
    assert "(from hhu-sync.toml, found in the current folder)" in capsys.readouterr().out


def _south(config) -> None:
    """Another depot's daemon writing the same database: its own HHU in a cradle named
    as one of ours, a session and an upload."""
    south = SqliteStore(config.paths.database, depot="south")
    try:
        south.touch_hhu("HHU-S", dock="cradle-1", firmware="sim-1.0", battery=64,
                        free_flash=None, now=stamp(2))
        session = south.start_session("cradle-1", stamp(2), hhu_id="HHU-S")
        south.end_session(session, hhu_id="HHU-S", outcome="done", pushed=0, pulled=1,
                          report={}, now=stamp(1))
        south.ingest(Upload("R-S", "HHU-S", "1" * 64, [Visit(
            0, "35100003", LIST, stamp(60), "done", None, None, "00000000", "sam", "")]),
            stamp(30))
    finally:
        south.close()


def test_status_shows_every_depot_each_named_and_one_depot_alone(depot, capsys):
    cfg, config = depot
    _south(config)
    every = status_json(capsys, cfg)
    assert every["depot"] is None
    assert [(d["depot"], d["sessions"], d["uploads"]) for d in every["depots"]] == [
        ("depot", 0, 1), ("south", 1, 1)]
    assert {h["hhu_id"]: h["depot"] for h in every["hhus"]} == {
        "HHU-001": "depot", "HHU-002": "depot", "HHU-S": "south"}
    # our cradle-1 holds our HHU, not south's HHU in its own cradle-1
    assert [(d["depot"], d["name"], d["hhu"]) for d in every["docks"]] == [
        ("depot", "cradle-1", "HHU-001"), ("depot", "cradle-2", "HHU-002")]
    assert main(["status", "--json", "--depot", "south", "--config", str(cfg)]) == 0
    south = json.loads(capsys.readouterr().out)
    assert south["depot"] == "south" and OLD_KEYS <= set(south)
    assert [h["hhu_id"] for h in south["hhus"]] == ["HHU-S"]
    assert [(s["depot"], s["hhu_id"], s["outcome"]) for s in south["sessions"]] == [
        ("south", "HHU-S", "done")]
    assert south["uploads"] == 1
    assert [(d["depot"], d["name"], d["hhu"], d["port"]) for d in south["docks"]] == [
        ("south", "cradle-1", "HHU-S", None)]           # as its HHUs recorded it
    assert south["lists"] == every["lists"]             # the lists are the whole store's
    assert main(["status", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "depots: all (depot, south); this configuration's is depot" in out
    assert "HHU-S" in out and "HHU-001" in out
    sessions = out[out.index("last sessions"):]
    assert "┃ depot" in sessions and "│ south" in sessions          # each row's depot
    assert main(["status", "--depot", "south", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "depot south: its handhelds, docks, sessions and uploads" in out
    assert "HHU-S" in out and "HHU-002" not in out   # (HHU-001 is in the shared queue)
    assert "┃ depot" not in out                        # named once, above
    assert "from 1 upload of depot south" in out


def test_status_of_a_depot_the_store_has_not_seen_says_so(depot, capsys):
    cfg, _ = depot
    assert main(["status", "--depot", "east", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "depot east: nothing recorded by it (depots in this store: depot)" in out
    assert "handhelds: none" in out
