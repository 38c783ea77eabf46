"""Text from outside (file names, notes, ids) made safe to show on one line.

A newline in a file name forges a log line; an ANSI escape in a meter note rewrites the
terminal; U+2028 ends a line for some log viewers; a bidi override reorders what a reader
sees. :func:`escape_controls` turns each such character into a visible escape (``\\n``,
``\\x1b``, ``\\u2028``) and leaves everything else as it was, backslashes included.
"""

from __future__ import annotations

import re

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 and C1 controls and DEL; the line and paragraph separators; bidi embeddings,
# overrides, isolates and marks; zero-width spaces, joiners and invisible operators (an id
# "HHU-<ZWSP>001" must not read as HHU-001); the BOM / zero-width no-break space mid-text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                     "\u200b-\u200f\u2060-\u2064\ufeff]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control, line-breaking or bidi character escaped visibly."""
    return _UNSAFE.sub(_escape, text)
