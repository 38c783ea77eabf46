"""Named crash points for fault tests and the chaos bench: ``HHU_SYNC_FAILPOINT=NAME``.

When the variable names a point, the process kills itself with SIGKILL there, which is
how the tests prove that a crash at the worst moment loses and doubles nothing. Unset
(always, in production) a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_ARMED = frozenset(filter(None, os.environ.get("HHU_SYNC_FAILPOINT", "").split(",")))


def failpoint(name: str) -> None:
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
