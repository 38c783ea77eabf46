"""The daemon on PostgreSQL (``[store] url``): a docked HHU's upload committed to the
server, acknowledged, cleared and exported, and ``hhu-sync status`` reading it back.
Nothing is written to a SQLite file. Without the server these fail, never skip."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psycopg
import pytest

from hhu_sync.cli import main
from hhu_sync.config import load_config
from hhu_sync.daemon import Daemon
from hhu_sync.store import StoreError, open_store
from hhu_sync.store.schema_version import SCHEMA_VERSION
from tests.integration.test_daemon_docks import SCHEMES, Depot, dock
from tests.pg_server import pg_database, set_schema_version
from tests.schema_v1 import make_v1

__all__ = ["pg_database"]      # the fixture, used by name


class PgDepot(Depot):
    """A depot whose store is the PostgreSQL database ``url``."""

    def __init__(self, root: Path, docks: str, url: str) -> None:
        self.url = url
        super().__init__(root, docks)

    def write(self, docks: str, limits: str = "") -> None:
        super().write(docks, limits)
        self.config.write_text(f'[store]\nurl = "{self.url}"\n' + self.config.read_text())

    def one(self, sql: str):
        with psycopg.connect(self.url) as db:
            return db.execute(sql).fetchone()


@pytest.fixture
def depot(tmp_path, pg_database):
    return PgDepot(tmp_path, dock("cradle-1", "HHU-001"), pg_database)


def test_a_docked_hhus_upload_is_committed_acknowledged_cleared_and_exported_on_postgres(
        depot, capsys):
    depot.drop(*SCHEMES, "route-north.toml")
    assert depot.run(capsys) == 0
    assert len(depot.flash("HHU-001").bundles()) == 1          # its list, from PostgreSQL
    trip = depot.field_trip("HHU-001")
    assert trip.readings > 0
    assert depot.run(capsys) == 0
    # committed to the server: every reading once, the upload cleared, the list done
    assert depot.one("SELECT COUNT(*) FROM readings") == (trip.readings,)
    assert depot.one("SELECT COUNT(*), COUNT(cleared_at) FROM uploads") == (1, 1)
    assert depot.one("SELECT state FROM lists") == ("complete",)
    assert depot.flash("HHU-001").uploads() == []               # acknowledged: let go
    # exported by the export worker, from what PostgreSQL holds
    exports = depot.root / "var" / "exports"
    (csv_file,) = exports.glob("R-*.csv")
    assert sorted(p.suffix for p in exports.glob("R-*")) == [".cmep", ".csv"]
    with csv_file.open(newline="") as f:
        assert len(list(csv.DictReader(f))) == trip.readings
    assert not (depot.root / "var" / "hhu-sync.db").exists()    # no SQLite beside it
    # `status` reads it back from the server, and names it (without a password)
    assert main(["status", "--json", "--config", str(depot.config)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["readings"] == trip.readings
    assert status["database"] == depot.url
    assert [h["hhu_id"] for h in status["hhus"]] == ["HHU-001"]
    # every record says which depot made it: the configuration's [depot] id
    for table in ("sessions", "uploads", "hhus"):
        assert depot.one(f"SELECT string_agg(DISTINCT depot, ',') FROM {table}") == \
            ("DEPOT-T",)
    assert {s["depot"] for s in status["sessions"]} == {"DEPOT-T"}
    assert [d["depot"] for d in status["depots"]] == ["DEPOT-T"]
    (cmep,) = exports.glob("R-*.cmep")                  # the export's sender: the depot
    assert all(line.split(",")[2] == "DEPOT-T" for line in cmep.read_text().splitlines())


@pytest.mark.parametrize("other", ["0", str(int(SCHEMA_VERSION) + 1)])
def test_the_daemon_refuses_a_schema_older_or_newer_than_it_knows_naming_both(
        depot, capsys, other):
    open_store(depot.url).close()
    set_schema_version(depot.url, other)
    config = load_config(depot.config)
    with pytest.raises(StoreError, match=f"schema version {other}, this hhu-sync uses "
                                         f"{SCHEMA_VERSION}"):
        Daemon(config, once=True)
    assert main(["run", "--once", "--config", str(depot.config)]) == 1
    err = capsys.readouterr().err
    assert f"cannot start: {depot.url}: schema version {other}" in err
    assert depot.one("SELECT value FROM meta WHERE key = 'schema_version'") == (other,)
    assert depot.one("SELECT COUNT(*) FROM sessions") == (0,)   # nothing was served


def test_the_daemon_refuses_a_version_1_store_naming_both_until_db_upgrade_moves_it(
        depot, capsys):
    make_v1(depot.url)
    with pytest.raises(StoreError, match=f"schema version 1, this hhu-sync uses "
                                         f"{SCHEMA_VERSION}"):
        Daemon(load_config(depot.config), once=True)
    assert main(["run", "--once", "--config", str(depot.config)]) == 1
    assert f"cannot start: {depot.url}: schema version 1, this hhu-sync uses " \
        f"{SCHEMA_VERSION}" in capsys.readouterr().err
    assert depot.one("SELECT COUNT(*) FROM sessions") == (1,)   # the old one alone
    assert main(["db", "upgrade", "--config", str(depot.config)]) == 0
    assert depot.run(capsys) == 0                                # served now
    assert depot.one("SELECT value FROM meta WHERE key = 'schema_version'") == \
        (SCHEMA_VERSION,)
