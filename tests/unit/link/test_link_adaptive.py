"""The sender adapts its frame size to the line: error-rate estimate, rate bound, no clock."""

from __future__ import annotations

import random

import pytest
from link_pump import Pair
from paced_line import put_over_paced_line

from hhu_sync.link import (
    Authenticated,
    BundleData,
    BundleStored,
    LinkSettings,
    PutBundle,
    StartHandshake,
)
from hhu_sync.link.connection import DATA_EVENT_MAX
from hhu_sync.link.selective_repeat import CLOCKLESS_MAX_PAYLOAD, LineEstimate

LO, HI = 64, 8192


def clocked() -> LineEstimate:
    est = LineEstimate(256)
    est.acked_at(0.0, 0)  # a driver that tells the time, no rate measured yet
    return est


def test_estimate_starts_small_and_grows_with_clean_bytes() -> None:
    est = clocked()
    assert est.payload(LO, HI) == 256
    sizes = []
    for _ in range(1024):
        est.clean(1024)
        sizes.append(est.payload(LO, HI))
    assert sizes == sorted(sizes)  # never shrinks on a clean line
    assert sizes[7] == 1024 and sizes[127] == 4096 and sizes[-1] == HI
    assert est.payload(LO, 65536) >= 16384  # ~1 MiB of clean line earns 16 KiB frames


def test_first_loss_shrinks_at_once_and_regrowth_is_slow() -> None:
    est = clocked()
    for _ in range(2048):
        est.clean(4096)
    assert est.payload(LO, HI) == HI
    est.lost(HI)
    after = est.payload(LO, HI)
    assert after <= HI // 4
    for _ in range(8):
        est.clean(after)
    assert est.payload(LO, HI) == after  # many clean frames before it grows again
    for _ in range(1024):
        est.clean(after)
    assert est.payload(LO, HI) == HI  # the old error fades away


@pytest.mark.parametrize(
    ("ber", "lo", "hi"), [(1e-4, 64, 256), (1e-5, 256, 512), (1e-6, 512, 2048)]
)
def test_estimate_settles_near_the_goodput_optimum(ber: float, lo: int, hi: int) -> None:
    rng = random.Random(7)
    est = clocked()
    seen = []
    for i in range(20_000):
        size = est.payload(LO, HI)
        wire = size + 9
        if rng.random() < 1 - (1 - ber) ** (8 * wire):
            est.lost(wire)
        else:
            est.clean(wire)
        if i > 10_000:
            seen.append(size)
    seen.sort()
    assert lo <= seen[len(seen) // 2] <= hi


def test_rate_bounds_the_frame_time_and_no_clock_means_1k() -> None:
    est = LineEstimate(256, ack_timeout=0.5)
    for _ in range(4096):
        est.clean(4096)
    assert est.payload(LO, HI) == CLOCKLESS_MAX_PAYLOAD  # never told the time
    est.restart_clock()
    for i in range(5):  # 11520 B/s (115200 baud) acknowledged
        est.acked_at(i * 0.5, 5760)
    assert est.payload(LO, HI) == 4096  # 0.36 s on the line, under 0.75 x 0.5 s
    est.rate = 960.0  # 9600 baud
    assert est.payload(LO, HI) == 256


def test_timeout_halves_the_size_until_the_history_fades() -> None:
    est = clocked()
    for _ in range(4096):
        est.clean(4096)
    assert est.payload(LO, HI) == HI
    est.timed_out(HI)
    assert est.payload(LO, HI) == HI // 2
    for _ in range(64):
        est.clean(4096)
    assert est.payload(LO, HI) == HI


def test_bundle_data_comes_in_bounded_pieces() -> None:
    p = Pair(settings=LinkSettings(max_frame_payload=65536))
    p.dock.send(StartHandshake())
    p.run(lambda: p.dock_has(Authenticated))
    p.hhu._line.acked_at(0.0, 0)  # as if the driver told the time: frames may grow past 1 KiB
    data = random.Random(3).randbytes(300_000)
    p.dock.send(PutBundle("b", data))
    p.run(lambda: p.dock_has(BundleStored) or p.dock.state == "ERROR")
    assert p.app.committed["b"] == data
    sizes = [len(e.data) for e in p.hhu_events if isinstance(e, BundleData)]
    assert sum(sizes) == len(data)
    assert max(sizes) <= DATA_EVENT_MAX


def test_clean_115200_line_runs_near_line_rate_and_frames_grow() -> None:
    size = 131_072
    run = put_over_paced_line([random.Random(1).randbytes(size)] * 2)
    first, second = run.share(size, 115200)
    assert first >= 0.98 and second >= 0.99  # the second put starts at the earned size
    assert run.stats.frame_payload == 4096 and run.stats.timeouts == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ber_1e5_both_ways_keeps_goodput(seed: int) -> None:
    size = 131_072
    run = put_over_paced_line([random.Random(seed).randbytes(size)], ber=1e-5, seed=seed)
    assert run.share(size, 115200)[0] >= 0.9
    assert run.stats.frame_shrinks > 0 and run.stats.frame_payload <= 512


def test_slow_line_gets_frames_shorter_than_the_ack_timer() -> None:
    size = 40_000
    run = put_over_paced_line([random.Random(4).randbytes(size)], baud=9600)
    assert run.stats.timeouts == 0 and run.stats.frames_resent == 0
    assert run.stats.frame_payload <= 256
    assert run.share(size, 9600)[0] >= 0.9
