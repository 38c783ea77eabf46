"""Issue 16: the export worker's files of a PostgreSQL store are the bytes of a SQLite
store's holding the same uploads.

The awkward readings of :mod:`tests.bench.test_export_bytes` are ingested into a fresh
PostgreSQL database, and every upload is exported as the daemon's export worker does it
(``export_stored`` given the store's URL, reading the upload back from the server); each
file's SHA-256 must be the one :data:`~tests.bench.test_export_bytes.EXPECTED` pins for
the SQLite store (the per-upload files: the store-wide ``all.*`` are another path).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.bench.test_export_bytes import EXPECTED, STAMP, awkward_fill
from tests.pg_server import pg_database

__all__ = ["pg_database"]      # the fixture, used by name


def pg_export_digests(url: str, folder: Path) -> dict[str, str]:
    """Every upload's export files' SHA-256, by name, written by ``export_stored`` from
    the PostgreSQL store at ``url`` (filled with the awkward readings here)."""
    from datetime import datetime

    import hhu_sync.export.cmep as cmep
    import hhu_sync.export.cmep_intervals as cmep_intervals
    from hhu_sync.dock.readings import export_stored
    from hhu_sync.store.postgres import PostgresStore

    class Fixed(datetime):
        @classmethod
        def now(cls, tz=None):
            return STAMP

    store = PostgresStore(url)
    try:
        uploads = awkward_fill(store)
    finally:
        store.close()
    out = folder / "exports"
    real = cmep.datetime
    cmep.datetime = cmep_intervals.datetime = Fixed     # type: ignore[misc]
    try:
        for upload_id in uploads:
            export_stored(database=url, upload_id=upload_id, folder=str(out), sender="DEPOT")
    finally:
        cmep.datetime = cmep_intervals.datetime = real      # type: ignore[misc]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def test_a_postgresql_stores_upload_exports_are_the_sqlite_stores_bytes(tmp_path,
                                                                         pg_database):
    got = pg_export_digests(pg_database, tmp_path)
    expected = {name: digest for name, digest in EXPECTED.items()
                if not name.startswith("all.")}
    assert any(n.endswith(".intervals.cmep") for n in got)
    assert got == expected
