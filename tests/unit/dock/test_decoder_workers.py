"""The check and export workers keep what they imported out of the collector's walks,
and leave Ctrl-C to the daemon."""

from __future__ import annotations

import gc
import signal

from hhu_sync.dock.readings import UploadDecoder


def test_a_worker_starts_with_its_imports_frozen():
    decoder = UploadDecoder(1)
    try:
        decoder.start()
        for kind in ("check", "export"):
            assert decoder._run(kind, gc.get_freeze_count).result(timeout=60) > 1000
    finally:
        decoder.close()


def _sigint_handler() -> object:
    return signal.getsignal(signal.SIGINT)


def test_a_worker_leaves_ctrl_c_to_the_daemon():
    decoder = UploadDecoder(1)
    try:
        decoder.start()
        for kind in ("check", "export"):
            assert decoder._run(kind, _sigint_handler).result(timeout=60) == signal.SIG_IGN
    finally:
        decoder.close()
