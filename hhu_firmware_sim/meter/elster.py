"""The simulated Elster meter's register-addressed load profile and event log.

An A1700, A1140 or AS230 (``profile_dialect = "elster"`` in the catalog) does not answer
``P.01``: a client writes register 551 (``W1 551001(FFFF)`` the whole profile, or a
number of days) and reads register 550 block by block (``R1 550<block>(40)``), 64 bytes
of the record stream as 128 hex digits; register 560 likewise holds the event log. The
stream is written with :class:`~hhu_sync.iec62056.elster_profile.ProfileWriter` from
the same lazy seeded :class:`~hhu_firmware_sim.meter.profile.Recorder` the VDEW meters
use, so the values are those a VDEW read of the same meter would give.

Why built at the first block, kept until the next select: a selection's stream is a
few hundred kilobytes at most, computed only when a 550 read asks for it, and the
blocks of one read must come from one stream even if the clock moves on meanwhile.
Reading block 0 again (a new read) rebuilds it when the clock or the outages changed.

Times in the stream are the meter's standard time all year (the zone's offset minus
its DST). Simplifications, documented in ``docs/iec62056.md``: the interval of a clock
set holds the present-axis energy (not the two parts summed); an outage within one
interval writes that interval, then the power-down and power-up records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from hhu_firmware_sim.meter.profile import MAX_LOGBOOK, ST_SEASON, Recorder
from hhu_sync.iec62056.elster_events import encode_event_log
from hhu_sync.iec62056.elster_profile import ELSTER_CHANNELS, ProfileWriter
from hhu_sync.iec62056.elster_read import EVENT_LOG_REGISTER, PROFILE_REGISTER
from hhu_sync.iec62056.elster_records import BLOCK_BYTES, FLAG_TIME_SYNC, PERIOD_MINUTES

SELECT_ADDRESS = "551001"
MASK_REGISTER, PERIOD_REGISTER, DST_REGISTER, CLOCK_REGISTER = 777, 878, 778, 861
_FF_BLOCK = b"\xff" * BLOCK_BYTES
#: Event log codes (elster_events.EVENT_CODES) the simulator writes.
EV_POWER_DOWN, EV_POWER_UP, EV_CLOCK_SET = 0x01, 0x02, 0x03


def channel_mask(codes: tuple[str, ...]) -> int:
    """The channel mask of ``codes`` (bits per ``ELSTER_CHANNELS``); the stream lists
    the channels in bit order, whatever order the catalog names them in."""
    bits = {c.code: i for i, c in enumerate(ELSTER_CHANNELS) if c is not None}
    mask = 0
    for code in codes:
        if code not in bits:
            raise ValueError(f"{code} is not an Elster profile channel")
        mask |= 1 << bits[code]
    return mask


def bit_order(codes: tuple[str, ...]) -> tuple[str, ...]:
    mask = channel_mask(codes)
    return tuple(c.code for i, c in enumerate(ELSTER_CHANNELS)
                 if c is not None and mask >> i & 1)


@dataclass
class ElsterMemory:
    """One meter's registers 550/551/560 over its recorder."""

    recorder: Recorder
    #: Days selected by the last W1 551 (None: FFFF, the whole profile).
    selection: int | None = None
    #: Streams built so far (the laziness is part of the contract: tests count them).
    builds: int = 0
    _stream: bytes | None = field(default=None, repr=False)
    _built_for: tuple[object, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        config = self.recorder.config
        self.codes = bit_order(config.channels)
        self.mask = channel_mask(config.channels)
        self.period_code = PERIOD_MINUTES.index(config.interval_min)

    # -- time ----------------------------------------------------------------------------

    def standard(self, utc: int) -> datetime:
        """The meter's standard time at ``utc`` (naive), what the stream holds."""
        zone = self.recorder._zone
        if zone is None:
            return datetime.fromtimestamp(utc, UTC).replace(tzinfo=None)
        at = datetime.fromtimestamp(utc, UTC).astimezone(zone)
        offset, dst = at.utcoffset(), at.dst()
        assert offset is not None
        std = offset - (dst or timedelta(0))
        return (at.astimezone(UTC) + std).replace(tzinfo=None)

    def _standard_midnight_utc(self, now: int, days_back: int) -> int:
        today = self.standard(now).date() - timedelta(days=days_back)
        std_now = self.standard(now)
        offset = int((std_now - datetime.fromtimestamp(now, UTC).replace(tzinfo=None))
                     .total_seconds())
        return int(datetime.combine(today, time()).replace(tzinfo=UTC).timestamp()) - offset

    # -- register 551 ----------------------------------------------------------------------

    def select(self, value: str) -> None:
        """``FFFF``: everything; else hex 1..FFFE days (today counts as one). ValueError
        on anything else."""
        text = value.strip().upper()
        if len(text) != 4 or any(ch not in "0123456789ABCDEF" for ch in text):
            raise ValueError(f"{value!r} is not four hex digits")
        days = int(text, 16)
        if days == 0:
            raise ValueError("a selection of 0 days")
        self.selection = None if days == 0xFFFF else days
        self._stream = None

    # -- register 550 ----------------------------------------------------------------------

    def _key(self, now: int) -> tuple[object, ...]:
        rec = self.recorder
        return (self.selection, now, tuple(rec.outages), tuple(rec.clock_sets))

    def stream(self, now: int, *, fresh: bool = False) -> bytes:
        """The selection's record stream; built on the first ask (and on ``fresh`` when
        the meter changed since), kept otherwise."""
        if self._stream is None or (fresh and self._key(now) != self._built_for):
            self._stream = self.build(now)
            self._built_for = self._key(now)
            self.builds += 1
        return self._stream

    def build(self, now: int) -> bytes:
        """The stream as the meter's memory holds it at ``now`` for the selection."""
        rec = self.recorder
        step = rec.step
        start = None if self.selection is None else \
            self._standard_midnight_utc(now, self.selection - 1) + step  # the first end
        writer = ProfileWriter(self.mask, self.period_code)
        std = self.standard
        order = [rec.config.channels.index(c) for c in self.codes]
        outages = [(a, b) for a, b in rec.outages if a < now]
        for end in rec.ends(now, start):
            begin = end - step
            if any(a < begin and end <= b for a, b in outages):
                continue                                  # powered down all through
            sets = [(at, old) for at, old, _ in rec.clock_sets if begin <= at < end]
            forward_skip = any(rec.utc(old) < end <= at for at, old, _ in rec.clock_sets)
            if forward_skip:
                continue                                  # the clock jumped over its end
            for a, b in outages:
                if begin <= b < end and not begin <= a < end:
                    writer.power_up(std(b))
            flags = 0
            for at, old in sets:
                writer.time_change(std(rec.utc(old)), std(at))
                flags |= FLAG_TIME_SYNC
            values = rec.values(end)
            writer.interval(std(end), [values[i] for i in order], flags)
            for a, b in outages:
                if begin <= a < end:
                    writer.power_down(std(a))
                    if b < end:
                        writer.power_up(std(b))
            if rec.status(end) & ST_SEASON:
                zone = rec._zone
                assert zone is not None
                summer = bool(datetime.fromtimestamp(end, UTC).astimezone(zone).dst())
                writer.dst_change(std(end), summer)
        return writer.stream()

    def block(self, register: int, index: int, now: int) -> bytes:
        """Block ``index`` of register 550 or 560; past the end, all FF."""
        if register == PROFILE_REGISTER:
            data = self.stream(now, fresh=index == 0)
        elif register == EVENT_LOG_REGISTER:
            data = self.event_log(now)
        else:
            raise ValueError(f"register {register} is not read in blocks")
        chunk = data[index * BLOCK_BYTES:(index + 1) * BLOCK_BYTES]
        return chunk + _FF_BLOCK[len(chunk):]

    # -- register 560 ----------------------------------------------------------------------

    def event_log(self, now: int) -> bytes:
        """Power downs and ups and clock sets up to ``now``, oldest first, at most
        :data:`MAX_LOGBOOK` (the newest)."""
        rec = self.recorder
        raw: list[tuple[int, int]] = []
        for a, b in rec.outages:
            raw += [(a, EV_POWER_DOWN), (b, EV_POWER_UP)]
        raw += [(at, EV_CLOCK_SET) for at, _, _ in rec.clock_sets]
        kept = sorted(e for e in raw if rec.since <= e[0] <= now)[-MAX_LOGBOOK:]
        return encode_event_log([(code, self.standard(at), 0) for at, code in kept])

    # -- configuration registers -------------------------------------------------------------

    def register(self, number: int, now: int) -> str | None:
        """R1 of 777 (mask, 4 hex digits), 878 (period, minutes), 778 (1: the zone keeps
        DST), 861 (standard-time clock ``YYMMDDhhmmss``); None for any other."""
        if number == MASK_REGISTER:
            return f"{self.mask:04X}"
        if number == PERIOD_REGISTER:
            return str(self.recorder.config.interval_min)
        if number == DST_REGISTER:
            zone = self.recorder._zone
            keeps = zone is not None and any(
                datetime(2026, month, 1, tzinfo=zone).dst() for month in (1, 7))
            return "1" if keeps else "0"
        if number == CLOCK_REGISTER:
            return f"{self.standard(now):%y%m%d%H%M%S}"
        return None
