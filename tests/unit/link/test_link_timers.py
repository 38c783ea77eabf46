"""The link's timers (hhu_sync/link/timers.py): silence timers run down only in silence,
frame timers also while bytes arrive; deadlines are on the driver's clock."""

from __future__ import annotations

import pytest

from hhu_sync.link.timers import Timers


def started(at: float = 100.0) -> Timers:
    t = Timers()
    t.advance(at, True)   # the first report only sets the clock
    return t


def test_no_timer_no_deadline():
    t = started()
    assert not t
    assert t.deadline() is None and t.remaining() is None


def test_a_deadline_is_on_the_drivers_clock():
    t = started(100.0)
    t.set("req", 0.5)
    t.set("answer", 10.0)
    assert t.deadline() == pytest.approx(100.5)
    assert t.remaining() == pytest.approx(0.5)


def test_before_any_report_the_clock_counts_from_zero():
    t = Timers()
    t.set("idle", 10.0)
    assert t.deadline() == pytest.approx(10.0)
    t.advance(500.0, False)   # the first report: no time has passed before it
    assert t.deadline() == pytest.approx(510.0)


def test_a_silence_timer_does_not_run_down_while_bytes_arrive():
    t = started(0.0)
    t.set("tx", 0.5)
    assert not t.advance(2.0, False)   # two seconds of a long frame arriving
    assert t.deadline() == pytest.approx(2.5)
    assert t.pop_expired() == []
    t.advance(2.5, True)               # then half a second of silence
    assert t.pop_expired() == ["tx"]


def test_a_frame_timer_runs_down_while_bytes_arrive_and_says_so_when_it_runs_out():
    t = started(0.0)
    t.set("idle", 10.0)
    assert not t.advance(6.0, False)
    assert t.deadline() == pytest.approx(10.0)
    assert t.advance(10.0, False)      # junk kept coming: idle ran out all the same
    assert t.pop_expired(frame_only=True) == ["idle"]


def test_while_bytes_arrive_only_frame_timers_are_taken():
    t = started(0.0)
    t.set("req", 0.5)
    t.set("answer", 1.0)
    t.advance(0.6, True)
    assert t.advance(1.0, False)
    assert t.pop_expired(frame_only=True) == ["answer"]
    assert "req" in t
    assert t.pop_expired() == ["req"]


def test_timers_that_ran_out_together_come_in_firing_order():
    t = started(0.0)
    for name in ("idle", "keepalive", "answer", "req", "tx", "rx"):
        t.set(name, 1.0)
    t.advance(1.0, True)
    assert t.pop_expired() == ["rx", "tx", "req", "answer", "keepalive", "idle"]
    assert not t


def test_a_clock_that_goes_back_moves_nothing():
    t = started(10.0)
    t.set("rx", 1.0)
    t.advance(5.0, True)
    assert t.remaining() == pytest.approx(1.0)
    assert t.deadline() == pytest.approx(6.0)


def test_restarting_or_cancelling_the_soonest_timer_moves_the_deadline():
    t = started(0.0)
    t.set("rx", 0.5)
    t.set("keepalive", 5.0)
    t.set("rx", 2.0)
    assert t.deadline() == pytest.approx(2.0)
    t.cancel("rx")
    assert t.deadline() == pytest.approx(5.0)
    t.clear()
    assert t.deadline() is None
