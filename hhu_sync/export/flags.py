"""The meter's F.F error register decoded into status codes a billing system can act on.

F.F is 8 hex digits. The bits are those the supported meters (and the simulator) use,
named in :data:`hhu_sync.ingest.status.FLAG_STATUS`; a bit without a name is still
reported, as ``flag_0x...``, never dropped to ``ok``.
"""

from __future__ import annotations

import re

from hhu_sync.ingest.status import FLAG_JOIN, FLAG_STATUS, UNNAMED_FLAG, ReadingStatus

#: F.F bit → status code (kept under its old name for readers of this module).
FLAG_NAMES: dict[int, str] = {bit: status.value for bit, status in FLAG_STATUS.items()}
FLAGS_UNREADABLE = ReadingStatus.FLAGS_UNREADABLE.value
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")


def flag_status(error_flags: str | None) -> str | None:
    """``battery_low+cover_opened`` for flags set; None when none are (or none were read).

    Text that is not F.F's hex digits is :data:`FLAGS_UNREADABLE`: the meter may have an
    error nobody can see, so the reading is not ``ok`` either.
    """
    if not error_flags:
        return None
    if _HEX.fullmatch(error_flags) is None:
        return FLAGS_UNREADABLE
    bits = int(error_flags, 16)
    if not bits:
        return None
    names = []
    for bit in range(32):
        mask = 1 << bit
        if bits & mask:
            names.append(FLAG_NAMES.get(mask, UNNAMED_FLAG.format(mask=mask)))
    return FLAG_JOIN.join(names)
