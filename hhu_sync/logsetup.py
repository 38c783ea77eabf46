"""Logging: one line per event; JSON for machines, rich for a person at a terminal.

What is logged quotes the outside world (file names, meter notes, HHU ids), so a log line
could be forged by a newline, a carriage return or U+2028 in a file name, and a terminal
reprogrammed by an ANSI escape in a note. Each format owns its line structure and lets
nothing from a message break it: text and rich lines escape every control character of
the formatted message (its arguments included), an exception's traceback follows as
continuation lines that each start with ``CONTINUATION`` (no log line does), and a JSON
record is one line of ASCII with the traceback as a field.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from hhu_sync.safetext import escape_controls

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONTINUATION = "    | "     # starts every line of a traceback in a text or rich log


def _message(record: logging.LogRecord) -> str:
    """The message with its arguments; a call whose arguments do not fit says so."""
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a bad log call must not lose the event
        return f"{record.msg!r} % {record.args!r} (arguments do not fit the message)"


class SafeTextFormatter(logging.Formatter):
    """One escaped line per record, then the traceback as marked continuation lines."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = _message(record)
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = escape_controls(self.formatMessage(record))
        blocks = []
        if record.exc_info:
            blocks.append(self.formatException(record.exc_info))
        elif record.exc_text:
            blocks.append(record.exc_text)
        if record.stack_info:
            blocks.append(self.formatStack(record.stack_info))
        for block in blocks:
            for part in block.split("\n"):
                line += "\n" + CONTINUATION + escape_controls(part)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ASCII only, so U+2028/U+2029 are escapes too."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name,
               "msg": _message(record)}
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exc"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, ensure_ascii=True, default=str)


def make_handler(fmt: str, stream=None) -> logging.Handler:
    """The handler for ``fmt`` (``rich``, ``json`` or ``text``), writing to ``stream``
    (default: standard error; rich's own console for ``rich``)."""
    if fmt == "rich":
        from rich.console import Console
        from rich.logging import RichHandler
        # markup off: a message is never read as rich markup; controls escaped by the
        # formatter, so nothing in a message reaches the terminal as a control code.
        console = Console(file=stream) if stream is not None else None
        handler: logging.Handler = RichHandler(console=console, show_path=False,
                                               rich_tracebacks=False, markup=False)
        handler.setFormatter(SafeTextFormatter("%(message)s"))
        return handler
    handler = (logging.StreamHandler(stream) if stream is not None
               else CurrentStderrHandler())
    handler.setFormatter(JsonFormatter() if fmt == "json" else SafeTextFormatter(TEXT_FORMAT))
    return handler


class CurrentStderrHandler(logging.StreamHandler):
    """A stream handler on standard error as it is when a record is written, not as it was
    at set-up: a stream replaced and closed since (a test's capture, a daemon run in the
    same process) would turn every later record into "--- Logging error ---"."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        """Ignored: the stream is always the standard error of the moment."""


class _LastResort(logging.Handler):
    """Python's handler for records no handler takes (every command but ``run`` logs
    without :func:`setup_logging`): standard error at the time, escaped as text logs are."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(SafeTextFormatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging's own convention
            self.handleError(record)


logging.lastResort = _LastResort()


def setup_logging(fmt: str = "auto", level: str = "info") -> Callable[[], None]:
    """``auto``: rich when standard error is a terminal, else plain text lines.

    Idempotent: the root logger ends with exactly one handler, however often it is called.
    Returns what puts the root logger back as it was: a daemon run inside a longer-lived
    process (a test session, a supervisor written in Python) leaves no handler behind to
    write its records into that process's standard error.
    """
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if fmt == "auto":
        fmt = "rich" if sys.stderr.isatty() else "text"
    mine = make_handler(fmt)
    root.addHandler(mine)
    root.setLevel(level.upper())
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # watchdog logs an ERROR when its emitter thread is stopped between two reads: a
    # shutdown race of its own, harmless, and alarming to read at every stop.
    logging.getLogger("watchdog.observers.inotify").setLevel(logging.CRITICAL)

    def restore() -> None:
        root.removeHandler(mine)
        for handler in saved[0]:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved[1])

    return restore
