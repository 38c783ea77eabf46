"""Test harness: a DOCK and an HHU Connection joined by a simulated line with a fake clock.

``Pair.run(until)`` moves bytes both ways (through optional fault hooks), hands HHU events to
a simulated HHU application (``HhuApp``), records dock events, and when the line is quiet
advances the fake clock to the earliest ``next_deadline()`` and calls ``handle_timeout(now)``.
Each connection keeps its own virtual clock: time passes for it only in its time-outs.
"""

from __future__ import annotations

import hashlib
import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field

from hhu_sync.link import (
    NEED_DATA,
    AcceptBundle,
    BundleAlreadyHeld,
    BundleCommitted,
    BundleData,
    BundleInfo,
    BundleOffered,
    BundleReceived,
    Connection,
    HelloInfo,
    LinkSettings,
    ProvideUpload,
    ReasonCode,
    RefuseBundle,
    RefuseUpload,
    Role,
    UploadAcknowledged,
    UploadDeleted,
    UploadInfo,
    UploadRequested,
)

KEY = bytes(range(32))
HHU_ID = "HHU-0042"


def seeded(seed: int) -> Callable[[int], bytes]:
    rng = _random.Random(seed)
    return lambda n: rng.randbytes(n)


@dataclass
class HhuApp:
    """What the HHU firmware does with link events: flash holds partials, bundles, uploads."""

    partials: dict[str, bytearray] = field(default_factory=dict)
    committed: dict[str, bytes] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    refuse: dict[str, tuple[ReasonCode, str]] = field(default_factory=dict)  # id -> why
    offers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    corrupt_commit: bool = False
    hold_verdict: bool = False  # do not answer BundleReceived (tests BUSY)
    held_verdicts: list = field(default_factory=list)
    log: list = field(default_factory=list)

    def hello(self) -> HelloInfo:
        bundles = tuple(
            BundleInfo(b, "committed", len(d), len(d)) for b, d in self.committed.items()
        ) + tuple(
            BundleInfo(b, "partial", self.offers.get(b, (0, b""))[0], len(d))
            for b, d in self.partials.items()
        )
        uploads = tuple(
            UploadInfo(u, len(d), hashlib.sha256(d).digest()) for u, d in self.uploads.items()
        )
        return HelloInfo(HHU_ID, "fw-2.1.0", 12_345_678, 87, bundles, uploads)

    def handle(self, conn: Connection, ev) -> None:
        self.log.append(ev)
        if isinstance(ev, BundleOffered):
            self.offers[ev.bundle_id] = (ev.size, ev.sha256)
            if ev.bundle_id in self.refuse:
                code, text = self.refuse[ev.bundle_id]
                conn.send(RefuseBundle(ev.bundle_id, text, code))
            elif ev.bundle_id in self.committed:
                conn.send(BundleAlreadyHeld(ev.bundle_id))
            else:
                part = self.partials.setdefault(ev.bundle_id, bytearray())
                conn.send(AcceptBundle(ev.bundle_id, len(part)))
        elif isinstance(ev, BundleData):
            part = self.partials[ev.bundle_id]
            assert ev.offset == len(part), (ev.offset, len(part))
            part += ev.data
        elif isinstance(ev, BundleReceived):
            if self.hold_verdict:
                self.held_verdicts.append(ev.bundle_id)
                return
            self.verdict(conn, ev.bundle_id)
        elif isinstance(ev, UploadRequested):
            if ev.upload_id in self.uploads:
                conn.send(ProvideUpload(ev.upload_id, self.uploads[ev.upload_id]))
            else:
                conn.send(RefuseUpload(ev.upload_id, "no such upload",
                                       ReasonCode.UNKNOWN_OBJECT))
        elif isinstance(ev, UploadAcknowledged):
            self.uploads.pop(ev.upload_id, None)
            conn.send(UploadDeleted(ev.upload_id))

    def verdict(self, conn: Connection, bundle_id: str) -> None:
        data = bytes(self.partials[bundle_id])
        if self.corrupt_commit:
            data = b"x" + data[1:]
        if hashlib.sha256(data).digest() == self.offers[bundle_id][1]:
            self.committed[bundle_id] = data
            del self.partials[bundle_id]
            conn.send(BundleCommitted(bundle_id))
        else:
            del self.partials[bundle_id]
            conn.send(RefuseBundle(bundle_id, "digest mismatch", ReasonCode.DIGEST_MISMATCH))


class BitErrors:
    """Flip bits at a given bit error rate (geometric gaps, so it is fast)."""

    def __init__(self, ber: float, rng: _random.Random) -> None:
        self.ber = ber
        self.rng = rng
        self.gap = self._draw()
        self.flips = 0

    def _draw(self) -> int:
        return int(self.rng.expovariate(self.ber))

    def __call__(self, data: bytes) -> bytes:
        nbits = len(data) * 8
        if self.gap >= nbits:
            self.gap -= nbits
            return data
        buf = bytearray(data)
        pos = self.gap
        while pos < nbits:
            buf[pos >> 3] ^= 1 << (pos & 7)
            self.flips += 1
            pos += 1 + self._draw()
        self.gap = pos - nbits
        return bytes(buf)


Hook = Callable[[bytes], bytes]


class Pair:
    def __init__(
        self,
        *,
        settings: LinkSettings | None = None,
        hhu_settings: LinkSettings | None = None,
        app: HhuApp | None = None,
        keys: Callable[[str], bytes | None] | None = None,
        hhu_key: bytes = KEY,
        seed: int = 1,
        to_hhu: Hook | None = None,
        to_dock: Hook | None = None,
        chunk: int | None = None,
        rng_seed: int = 0,
    ) -> None:
        settings = settings or LinkSettings()
        self.app = app or HhuApp()
        self.dock = Connection(
            Role.DOCK, settings=settings,
            keys=keys or (lambda hid: KEY if hid == HHU_ID else None),
            random=seeded(seed),
        )
        self.hhu = Connection(
            Role.HHU, settings=hhu_settings or settings, key=hhu_key,
            hello=self.app.hello(), random=seeded(seed + 1000),
        )
        self.to_hhu = to_hhu
        self.to_dock = to_dock
        self.chunk = chunk
        self.rng = _random.Random(rng_seed)
        self.clock = 0.0
        self._virtual: dict = {}   # each connection's own clock (see tick())
        self.dock_events: list = []
        self.hhu_events: list = []
        self.dock_tx: list[bytes] = []  # what the dock wrote (for replay tests)
        self.sent_to_hhu = 0
        self.cut_at: int | None = None
        self.cut = False
        self._seen: dict[type, list] = {}

    def _deliver(self, conn: Connection, data: bytes) -> None:
        if not data:
            return  # a hook dropped it all (b"" would mean end of stream)
        if not self.chunk:
            conn.receive_data(data)
            return
        i = 0
        while i < len(data):
            n = self.rng.randint(1, self.chunk)
            conn.receive_data(data[i : i + n])
            i += n

    def step(self) -> bool:
        """One round of traffic. Returns True if anything happened."""
        busy = False
        out = self.dock.data_to_send()
        if out:
            busy = True
            self.dock_tx.append(out)
            if self.cut_at is not None and self.sent_to_hhu + len(out) >= self.cut_at:
                out = out[: self.cut_at - self.sent_to_hhu]
                self._deliver(self.hhu, out)
                self.sent_to_hhu = self.cut_at
                self.do_cut()
                return True
            self.sent_to_hhu += len(out)
            self._deliver(self.hhu, self.to_hhu(out) if self.to_hhu else out)
        out = self.hhu.data_to_send()
        if out:
            busy = True
            self._deliver(self.dock, self.to_dock(out) if self.to_dock else out)
        busy |= self.drain()
        return busy

    def do_cut(self) -> None:
        self.cut = True
        self.hhu.receive_data(b"")
        self.dock.receive_data(b"")
        self.drain()

    def drain(self) -> bool:
        got = False
        while (ev := self.hhu.next_event()) is not NEED_DATA:
            got = True
            self.hhu_events.append(ev)
            if self.hhu.state not in ("ERROR", "CLOSED") or True:
                try:
                    self.app.handle(self.hhu, ev)
                except Exception as exc:  # the app may not answer after an abort
                    if self.hhu.state != "ERROR":
                        raise exc
        while (ev := self.dock.next_event()) is not NEED_DATA:
            got = True
            self.dock_events.append(ev)
        return got

    def tick(self) -> bool:
        """Advance the fake clock to the earliest time-out. False if nobody waits."""
        waits = [(c.next_deadline(), c) for c in (self.dock, self.hhu)]
        waits = [(d - self._virtual.get(c.role, 0.0), d, c) for d, c in waits if d is not None]
        if not waits:
            return False
        dt = min(w for w, _, _ in waits)
        self.clock += dt
        for w, d, c in waits:
            if w == dt:
                self._virtual[c.role] = d
                c.handle_timeout()   # at its deadline, on its own clock
        self.drain()
        return True

    def run(self, until: Callable[[], bool], max_steps: int = 200_000) -> None:
        for _ in range(max_steps):
            if until():
                return
            if self.cut:
                return
            if not self.step() and not self.tick():
                return
        raise AssertionError("pump did not settle")

    # helpers -------------------------------------------------------------
    def dock_has(self, cls) -> bool:
        """True once the dock produced an event of ``cls`` (checks only new events)."""
        seen = self._seen.setdefault(cls, [0, False])
        if not seen[1]:
            evs = self.dock_events
            seen[1] = any(isinstance(e, cls) for e in evs[seen[0] :])
            seen[0] = len(evs)
        return seen[1]

    def hhu_has(self, cls) -> bool:
        return any(isinstance(e, cls) for e in self.hhu_events)

    def dock_of(self, cls) -> list:
        return [e for e in self.dock_events if isinstance(e, cls)]
