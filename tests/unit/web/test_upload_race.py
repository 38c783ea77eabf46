"""Two uploads at once with no daemon running: each is handled, in turn, by this
process (the second never takes the first's hold of the daemon lock for a daemon and
waits in vain, its file stranded in the outbox)."""

from __future__ import annotations

import hashlib
import threading

from starlette.testclient import TestClient

from hhu_sync.outbox import upload as up
from tests.unit.web.configured import SCHEME, files_in
from tests.unit.web.conftest import csrf_of, log_in

OTHER = SCHEME.replace(b'model = "AS230"', b'model = "AS230"\n# another edition', 1)


def test_two_uploads_at_once_are_both_handled(depot_client, config, store, monkeypatch):
    app = depot_client.app
    first_inside, second_sent = threading.Event(), threading.Event()
    here = up.Handover._here
    calls: list[str] = []

    def slow_here(self, path, sha):          # the first upload: processing takes a moment
        calls.append(path.name)
        if len(calls) == 1:
            first_inside.set()
            second_sent.wait(10)
        return here(self, path, sha)

    monkeypatch.setattr(up.Handover, "_here", slow_here)
    out = {}

    def send(key, name, data):
        with TestClient(app, base_url="http://127.0.0.1:8080") as c:
            log_in(c, "otto")
            if key == "b":
                second_sent.set()
            out[key] = c.post("/api/outbox", data={"csrf": csrf_of(c)},
                              files={"file": (name, data)})

    t1 = threading.Thread(target=send, args=("a", "a.toml", SCHEME))
    t1.start()
    assert first_inside.wait(20)
    t2 = threading.Thread(target=send, args=("b", "b.toml", OTHER))
    t2.start()
    t1.join(60)
    t2.join(60)
    assert (out["a"].status_code, out["b"].status_code) == (201, 201), out["b"].text
    assert files_in(config.paths.outbox) == []
    assert hashlib.sha256(OTHER).hexdigest() in store.inputs_seen(
        [hashlib.sha256(OTHER).hexdigest()])
