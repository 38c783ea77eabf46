"""How many sessions a remote port carries at once, and the meters its sessions share.

A port is what a meter's ``port`` URL names. A local device (``/dev/ttyUSB3``, ``COM3``)
is an RS-485 bus on the depot's own adapter: half duplex and shared, so **one session
at a time**, always. A network port (``socket://HOST:PORT``, ``rfc2217://HOST:PORT``)
is a modem or a TCP-to-serial gateway: meters sharing one URL are behind one gateway,
which carries up to ``sessions_per_gateway`` conversations at once (``[remote]``,
default 1: a gateway whose serial side is one bus, as most are), or its own number
(``[[remote.gateways]]``: a gateway with four serial ports carries four). A modem with
one meter has one meter to talk to, so one session whatever the setting.

The sessions of one port take their meters from one :class:`PortQueue`, in list order:
a meter that costs its whole budget holds one session, not a share of the others'.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from hhu_sync.model.meterlist import gateway_key, is_gateway

T = TypeVar("T")


@dataclass(frozen=True)
class GatewaySessions:
    """How many sessions a gateway carries: its own number, else the depot's default."""

    default: int = 1
    by_port: Mapping[str, int] = field(default_factory=dict)

    def of(self, port: str) -> int:
        """``by_port`` holds :func:`gateway_key` s (as the configuration keeps them)."""
        return self.by_port.get(gateway_key(port), self.default)


def sessions_for(port: str, meters: int, sessions_per_gateway: int | GatewaySessions) -> int:
    """The sessions a port gets at once: 1 on a bus, else up to the setting, the port's
    own or the default (never more than it has meters)."""
    if not is_gateway(port):
        return 1
    allowed = sessions_per_gateway.of(port) if isinstance(sessions_per_gateway,
                                                          GatewaySessions) \
        else sessions_per_gateway
    return max(1, min(allowed, meters))


class PortQueue(Generic[T]):
    """A port's meters, handed out one at a time to whichever of its sessions is free;
    iterating it is safe from several threads (each item goes to exactly one)."""

    def __init__(self, items: Sequence[T]) -> None:
        self._items = list(items)
        self._next = 0
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[T]:
        while True:
            with self._lock:
                if self._next >= len(self._items):
                    return
                item = self._items[self._next]
                self._next += 1
            yield item

    def __len__(self) -> int:
        return len(self._items)


def lanes(groups: dict[str, list[T]], sessions_per_gateway: int | GatewaySessions
          ) -> list[tuple[str, PortQueue[T]]]:
    """One ``(port, queue)`` per session to start: each port's queue as many times as
    it has sessions, the first session of every port before any port's second (so a
    limited pool of workers spreads over the ports before doubling up on one)."""
    queues = {port: (PortQueue(items), sessions_for(port, len(items), sessions_per_gateway))
              for port, items in groups.items()}
    out: list[tuple[str, PortQueue[T]]] = []
    rank = 0
    while True:
        added = [(port, q) for port, (q, n) in queues.items() if rank < n]
        if not added:
            return out
        out += added
        rank += 1
