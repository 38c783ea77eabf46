"""What every worker process of the daemon does: leave when the daemon is gone, and leave
Ctrl-C to the daemon."""

from __future__ import annotations

import os
import signal
import threading
import time


def watch_parent(parent: int) -> None:
    """In a worker: exit when the process that started us (``parent``, its pid passed in:
    asking ``getppid`` here would be too late if it died while we were starting, and we
    would wait for init forever) is gone, rather than linger holding its pipes open.

    Ctrl-C reaches the whole process group: a worker ignores it (the daemon stops its
    pools in order), rather than die mid-task and print a traceback each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
