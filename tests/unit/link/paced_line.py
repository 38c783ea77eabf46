"""A paced serial line in virtual time: baud rate, latency, bit errors, and a driver loop.

Each direction releases bytes at ``baud / 10`` bytes per second (8N1) in ~1 ms pieces and
delivers them ``latency`` later. Every ``dt`` of virtual time each side reads what arrived
(passing the virtual time as ``now``, as the real drivers do), or, once the virtual time reached
its ``next_deadline()``, calls ``handle_timeout(now)``. Deterministic, and 11 s of a
115200-baud line take ~0.1 s.
"""

from __future__ import annotations

import random as _random
from dataclasses import dataclass, field

from link_pump import HHU_ID, KEY, BitErrors, HhuApp

from hhu_sync.link import (
    NEED_DATA,
    Aborted,
    Authenticated,
    BundleStored,
    Connection,
    LinkSettings,
    LinkStats,
    PutBundle,
    Role,
    StartHandshake,
    TimedOut,
)


class _Direction:
    def __init__(self, rate: float, latency: float, flip: BitErrors | None) -> None:
        self.rate = rate
        self.latency = latency
        self.flip = flip
        self.t_line = 0.0
        self.queue: list[tuple[float, bytes]] = []

    def write(self, now: float, data: bytes) -> None:
        if self.flip is not None:
            data = self.flip(data)
        step = max(1, int(self.rate * 0.001))
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            self.t_line = max(self.t_line, now) + len(piece) / self.rate
            self.queue.append((self.t_line + self.latency, piece))

    def read(self, now: float) -> bytes:
        i = 0
        q = self.queue
        while i < len(q) and q[i][0] <= now:
            i += 1
        out = b"".join(p for _, p in q[:i])
        del q[:i]
        return out


@dataclass
class PacedRun:
    seconds: list[float] = field(default_factory=list)  # per PutBundle, OFFER to stored
    stats: LinkStats | None = None

    def share(self, size: int, baud: int) -> list[float]:
        """Goodput of each put as a share of the line rate."""
        return [size / s / (baud / 10) for s in self.seconds]


def put_over_paced_line(
    datas: list[bytes],
    *,
    baud: int = 115200,
    latency: float = 0.002,
    ber: float = 0.0,
    seed: int = 1,
    settings: LinkSettings | None = None,
    dt: float = 0.001,
    limit_s: float = 3600.0,
) -> PacedRun:
    """Handshake, then put each of ``datas`` in turn; returns the virtual time of each."""
    settings = settings or LinkSettings()
    rng = _random.Random(seed)
    app = HhuApp()
    dock = Connection(Role.DOCK, settings=settings, keys=lambda h: KEY if h == HHU_ID else None)
    hhu = Connection(Role.HHU, settings=settings, key=KEY, hello=app.hello())
    rate = baud / 10
    down = _Direction(rate, latency, BitErrors(ber, rng) if ber else None)
    up = _Direction(rate, latency, BitErrors(ber, rng) if ber else None)
    run = PacedRun()
    now = start = 0.0
    k = 0
    dock.send(StartHandshake(), now)
    while now < limit_s:
        for conn, rx, tx in ((dock, up, down), (hhu, down, up)):
            data = rx.read(now)
            if data:
                conn.receive_data(data, now)
            else:
                due = conn.next_deadline()
                if due is not None and now >= due - 1e-9:
                    conn.handle_timeout(max(now, due))
            while (ev := conn.next_event()) is not NEED_DATA:
                if conn is hhu:
                    app.handle(hhu, ev)
                    continue
                if isinstance(ev, Aborted | TimedOut):
                    raise AssertionError(f"link failed: {ev}")
                if isinstance(ev, BundleStored):
                    run.seconds.append(now - start)
                    k += 1
                    if k == len(datas):
                        run.stats = dock.stats
                        assert app.committed == {f"b{i}": d for i, d in enumerate(datas)}
                        return run
                if isinstance(ev, Authenticated | BundleStored):
                    start = now
                    dock.send(PutBundle(f"b{k}", datas[k]), now)
            out = conn.data_to_send(now)
            if out:
                tx.write(now, out)
        now += dt
    raise AssertionError("virtual time limit reached")
