"""A file examined while the store cannot be read (a database server down): the file
waits in the outbox, it is not set aside as unreadable."""

from __future__ import annotations

from dataclasses import replace

from hhu_sync.outbox.examine import examine_file
from hhu_sync.store import StorageUnavailable
from tests.unit.outbox.test_examine import example, make_depot, put


def test_a_meter_list_whose_library_cannot_be_read_is_deferred_not_rejected(tmp_path):
    proc = make_depot(tmp_path, 0)
    path = put(proc, "route-north.toml", example("route-north.toml"))

    def down():
        raise StorageUnavailable("postgresql://depot@db/hhu: connection refused")

    found = examine_file(replace(proc.examiner.ctx, library=down), path)
    assert found.status == "deferred"
    assert found.detail.startswith("storage unavailable: ")
    assert path.exists()
    proc.close()
