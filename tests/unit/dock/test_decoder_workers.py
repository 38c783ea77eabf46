"""The check and export workers keep what they imported out of the collector's walks."""

from __future__ import annotations

import gc

from hhu_sync.dock.readings import UploadDecoder


def test_a_worker_starts_with_its_imports_frozen():
    decoder = UploadDecoder(1)
    try:
        decoder.start()
        for kind in ("check", "export"):
            assert decoder._run(kind, gc.get_freeze_count).result(timeout=60) > 1000
    finally:
        decoder.close()
