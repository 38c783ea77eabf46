"""Gap estimation (the last E of VEE): short gaps filled by linear interpolation.

An estimate is always flagged :attr:`IntervalStatus.ESTIMATED` and only ever fills an
interval that has no measured value: a measured value is never replaced. Estimates are
not stored: they are computed where a whole period is needed (the billing determinants'
energy), so a measured value that arrives later simply takes their place and the store
holds only what meters measured. Long gaps are left empty, and so is any gap the meter
flagged as a power failure: interpolating over an outage would invent consumption.
"""

from __future__ import annotations

from hhu_sync.profile.flags import IntervalStatus
from hhu_sync.profile.series import ChannelSeries

#: At most this many missing intervals in a row are estimated (2 hours at 30 minutes).
DEFAULT_MAX_GAP = 4
_ESTIMATED = int(IntervalStatus.ESTIMATED | IntervalStatus.MISSING)
#: A gap next to these is an outage the meter recorded (it records nothing while off):
#: interpolating across it would invent consumption, however short.
_OUTAGE = int(IntervalStatus.POWER_FAIL | IntervalStatus.POWER_RECOVERY)


def estimates(one: ChannelSeries, *, max_gap: int = DEFAULT_MAX_GAP
              ) -> list[tuple[int, int, int]]:
    """(interval end, estimated mantissa, status) for each gap interval that lies between
    two measured values at most ``max_gap`` intervals apart, neither of them flagged as
    a power failure or recovery (an outage is not a gap in the record)."""
    step = one.interval_s
    measured = sorted((end, value, status) for end, value, status in one.intervals()
                      if value is not None)
    out: list[tuple[int, int, int]] = []
    for (a_end, a, a_st), (b_end, b, b_st) in zip(measured, measured[1:], strict=False):
        gap = (b_end - a_end) // step - 1
        if gap < 1 or gap > max_gap or (b_end - a_end) % step:
            continue
        if (a_st | b_st) & _OUTAGE:
            continue          # the meter was off: nothing was used, nothing to fill
        for k in range(1, gap + 1):
            value = a + (b - a) * k // (gap + 1)
            out.append((a_end + k * step, value, _ESTIMATED))
    return out
