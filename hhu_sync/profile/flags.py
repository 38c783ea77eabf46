"""Our one interval-status vocabulary, whatever the meter's dialect called it.

Each dialect maps its own bits here (VDEW's 16-bit status word, MetCom's status byte,
Elster's interval flags) so that the store, VEE and the exports need know only this set.
The values are a wire and storage contract (upload version 2, the ``intervals`` table):
add new bits, never renumber.
"""

from __future__ import annotations

import enum


class IntervalStatus(enum.IntFlag):
    """What the meter (or the depot) said about one interval. 0 means a clean interval."""

    POWER_FAIL = 0x0001        #: power failed during the interval
    POWER_RECOVERY = 0x0002    #: power came back during the interval
    CLOCK_SET = 0x0004         #: the clock was set (or synchronised) in the interval
    DEVICE_RESET = 0x0008      #: the meter restarted (watchdog, transient reset)
    DST_CHANGE = 0x0010        #: season (summer/winter time) changed in the interval
    DISTURBED = 0x0020         #: incomplete or not valid, the meter says
    CLOCK_INVALID = 0x0040     #: clock reserve exhausted, clock not trusted
    FATAL_ERROR = 0x0080       #: the meter reported a fatal error
    SHORT = 0x0100             #: shorter than the nominal interval (clock set forward)
    LONG = 0x0200              #: longer than the nominal interval (clock set back)
    CONFIG_CHANGE = 0x0400     #: channels or interval length changed
    BATTERY_FAIL = 0x0800
    CT_RATIO_CHANGE = 0x1000
    REVERSE_RUN = 0x2000
    PHASE_FAILURE = 0x4000
    OVERFLOW = 0x8000          #: the value overflowed the meter's register
    #: Set only by the depot, never by a meter: the value is an estimate (gap fill).
    ESTIMATED = 0x10000
    #: Set only by the depot: no value was recorded for an expected interval.
    MISSING = 0x20000


#: Bits a meter may send; the depot's own (estimated, missing) are refused on the wire.
METER_BITS = IntervalStatus(0xFFFF)
