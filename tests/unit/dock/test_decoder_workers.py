"""The check and export workers keep what they imported out of the collector's walks,
and leave Ctrl-C to the daemon; billing's exports wait for the commits in flight."""

from __future__ import annotations

import gc
import signal
import threading
import time

from hhu_sync.dock import readings
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


def _commits_quiet() -> bool:
    return readings._COMMITS_QUIET.is_set()


def test_the_export_worker_knows_whether_any_commit_is_in_flight():
    decoder = UploadDecoder(1)
    try:
        decoder.start()
        assert decoder._run("export", _commits_quiet).result(timeout=60) is True
        decoder.commit_began()
        decoder.commit_began()
        decoder.commit_ended()             # one of two ended: still in flight
        assert decoder._run("export", _commits_quiet).result(timeout=60) is False
        decoder.commit_ended()
        assert decoder._run("export", _commits_quiet).result(timeout=60) is True
    finally:
        decoder.close()


def test_an_export_waits_for_the_commits_in_flight_but_never_past_its_deadline(monkeypatch):
    # HHUs at the cradles wait on commits; billing's export of an upload waits for them
    # (its queries would take the database server from them), at most EXPORT_DEFER_S
    quiet = threading.Event()
    monkeypatch.setattr(readings, "_COMMITS_QUIET", quiet)
    written: list[str] = []
    monkeypatch.setattr(readings, "export_stored",
                        lambda *, upload_id: written.append(upload_id) or [upload_id])
    waiting = threading.Thread(target=readings._export_when_quiet,
                               args=(time.time() + 60,), kwargs={"upload_id": "U1"})
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive() and written == []      # a commit is in flight
    quiet.set()                                      # the last one ended
    waiting.join(10)
    assert written == ["U1"]
    quiet.clear()                                    # in flight again, but U2's time is up
    assert readings._export_when_quiet(time.time() - 1, upload_id="U2") == ["U2"]
    assert readings.EXPORT_DEFER_S <= 60             # no deadline beyond a minute


def _wait_for_quiet() -> bool:
    return readings._COMMITS_QUIET.wait(30)


def test_an_export_worker_killed_while_it_waits_never_holds_up_the_commits():
    # the export worker can die while it waits (the OOM killer, a service manager's
    # SIGTERM to every process of the daemon): the commits it waited for still end, the
    # next ones still begin, at once (a shared lock or condition the dead worker held,
    # or was counted a sleeper of, would hold every committer thread forever)
    import os

    decoder = UploadDecoder(1)
    try:
        decoder.start()
        pid = decoder._run("export", os.getpid).result(timeout=60)
        decoder.commit_began()
        waiting = decoder._run("export", _wait_for_quiet)
        time.sleep(1.0)                                 # the worker is waiting
        assert not waiting.done()
        os.kill(pid, signal.SIGKILL)
        calls = threading.Thread(target=lambda: (decoder.commit_ended(),
                                                 decoder.commit_began(),
                                                 decoder.commit_ended()), daemon=True)
        calls.start()
        calls.join(5)
        assert not calls.is_alive(), "the commits wait on a dead export worker"
    finally:
        decoder.close()
