"""Small helpers shared by the hhu-sim sub-commands."""

from __future__ import annotations

import argparse
import signal
import threading


def hostport(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``[HOST:]PORT`` for argparse."""
    host, sep, port = text.rpartition(":")
    try:
        return (host if sep and host else default_host), int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected [HOST:]PORT, got {text!r}") from None


def wait_for_signal() -> None:
    """Block until SIGINT/SIGTERM (bounded waits, so Ctrl-C is seen promptly)."""
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
