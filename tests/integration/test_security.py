"""Security promises that need the whole system to show them."""

from __future__ import annotations

import logging

from tests.integration.test_daemon_docks import SCHEMES, SECRETS, Depot, dock


def test_meter_passwords_appear_nowhere_but_in_the_key_store(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    depot = Depot(tmp_path, dock("cradle-1", "HHU-001"))
    depot.drop(*SCHEMES, "route-north.toml")
    assert depot.run(capsys) == 0
    depot.field_trip("HHU-001")
    assert depot.run(capsys) == 0
    secrets = [v.encode() for v in SECRETS.values()]
    logged = "\n".join(r.getMessage() for r in caplog.records).encode()
    for value in secrets:
        assert value not in logged
    keystore = tmp_path / "var" / "keystore" / "secrets"
    scanned = 0
    for path in tmp_path.rglob("*"):
        if path.is_file() and keystore not in path.parents:
            data = path.read_bytes()
            scanned += 1
            for value in secrets:
                assert value not in data, f"{value!r} found in {path}"
    assert scanned > 10        # database, WAL, archive, flash, exports were all read


def test_key_files_and_folders_are_private(tmp_path, capsys):
    Depot(tmp_path, dock("cradle-1", "HHU-001"))
    for path in (tmp_path / "var" / "keystore").rglob("*"):
        mode = path.stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
