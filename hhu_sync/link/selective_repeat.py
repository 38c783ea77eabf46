"""Selective-repeat data transfer: one object, one direction, inside a connection.

The object travels as a *stream*: one encoding byte (0 raw, 1 zlib) then the (possibly
compressed) bytes from the agreed offset. The sender cuts the stream into DATA frames
numbered with a 16-bit sequence number; the receiver answers with SACK frames carrying the
cumulative sequence number (next expected) and a bitmap of frames received beyond it.

Loss detection is clock-free: every transmission gets a growing ``order``; when a SACK shows
a frame sent *later* than an unacknowledged frame arrived, that frame was lost and is resent
at once (the serial line never reorders). Only a loss with nothing sent after it (the tail)
waits for the acknowledgement timer.
"""

from __future__ import annotations

import zlib
from typing import Any

from .errors import RemoteProtocolError
from .events import LinkStats
from .framing import cobs_frame
from .messages import ENC_RAW, ENC_ZLIB, T_DATA, T_SACK

COMPRESS_SAMPLE = 65536

# Frame-size control (see LineEstimate). A frame of L payload bytes costs about L + H wire
# bytes and is lost with probability ~ q*(L + H) (q = errors per wire byte); the goodput
# L/(L+H) * (1-q)^(L+H) is highest near L = sqrt(H/q).
SIZE_OVERHEAD = 16  # H: bytes of per-frame cost (header, CRC, delimiter, COBS, share of SACKs)
PRIOR_ERRORS = 0.125  # weak prior: reaching 16 KiB frames takes ~1 MiB of clean line
ESTIMATE_MEMORY = 256 * 1024  # wire bytes of history; older evidence fades (halves)
# With the time passed in by the driver (receive_data(data, now=...)), the sender measures
# the rate at which its bytes are acknowledged and keeps one frame's time on the line under
# this share of the ack timer, so the timer never fires just because frames are long.
FRAME_TIME_SHARE = 0.75
RATE_INTERVAL = 0.25  # seconds of acknowledgements per rate sample
# A driver that never tells the time gets frames of at most this size (as before the rate
# bound existed): without a clock the sender cannot know how long a frame takes.
CLOCKLESS_MAX_PAYLOAD = 1024
# Hard bound on one object, whatever a peer announces (the connection's max_object_size is
# lower by default): a size is checked against it before anything is received.
MAX_OBJECT = 1 << 30
# Compressed bytes a receiver takes per object byte it expects (plus a fixed allowance):
# the sender compresses only when that makes the stream smaller, so a stream that keeps
# coming without producing output (empty deflate blocks) is cut off, not fed for ever.
MAX_WIRE_FACTOR = 2
WIRE_ALLOWANCE = 64 * 1024
_CRC = zlib.crc32


def choose_encoding(data: bytes | memoryview, allowed: tuple[str, ...]
                    ) -> tuple[int, bytes | memoryview]:
    """Compress with zlib when it helps; never expand (random data goes raw).

    A 64 KiB sample is tried first so incompressible objects cost almost nothing.
    """
    if "zlib" in allowed and len(data) >= 128:
        sample = data[:COMPRESS_SAMPLE]
        packed = zlib.compress(sample, 6)
        if len(packed) < len(sample) * 0.9:
            if len(data) > COMPRESS_SAMPLE:
                packed = zlib.compress(data, 6)
            if len(packed) < len(data):
                return ENC_ZLIB, packed
    return ENC_RAW, data


def _encode_data_frame(seq: int, payload: bytes | memoryview) -> bytes:
    """DATA frame on the wire: COBS(body + CRC) and the delimiter, built in one buffer."""
    body = bytearray(3 + len(payload) + 4)
    body[0] = T_DATA
    body[1] = (seq >> 8) & 0xFF
    body[2] = seq & 0xFF
    body[3 : 3 + len(payload)] = payload
    body[-4:] = _CRC(memoryview(body)[:-4]).to_bytes(4, "big")
    return cobs_frame(body)


class LineEstimate:
    """The sender's running estimate of its direction of the line; picks the frame size.

    ``errors`` lost transmissions over ``exposure`` wire bytes whose fate is known (acked or
    found lost), starting from a weak prior worth ``start`` bytes per frame. Every time the
    exposure passes ``ESTIMATE_MEMORY`` both halve, so old evidence fades and the frame size
    follows a line that changes. ``payload()`` is the power of two at or below
    ``sqrt(SIZE_OVERHEAD * exposure / errors)``: on a clean line it grows with the square root
    of the clean bytes seen (256 B at first, 4 KiB after ~128 KiB, 16 KiB after ~1 MiB); the
    first lost frame pulls it down by ~3x at once (more on a young estimate), and it settles
    near the goodput optimum for the line's error rate (~256-512 B at a BER of 1e-5).

    A frame that takes longer to cross the line than the ack timer is never acknowledged in
    time. When the driver passes the time, ``rate`` (acknowledged wire bytes per second,
    sampled over ``RATE_INTERVAL``) bounds the size to ``FRAME_TIME_SHARE`` of the ack timer.
    A driver that never tells the time gets at most ``CLOCKLESS_MAX_PAYLOAD``. And after the
    fact, ``cap``: an acknowledgement time-out halves the size that timed out (the cap doubles
    again at every halving of the history).

    One estimate lives as long as the connection, across objects: the next transfer starts
    at the size the line has earned. Pure arithmetic, no clock.
    """

    __slots__ = ("errors", "exposure", "cap", "ack_timeout", "rate", "clocked", "_t0", "_acked")

    def __init__(self, start: int, ack_timeout: float = 0.5) -> None:
        self.errors = PRIOR_ERRORS
        self.exposure = PRIOR_ERRORS * start * start / SIZE_OVERHEAD
        self.cap = 1 << 30
        self.ack_timeout = ack_timeout
        self.rate: float | None = None
        self.clocked = False  # the driver passed the time at least once
        self._t0: float | None = None
        self._acked = 0

    def restart_clock(self) -> None:
        """A new transfer begins: the time since the last one is not line time."""
        self._t0 = None

    def acked_at(self, now: float, nbytes: int) -> None:
        """``nbytes`` newly acknowledged at time ``now`` (driver's clock, seconds)."""
        self.clocked = True
        if self._t0 is None:
            self._t0 = now
            self._acked = 0
            return
        self._acked += nbytes
        dt = now - self._t0
        if dt >= RATE_INTERVAL:
            sample = self._acked / dt
            self.rate = sample if self.rate is None else (self.rate + sample) / 2
            self._t0 = now
            self._acked = 0

    def clean(self, nbytes: int) -> None:
        self.exposure += nbytes
        if self.exposure > ESTIMATE_MEMORY:
            self._fade()

    def lost(self, nbytes: int) -> None:
        self.errors += 1
        self.exposure += nbytes
        if self.exposure > ESTIMATE_MEMORY:
            self._fade()

    def timed_out(self, payload: int) -> None:
        self.cap = min(self.cap, max(1, payload // 2))

    def _fade(self) -> None:
        self.errors *= 0.5
        self.exposure *= 0.5
        if self.cap < 1 << 30:
            self.cap *= 2

    def payload(self, lo: int, hi: int) -> int:
        """Frame payload for the next new frames, within ``lo..hi``."""
        if lo == hi:
            return hi   # no choice (a fixed frame size): spare the arithmetic per SACK
        target = min(SIZE_OVERHEAD * self.exposure / self.errors, 1 << 60) ** 0.5
        target = min(target, self.cap)
        if self.rate is not None:
            target = min(target, self.rate * self.ack_timeout * FRAME_TIME_SHARE)
        elif not self.clocked:
            target = min(target, CLOCKLESS_MAX_PAYLOAD)
        if target >= hi:
            return hi
        size = 1 << (max(1, int(target)).bit_length() - 1)
        return max(lo, min(hi, size))


class Sender:
    """Sending half of one object transfer. Frames are appended to ``out``."""

    def __init__(
        self,
        *,
        stats: LinkStats,
        out: bytearray,
        body: bytes | memoryview,
        encoding: int,
        seq0: int,
        window: int,
        max_payload: int,
        min_payload: int,
        line: LineEstimate,
        retry_limit: int,
    ) -> None:
        self.stats = stats
        self.out = out
        self.mv = memoryview(body)
        self.total = len(self.mv) + 1  # stream length (encoding byte + body)
        self.first = bytes((encoding,))
        self.pos = 0  # stream position of the next new frame
        self.una = seq0  # oldest unacknowledged sequence number (unwrapped)
        self.nxt = seq0  # next new sequence number
        # seq -> [frame bytes, order, retries, stream end position, sacked]
        self.inflight: dict[int, list[Any]] = {}
        self.order = 0
        self.delivered = -1  # highest order known delivered
        self.window = window
        self.max_payload = max_payload
        self.min_payload = min_payload
        self.line = line
        line.restart_clock()
        self.size = line.payload(min_payload, max_payload)
        stats.frame_payload = self.size
        self.acked_pos = 0  # stream bytes acknowledged cumulatively
        self.retry_limit = retry_limit
        self.timeouts = 0
        self.failed: str | None = None

    @property
    def done(self) -> bool:
        return self.pos >= self.total and not self.inflight

    def fill(self) -> bool:
        """Queue new frames up to the window. Returns True if any were queued."""
        lim = self.una + self.window
        nxt = self.nxt
        if nxt >= lim or self.pos >= self.total:
            return False
        inflight = self.inflight
        out = self.out
        mv = self.mv
        pos = self.pos
        total = self.total
        size = self.size
        order = self.order
        sent = 0
        nbytes = 0
        out.append(0)  # a batch starts with a delimiter: junk before it cannot spoil it
        payload: bytes | memoryview
        while nxt < lim and pos < total:
            if pos == 0:
                payload = self.first + mv[: size - 1]
            else:
                payload = mv[pos - 1 : pos - 1 + size]
            end = pos + len(payload)
            frame = _encode_data_frame(nxt & 0xFFFF, payload)
            out += frame
            inflight[nxt] = [frame, order, 0, end, False]
            order += 1
            nxt += 1
            sent += 1
            nbytes += end - pos
            pos = end
        self.nxt = nxt
        self.pos = pos
        self.order = order
        st = self.stats
        st.frames_sent += sent
        st.payload_bytes_sent += nbytes
        return True

    def _resend(self, seq: int, rec: list[Any], fast: bool) -> None:
        rec[1] = self.order
        self.order += 1
        rec[2] += 1
        st = self.stats
        st.retries += 1
        st.frames_resent += 1
        st.frames_sent += 1
        if fast:
            st.fast_retransmits += 1
        if rec[2] > self.retry_limit:
            self.failed = f"retry limit exceeded (data frame {seq & 0xFFFF})"
        self.out.append(0)
        self.out += rec[0]

    def _adapt(self) -> None:
        size = self.line.payload(self.min_payload, self.max_payload)
        if size != self.size:
            st = self.stats
            if size < self.size:
                st.frame_shrinks += 1
            else:
                st.frame_grows += 1
            self.size = st.frame_payload = size

    def on_sack(self, cum16: int, bitmap: bytes | bytearray, now: float | None = None) -> bool:
        """Process a SACK (received at ``now``, if the driver tells the time).

        Returns True if it acknowledged anything new."""
        una = self.una
        d = (cum16 - una) & 0xFFFF
        if d > self.nxt - una:
            return False  # stale (an earlier transfer) or nonsense: ignore
        inflight = self.inflight
        best = self.delivered
        progress = False
        line = self.line
        acked = 0
        if d:
            rec: list[Any]       # the loop runs d >= 1 times
            clean = 0
            pop = inflight.pop
            for s in range(una, una + d):
                rec = pop(s)
                if rec[1] > best:
                    best = rec[1]
                if not rec[4]:
                    clean += len(rec[0])
            if clean:
                line.clean(clean)
                acked = clean
            self.acked_pos = rec[3]
            self.una = una = una + d
            progress = True
        if bitmap:
            bits = int.from_bytes(bitmap, "little")
            base = una + 1
            clean = 0
            while bits:
                low = bits & -bits
                bits ^= low
                hit = inflight.get(base + low.bit_length() - 1)
                if hit is not None and not hit[4]:
                    hit[4] = True
                    clean += len(hit[0])
                    if hit[1] > best:
                        best = hit[1]
            if clean:
                line.clean(clean)
                acked += clean
                progress = True
            if best > self.delivered:
                lost = [(s, r) for s, r in inflight.items() if not r[4] and r[1] < best]
                for s, r in lost:
                    line.lost(len(r[0]))
                    self._resend(s, r, True)
        if best > self.delivered:
            self.delivered = best
        if progress:
            self.timeouts = 0
        if now is not None:
            line.acked_at(now, acked)
        self._adapt()
        return progress

    def on_timeout(self) -> None:
        """The acknowledgement timer ran out: resend the oldest unacknowledged frame.

        Either it was lost with nothing sent after it (a lost tail), or frames take longer
        than the timer to cross the line: both are reasons to send smaller frames.
        """
        self.timeouts += 1
        if self.timeouts > self.retry_limit:
            self.failed = "retry limit exceeded (no acknowledgement)"
            return
        rec = self.inflight.get(self.una)
        if rec is not None:
            self.line.lost(len(rec[0]))
            self.line.timed_out(len(rec[0]))
            self._resend(self.una, rec, False)
            self._adapt()


class Receiver:
    """Receiving half of one object transfer: reorders, decompresses, bounds the size."""

    def __init__(self, *, seq0: int, window: int, need: int, allowed: tuple[str, ...],
                 keep: bool = False) -> None:
        if not isinstance(need, int) or isinstance(need, bool) or not 0 <= need <= MAX_OBJECT:
            raise RemoteProtocolError(f"object size {need!r} is not within 0..{MAX_OBJECT}")
        self.wire = 0  # stream bytes (after the encoding byte) taken so far
        self.wire_limit = MAX_WIRE_FACTOR * need + WIRE_ALLOWANCE
        self.nxt = seq0
        self.ooo: dict[int, bytes | bytearray | memoryview] = {}
        self.window = window
        self.need = need  # object bytes expected
        self.got = 0
        self.enc: int | None = None
        self.dec: zlib._Decompress | None = None
        self.allowed = allowed
        # delivered, not yet handed to the app: payload pieces, joined once by take()
        self.pending: list[bytes | bytearray | memoryview] = []
        self.keep = keep  # dock GET: pending accumulates the whole object
        self.complete = False
        self.reported = False
        self.ack_due = False

    def on_data(self, seq16: int, payload: bytes | bytearray | memoryview) -> None:
        self.ack_due = True
        d = (seq16 - self.nxt) & 0xFFFF
        if d == 0:
            self._deliver(payload)
            self.nxt += 1
            ooo = self.ooo
            if ooo:
                while (p := ooo.pop(self.nxt, None)) is not None:
                    self._deliver(p)
                    self.nxt += 1
        elif d < self.window:
            self.ooo.setdefault(self.nxt + d, payload)
        # else: a duplicate of something delivered (or out of window): dropped, but acked

    def _deliver(self, payload: bytes | bytearray | memoryview) -> None:
        if self.enc is None:
            if not payload:
                raise RemoteProtocolError("DATA: empty first frame")
            enc = payload[0]
            if enc == ENC_ZLIB and "zlib" in self.allowed:
                self.dec = zlib.decompressobj()
            elif enc != ENC_RAW:
                raise RemoteProtocolError(f"DATA: encoding {enc} not agreed")
            self.enc = enc
            payload = payload[1:]
        room = self.need - self.got
        data: bytes | bytearray | memoryview
        self.wire += len(payload)
        if self.wire > self.wire_limit:
            raise RemoteProtocolError(f"DATA: more than {self.wire_limit} stream bytes for an "
                                      f"object of {self.need}")
        if self.dec is not None:
            if self.dec.eof and payload:
                raise RemoteProtocolError("DATA: bytes after the end of the zlib stream")
            try:
                # at most one byte past the room: the first byte over is refused, and a
                # frame never inflates to more than the object has left
                data = self.dec.decompress(payload, room + 1)
            except zlib.error as exc:
                raise RemoteProtocolError(f"DATA: bad zlib stream ({exc})") from None
            if self.dec.unused_data:
                raise RemoteProtocolError("DATA: bytes after the end of the zlib stream")
        else:
            data = payload
        if len(data) > room:
            raise RemoteProtocolError("DATA: more bytes than the object size")
        if data:
            self.pending.append(data)
            self.got += len(data)
        if self.got == self.need:
            self.complete = True

    def take_chunks(self, limit: int) -> list[bytes]:
        """Hand over what was delivered, as pieces of whole payloads up to ~``limit`` bytes."""
        pending = self.pending
        if len(pending) == 1:   # one frame's payload per batch: the usual case
            data = bytes(pending[0])
            pending.clear()
            return [data]
        out: list[bytes] = []
        group: list[bytes | bytearray | memoryview] = []
        n = 0
        for piece in pending:
            if n and n + len(piece) > limit:
                out.append(b"".join(group))
                group = []
                n = 0
            group.append(piece)
            n += len(piece)
        if group:
            out.append(b"".join(group))
        pending.clear()
        return out

    def take(self) -> bytes:
        data = b"".join(self.pending)
        self.pending.clear()
        return data

    def sack_body(self) -> bytearray:
        nxt = self.nxt
        body = bytearray((T_SACK, (nxt >> 8) & 0xFF, nxt & 0xFF))
        if self.ooo:
            base = nxt + 1
            bits = 0
            for s in self.ooo:
                bits |= 1 << (s - base)
            body += bits.to_bytes((bits.bit_length() + 7) // 8, "little")
        return body
