"""A pulled cable costs at most one window: the redock resumes at what the HHU holds."""

from __future__ import annotations

import random

import pytest
from link_pump import HhuApp, Pair

from hhu_sync.link import BundleStored, LinkSettings, PutBundle, StartHandshake

DATA = random.Random(5).randbytes(1_500_000)
SETTINGS = LinkSettings()
ONE_WINDOW = SETTINGS.window * SETTINGS.max_frame_payload


@pytest.mark.parametrize("cut_seed", range(10))
def test_a_cut_at_any_point_resends_at_most_one_window(cut_seed: int) -> None:
    app = HhuApp()
    cut_at = random.Random(cut_seed).randrange(1, len(DATA))
    sent = 0
    for session in range(1, 10):
        p = Pair(app=app, seed=session * 10 + cut_seed, chunk=4096)
        if session == 1:
            p.cut_at = cut_at
        p.dock.send(StartHandshake())
        p.dock.send(PutBundle("b", DATA))
        p.run(lambda p=p: p.dock_has(BundleStored) or p.cut or p.dock.state == "ERROR")
        sent += p.dock.stats.payload_bytes_sent
        if not p.cut:
            break
    assert app.committed["b"] == DATA
    resent = sent - len(DATA)
    assert 0 <= resent <= ONE_WINDOW, (cut_at, resent, ONE_WINDOW)
