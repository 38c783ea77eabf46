"""Named crash points for fault tests and the chaos bench: ``HHU_SYNC_FAILPOINT=NAME``.

When the variable names a point, the process kills itself with SIGKILL there (or raises
the fault the point stands for, such as a full disk), which is how the tests prove that
a crash at the worst moment loses and doubles nothing. Unset
(always, in production) a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_ARMED = frozenset(filter(None, os.environ.get("HHU_SYNC_FAILPOINT", "").split(",")))


def failpoint(name: str, error: BaseException | None = None) -> None:
    """At an armed point: raise ``error`` if given (an injected fault), else SIGKILL."""
    if name in _ARMED:
        if error is not None:
            raise error
        os.kill(os.getpid(), signal.SIGKILL)
