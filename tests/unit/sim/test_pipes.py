"""In-process byte pipes: bounded reads, EOF after close and drain."""

from __future__ import annotations

import pytest

from hhu_firmware_sim.ports import BytePipe


def test_read_returns_empty_on_timeout():
    assert BytePipe().read(10, 0.0) == b""


def test_read_returns_at_most_size():
    pipe = BytePipe()
    pipe.write(b"abcdef")
    assert pipe.read(4, 0.0) == b"abcd"
    assert pipe.available() == 2


def test_close_drains_then_raises_eof():
    pipe = BytePipe()
    pipe.write(b"ab")
    pipe.close()
    assert pipe.read(10, 0.0) == b"ab"
    with pytest.raises(EOFError):
        pipe.read(10, 0.0)


def test_write_after_close_raises_eof():
    pipe = BytePipe()
    pipe.close()
    with pytest.raises(EOFError):
        pipe.write(b"x")
