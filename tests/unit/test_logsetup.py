"""Log injection: nothing in a message, its arguments or a traceback forges a log line.

A file name, a meter note or an HHU id can hold a newline, a carriage return, U+2028,
an ANSI escape or a bidi override. Each is logged in each format, as the message and as
an argument; the text and rich logs show one escaped line, the JSON log one line of
ASCII that decodes to exactly what was logged.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys

import pytest
import rich

from hhu_sync.logsetup import CONTINUATION, setup_logging
from hhu_sync.safetext import escape_controls

HOSTILE = [
    "k.csv\n2026-12-01 10:00:00,000 INFO hhu_sync.outbox: accepted k.csv",
    "k.csv\r2026-12-01 10:00:00,000 INFO forged",
    "k.csv\r\nforged",
    "note\u2028forged", "note\u2029forged", "note\x85forged", "note\x0bforged\x0cff",
    "\x1b[2J\x1b[31mred\x1b]0;title\x07", "nul\x00byte", "\u202eexe.txt", "tab\there",
]
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def logs(monkeypatch, capsys):
    """``logs(fmt)`` sets up that format; call the result for what was written."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()

    def setup(fmt: str):
        monkeypatch.setattr(sys, "stderr", buffer)
        # rich wraps at the console's width: wide enough that a line is a record
        monkeypatch.setattr(rich.get_console(), "width", 1000)
        setup_logging(fmt, "debug")
        return lambda: buffer.getvalue() + capsys.readouterr().out

    yield setup
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


LOG = logging.getLogger("hhu_sync.test")


def emit_hostile(value: str) -> None:
    LOG.warning("rejected %s: %s", value, "bad header")     # as an argument
    LOG.warning(value)                                      # as the message itself


@pytest.mark.parametrize("fmt", ["text", "rich"])
@pytest.mark.parametrize("value", HOSTILE)
def test_text_and_rich_logs_show_one_escaped_line_per_record(logs, fmt, value):
    written = logs(fmt)
    emit_hostile(value)
    out = written()
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) == 3, out       # two records, two lines
    assert not UNSAFE.search(out), repr(out)
    assert escape_controls(value) in lines[0] and escape_controls(value) in lines[1]


@pytest.mark.parametrize("fmt", ["text", "rich"])
def test_a_traceback_cannot_pose_as_log_lines(logs, fmt):
    written = logs(fmt)
    try:
        raise ValueError("boom\n2026-12-01 10:00:00,000 INFO hhu_sync: forged\x1b[0m")
    except ValueError:
        LOG.exception("handling %s failed", "k\ncsv")
    lines = written().rstrip("\n").split("\n")
    assert "handling k\\ncsv failed" in lines[0]
    assert len(lines) > 3 and all(line.lstrip().startswith(CONTINUATION.strip())
                                  for line in lines[1:]), lines
    assert not UNSAFE.search("\n".join(lines))


def test_rich_logs_never_read_a_message_as_markup(logs):
    written = logs("rich")
    LOG.warning("note %s", "[/][bold red]x[/bold red][link=http://evil]y[/link]")
    assert "[/][bold red]x[/bold red][link=http://evil]y[/link]" in written()


@pytest.mark.parametrize("value", HOSTILE)
def test_json_logs_are_one_ascii_line_that_decodes_to_what_was_logged(logs, value):
    written = logs("json")
    emit_hostile(value)
    lines = written().split("\n")
    assert len(lines) == 3 and lines[-1] == ""
    assert all(line.isascii() for line in lines)
    docs = [json.loads(line) for line in lines[:2]]
    assert [d["msg"] for d in docs] == [f"rejected {value}: bad header", value]


def test_json_logs_carry_the_traceback_as_a_field(logs):
    written = logs("json")
    try:
        raise ValueError("boom\nforged")
    except ValueError:
        LOG.exception("failed")
    (line,) = written().splitlines()
    doc = json.loads(line)
    assert doc["msg"] == "failed" and "ValueError: boom\nforged" in doc["exc"]


@pytest.mark.parametrize("fmt", ["text", "json", "rich"])
def test_a_log_call_whose_arguments_do_not_fit_is_one_line_not_a_traceback(logs, fmt):
    written = logs(fmt)
    LOG.warning("%d files from %s", "many\nforged")
    out = written()
    assert out.count("\n") == 1 and "Traceback" not in out, out
    assert "arguments do not fit" in out


def test_records_no_handler_takes_are_escaped_too(monkeypatch):
    """Commands other than ``run`` log without setup_logging: Python's last resort."""
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    alone = logging.getLogger("hhu_sync.test.alone")
    monkeypatch.setattr(alone, "propagate", False)
    alone.warning("skipped %s", "a.toml\nforged line")
    assert buffer.getvalue() == "skipped a.toml\\nforged line\n"


INVISIBLE = ["HHU-\u200b001", "U-\u200d1", "L\u20601", "\u2063list", "id\u200c"]


@pytest.mark.parametrize("fmt", ["text", "rich"])
@pytest.mark.parametrize("value", INVISIBLE)
def test_zero_width_characters_in_an_id_are_shown_not_hidden(logs, fmt, value):
    """``HHU-\\u200b001`` must not read as ``HHU-001`` in a log a person checks."""
    written = logs(fmt)
    emit_hostile(value)
    out = written()
    assert not re.search("[\u200b-\u200d\u2060-\u2064]", out), ascii(out)
    assert "\\u20" in out


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_log_writes_to_the_standard_error_of_the_moment(fmt, logs, monkeypatch):
    """A handler bound to the standard error of its set-up time writes, once that stream is
    closed (a test's capture, a daemon run in-process), "--- Logging error ---" for every
    later record: the stream is looked up per record, and set-up twice is set-up once."""
    logs(fmt)
    setup_logging(fmt, "debug")
    assert len(logging.getLogger().handlers) == 1
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    first.close()
    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)
    LOG.warning("after the swap")
    assert "after the swap" in now.getvalue()
    assert "Logging error" not in now.getvalue()
