"""The line as a modem: a connect delay that loses nothing, drops scheduled or drawn from a
seed, calls again after a drop, and a busy line that closes the next call.

No timing assertions: what must not happen yet is checked not to have happened; what
must happen is waited for with a bound.
"""

from __future__ import annotations

import argparse
import socket

import pytest

from hhu_firmware_sim.cli import _drop, build_parser
from hhu_firmware_sim.faults import DropPlan
from hhu_firmware_sim.line import LineSim
from tests.unit.sim.test_line import EchoServer, _recv_exactly, _recv_until_closed


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.close()


def test_a_scheduled_drop_hits_its_session_only():
    plan = DropPlan({0: 1500, 2: 0})
    assert [plan.limit(i) for i in range(4)] == [1500, None, 0, None]


def test_scheduled_drops_come_before_cut_after():
    assert [DropPlan({1: 10}, every=99).limit(i) for i in range(3)] == [99, 10, 99]


def test_seeded_random_drops_replay_and_fall_within_the_window():
    one = [DropPlan(chance=0.5, within=300, seed=7).limit(i) for i in range(200)]
    two = [DropPlan(chance=0.5, within=300, seed=7).limit(i) for i in range(200)]
    other = [DropPlan(chance=0.5, within=300, seed=8).limit(i) for i in range(200)]
    assert one == two != other
    drawn = [n for n in one if n is not None]
    assert 50 < len(drawn) < 150
    assert all(1 <= n <= 300 for n in drawn)


def test_a_certain_drop_drops_every_session_and_none_never():
    assert None not in [DropPlan(chance=1.0, seed=1).limit(i) for i in range(20)]
    assert {DropPlan(chance=0.0, seed=1).limit(i) for i in range(20)} == {None}


@pytest.mark.parametrize("bad", [{"chance": 1.5}, {"within": 0}, {"every": -1},
                                 {"scheduled": {0: -5}}])
def test_a_drop_plan_out_of_range_is_refused(bad):
    with pytest.raises(ValueError):
        DropPlan(**bad)


def test_a_dropped_call_is_closed_mid_transfer_and_the_next_call_goes_through(echo):
    with LineSim(echo.address, baud=0, drops={0: 600}) as line:
        with socket.create_connection(line.address, timeout=10) as c:
            c.sendall(b"a" * 1000)
            got = _recv_until_closed(c, 10_000)
        assert len(got) < 1000                    # the echo never got all of it back
        with socket.create_connection(line.address, timeout=10) as c:
            c.sendall(b"b" * 1000)
            assert _recv_exactly(c, 1000) == b"b" * 1000
    assert line.stats.dropped == [0]
    assert line.stats.up.bytes_out + line.stats.down.bytes_out == 600 + 2000


def test_bytes_sent_while_the_modem_connects_are_delivered_once_it_is_up(echo):
    with LineSim(echo.address, baud=0, connect_ms=150) as line:
        with socket.create_connection(line.address, timeout=10) as c:
            c.sendall(b"/?12345!\r\n")            # at once, before the far end exists
            assert _recv_exactly(c, 10) == b"/?12345!\r\n"


def test_no_call_reaches_the_far_end_before_the_connect_delay(echo):
    with LineSim(echo.address, baud=0, connect_ms=60_000) as line:
        with socket.create_connection(line.address, timeout=10) as c:
            c.sendall(b"early")
            c.settimeout(0.3)
            with pytest.raises(TimeoutError):
                c.recv(10)
        assert line.stats.sessions == 0
    assert echo.received == b""


def test_a_busy_line_closes_the_next_call_without_a_byte(echo):
    with LineSim(echo.address, baud=0, busy="close", busy_grace_s=0.05) as line:
        with socket.create_connection(line.address, timeout=10) as first:
            first.sendall(b"x")
            assert _recv_exactly(first, 1) == b"x"     # the line is up and taken
            with socket.create_connection(line.address, timeout=10) as second:
                assert _recv_until_closed(second, 100) == b""
            first.sendall(b"y")
            assert _recv_exactly(first, 1) == b"y"     # the first call is unharmed
    assert line.stats.refused == 1


def test_the_cli_takes_drops_as_session_and_bytes():
    args = build_parser().parse_args(
        ["line", "--listen", "0", "--target", "127.0.0.1:1", "--drop", "0:2000",
         "--drop", "3:10", "--connect-ms", "800", "--rtt-ms", "300", "--drop-chance", "0.1"])
    assert (dict(args.drop), args.connect_ms, args.rtt_ms, args.drop_chance) == (
        {0: 2000, 3: 10}, 800.0, 300.0, 0.1)


def test_a_malformed_drop_says_what_it_wants():
    with pytest.raises(argparse.ArgumentTypeError, match="SESSION:BYTES"):
        _drop("2000")


@pytest.mark.parametrize("option", ["latency_ms", "connect_ms", "piece_ms"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_delay_that_is_not_a_finite_number_is_refused(option, value):
    """``--latency-ms nan`` or ``inf`` passes ``>= 0`` checks: a line that never delivers."""
    with pytest.raises(ValueError, match=option.partition("_")[0]):
        LineSim(("127.0.0.1", 1), listen=("127.0.0.1", 0), **{option: value})
