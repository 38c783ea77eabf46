"""Text from outside (file names, notes, ids) made safe to show on one line.

A newline in a file name forges a log line; an ANSI escape in a meter note rewrites the
terminal; U+2028 ends a line for some log viewers; a bidi override reorders what a reader
sees, and a zero-width space makes "HHU-<ZWSP>001" read as HHU-001. One set of such
characters serves the logs, the outbox's reasons, ingest's findings and the exports:
:func:`escape_controls` turns each into a visible escape (``\\n``, ``\\x1b``,
``\\u2028``) and leaves everything else as it was.
"""

from __future__ import annotations

import re

#: What reorders or hides text: bidi embeddings, overrides, isolates and marks; zero-width
#: spaces, joiners and invisible operators; the BOM (zero-width no-break space) mid-text.
INVISIBLE = "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
#: C0 and C1 controls, DEL, the line and paragraph separators (every character
#: ``str.splitlines()`` breaks at is among them), and the invisible characters above.
UNSAFE = f"\x00-\x1f\x7f-\x9f\u2028\u2029{INVISIBLE}"

_UNSAFE = re.compile(f"[{UNSAFE}]")
_UNSAFE_OR_BACKSLASH = re.compile(f"[\\\\{UNSAFE}]")
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, backslash: bool = False) -> str:
    """``text`` with every control, line-breaking, bidi or invisible character escaped
    visibly; with ``backslash`` a backslash too, so that the escaping can be undone (the
    exports: a reader can tell a written ``\\n`` from an escaped newline)."""
    return (_UNSAFE_OR_BACKSLASH if backslash else _UNSAFE).sub(_escape, text)


def has_unsafe(text: str) -> bool:
    """Whether :func:`escape_controls` would change ``text`` (backslashes aside)."""
    return _UNSAFE.search(text) is not None
