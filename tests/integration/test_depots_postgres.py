"""Four depots' daemons on one PostgreSQL database at once (issue 16): each a process of
its own with its own cradle and simulated HHU, the same crew's meter list offered to
all of them, and every HHU docking with an upload of the same meters (read at the same
time, the same values: crews of four depots on one boundary).

What they share is the database alone: the list goes to one HHU once, every reading is
stored once (the other three uploads' copies are duplicates), every exception is
recorded once (the same exceptions, kind by kind and key by key, as the four uploads
ingested one after another into one SQLite store), every upload is acknowledged and
cleared. Without the server these fail, never skip."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from hhu_firmware_sim.flash import FlashStore
from hhu_sync.dock.readings import check_upload
from hhu_sync.keys import KeyStore, load_key_file
from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.store import SqliteStore, open_store
from hhu_sync.transfer import encode_transfer
from tests.pg_server import pg_database

__all__ = ["pg_database"]      # the fixture, used by name

DEPOTS = 4
SHARED = [f"5100{n:04d}" for n in range(10)]      # every depot's crew reads these
VISITED = "2026-11-20T10:00:00+00:00"
CREW_LIST = "boundary-north"


def hhu_of(depot: int) -> str:
    return f"HHU-{depot + 1:03d}"


def visits(depot: int) -> list[dict]:
    """An HHU's round: the shared meters (same time, same values at every depot) and one
    meter of its own, all read on no list (each visit an exception of its upload)."""
    own = f"5200{depot:04d}"
    return [{"meter": m, "list": "", "time": VISITED, "outcome": "done",
             "registers": [["1.8.0", f"{1000 + n:06d}.0", "kWh", VISITED],
                           ["2.8.0", f"{20 + n:06d}.0", "kWh", VISITED]],
             "error_flags": "00000000", "scheme": None, "verify": None,
             "operator": f"crew-{depot}", "notes": ""}
            for n, m in enumerate([*SHARED, own])]


class PgDepot:
    """One depot: its folder, configuration (``depot.id``, the shared ``[store] url``),
    key store and the cradle of its one simulated HHU."""

    def __init__(self, root: Path, number: int, url: str) -> None:
        self.root, self.number, self.hhu = root, number, hhu_of(number)
        root.mkdir()
        self.config = root / "hhu-sync.toml"
        self.config.write_text(
            f'[depot]\nid = "DEPOT-{number + 1}"\n[store]\nurl = "{url}"\n'
            '[serial]\nhandler_packages = ["hhu_firmware_sim.urlhandler"]\n'
            f'[[hhus]]\nid = "{self.hhu}"\ncrew = "crew-north"\n'
            '[limits]\ndebounce_seconds = 0.05\nhandshake_seconds = 5\n'
            'transfer_seconds = 60\nretry_backoff_seconds = 0.1\noutbox_workers = 0\n'
            '[schedule]\npoll_seconds = 0.2\n'
            f'[[docks]]\nname = "cradle-{number + 1}"\nport = "hhusim://{self.hhu}?flash='
            f'{{config_dir}}/flash/{self.hhu}&key={{config_dir}}/var/keystore/hhus/'
            f'{self.hhu}.key"\n')
        KeyStore(root / "var" / "keystore").enroll(self.hhu)
        self.key = load_key_file(root / "var" / "keystore" / "hhus" / f"{self.hhu}.key")
        self.flash = FlashStore(root / "flash" / self.hhu)
        self.upload_id = f"U-{self.hhu}"
        self.sealed = encode_transfer(
            "readings", {"upload_id": self.upload_id, "hhu_id": self.hhu,
                         "visits": visits(number)},
            source=self.hhu, target="depot", key=self.key, bundle_id=self.upload_id)
        self.flash.store_upload(self.upload_id, self.sealed)

    def start(self) -> subprocess.Popen:
        """``hhu-sync run --once``: one cycle (dock, push what is queued, pull, commit,
        acknowledge), then the summary; a process of its own, as a depot's daemon is."""
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("hhu-sync")), "run", "--once", "--config",
             str(self.config), "--timeout", "60", "--log-format", "text"],
            env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def exceptions_key_by_key(rows) -> Counter:
    """Exceptions as a multiset of (kind, meter, obis, time): which upload came first
    decides whose copy a duplicate is, not how many there are of each."""
    return Counter((kind, meter, obis, time) for kind, meter, obis, time in rows)


def reference(depots: list[PgDepot], tmp_path: Path) -> tuple[int, Counter]:
    """The four uploads ingested one after another into one SQLite store: the readings
    and exceptions the shared database must hold, each once."""
    store = SqliteStore(tmp_path / "reference.db")
    try:
        for d in depots:
            store.ingest(check_upload(d.sealed, hhu_id=d.hhu, hhu_key=d.key,
                                      upload_id=d.upload_id), "2026-11-20T12:00:00+00:00")
        readings = store.status()["readings"]
        rows = store._db().execute("SELECT kind, meter, obis, time FROM exceptions").fetchall()
    finally:
        store.close()
    return readings, exceptions_key_by_key(rows)


@pytest.fixture
def depots(tmp_path, pg_database) -> list[PgDepot]:
    made = [PgDepot(tmp_path / f"depot-{n + 1}", n, pg_database) for n in range(DEPOTS)]
    store = open_store(pg_database)      # the back office: the crew's list, for any HHU
    try:
        store.add_meter_list(MeterList(
            id=CREW_LIST, name=CREW_LIST, hhu=None, crew="crew-north", due="2026-12-31",
            notes="", meters=tuple(MeterEntry(m, "", "", "read", None, None, "")
                                   for m in SHARED)), "2026-11-19T08:00:00+00:00")
    finally:
        store.close()
    return made


def one(url: str, sql: str) -> tuple:
    with psycopg.connect(url) as db:
        return db.execute(sql).fetchone()


def rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as db:
        return db.execute(sql).fetchall()


def test_four_depots_at_once_deliver_the_crews_list_once_and_store_every_reading_once(
        depots, pg_database, tmp_path):
    running = [d.start() for d in depots]           # all four at once, one database
    for d, proc in zip(depots, running, strict=True):
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"depot {d.number + 1}:\n{out}"

    # the crew's list went to one HHU, once: one delivery, delivered, on one flash
    [(target, state)] = rows(pg_database, "SELECT target_hhu, state FROM deliveries "
                                          "WHERE kind = 'meter_list'")
    assert state == "delivered"
    holding = [d.hhu for d in depots if d.flash.bundles()]
    assert holding == [target]
    assert one(pg_database, "SELECT state, delivered_to FROM lists") == ("on_hhu", target)

    # every upload committed once, acknowledged (gone from its HHU) and cleared
    assert rows(pg_database, "SELECT upload_id, hhu_id, cleared_at IS NOT NULL FROM uploads "
                             "ORDER BY upload_id") == \
        [(d.upload_id, d.hhu, True) for d in depots]
    assert all(d.flash.uploads() == [] for d in depots)

    # every reading once: the shared meters' from one upload, each HHU's own meter's
    readings, expected = reference(depots, tmp_path)
    assert one(pg_database, "SELECT COUNT(*), COUNT(DISTINCT (meter, obis, time)) "
                            "FROM readings") == (readings, readings)
    assert readings == (len(SHARED) + DEPOTS) * 2
    assert one(pg_database, "SELECT COUNT(DISTINCT upload_id) FROM readings "
                            f"WHERE meter = '{SHARED[0]}'") == (1,)

    # every exception once: the same ones, key by key, as one store ingesting in turn
    held = exceptions_key_by_key(rows(pg_database, "SELECT kind, meter, obis, time "
                                                   "FROM exceptions"))
    assert held == expected
    assert held[("duplicate", SHARED[0], "1.8.0", VISITED)] == DEPOTS - 1
    assert one(pg_database, "SELECT COUNT(*) FROM (SELECT 1 FROM exceptions GROUP BY "
                            "upload_id, kind, meter, obis, time HAVING COUNT(*) > 1) d") \
        == (0,)

    # and each depot's sessions are its own HHU's
    assert sorted(r[0] for r in rows(pg_database, "SELECT DISTINCT hhu_id FROM sessions "
                                                  "WHERE hhu_id IS NOT NULL")) == \
        sorted(d.hhu for d in depots)
