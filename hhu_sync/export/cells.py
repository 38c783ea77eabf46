"""Cell text that a spreadsheet cannot run and a line reader cannot split.

Exports end up in spreadsheets. A cell that starts with ``=``, ``+``, ``-``, ``@``, TAB
or CR is a formula there (OWASP "CSV injection"): it is prefixed with a single quote.
A plain number (``-12.5``) is a value, not a formula, and stays as it is, so a negative
register stays numeric. Control characters (CR, LF, NUL, ESC, C1 controls, the Unicode
line and paragraph separators) would break a record over several lines for readers that
split on them; they are written as backslash escapes (``\\n``, ``\\x1b``, ``\\u2028``), and
a backslash itself as ``\\\\``, so the escaping can be undone.
"""

from __future__ import annotations

import re

from hhu_sync.safetext import INVISIBLE
from hhu_sync.safetext import escape_controls as _escape_controls

#: Leading characters that make a spreadsheet cell a formula (with their full-width forms).
FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
# ASCII digits only: "-\u0663" (an Arabic-Indic three) is no number a sheet keeps numeric.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# Looked through before the first character that counts: blanks (any Unicode space) and
# the invisible characters, which a reader may drop before it sees the "=".
_LEADING = re.compile(f"[\\s\x00{INVISIBLE}]*")
# neutralise_formula looks through these blanks at the head of a cell.
_LEAD_BLANKS = " \x0b\x0c\x00"
_NOT_PLAIN_HEAD = FORMULA_TRIGGERS | frozenset(_LEAD_BLANKS)


def is_plain_number(text: str) -> bool:
    """A decimal number and nothing else: safe in a cell, and kept numeric."""
    return _PLAIN_NUMBER.fullmatch(text) is not None


def escape_controls(text: str) -> str:
    """Every control, line-breaking and invisible character as a visible backslash escape,
    a backslash as two (the exports' escaping can be undone)."""
    return _escape_controls(text, backslash=True)


def neutralise_formula(text: str) -> str:
    """``'`` before a cell a spreadsheet would read as a formula; plain numbers untouched.

    Leading blanks are looked through: some readers trim them and then see the ``=``.
    """
    if not text or is_plain_number(text):
        return text
    lead = _LEADING.match(text)
    assert lead is not None          # a starred class: it matches every text
    head = text[lead.end():][:1]
    if head in FORMULA_TRIGGERS or text[0] in FORMULA_TRIGGERS:
        return "'" + text
    return text


_HEADS = "=+-@ "     # of _NOT_PLAIN_HEAD, those that are printable ASCII


def plain_csv_line(cells: tuple) -> str | None:
    """The CSV line (without its end) that ``csv.writer`` writes for ``cells`` after
    :func:`safe_cell`, when that changes no cell and none needs quoting; else None.

    Most rows (digits, times, ids) are such: tested at once, their cells joined by
    commas (printable ASCII, no backslash, no quote, no comma in a cell, no cell that
    starts like a formula or with a blank), instead of a test a cell."""
    try:
        line = ",".join(cells)
    except TypeError:                  # a cell that is no text: safe_cell converts it
        return None
    if (len(line) <= MAX_CELL and line.isascii() and line.isprintable()
            and line.count(",") == len(cells) - 1 and "\\" not in line and '"' not in line
            and line[:1] not in _HEADS and ",=" not in line and ",+" not in line
            and ",-" not in line and ",@" not in line and ", " not in line):
        return line
    return None


def plain_csv_lines(rows: list[tuple]) -> list[str] | None:
    """:func:`plain_csv_line` of each of ``rows``, when every one of them is such a line;
    else None. Tested at once, on the lines joined by commas: they hold one comma fewer
    than there are cells only when no cell holds one, and every cell's head but the
    first line's follows a comma."""
    try:
        lines = list(map(",".join, rows))
    except TypeError:                  # a cell that is no text
        return None
    text = ",".join(lines)
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        return None
    # printable ASCII but a backslash and a quote: nothing left when they are taken out
    if (not data.translate(None, _PLAIN_BYTES)
            and data.count(b",") == sum(map(len, rows)) - 1
            and text[:1] not in _HEADS and all(lines) and _HEAD_AFTER_COMMA(data) is None
            and (len(text) <= MAX_CELL or max(map(len, lines)) <= MAX_CELL)):
        return lines
    return None


_PLAIN_BYTES = bytes(c for c in range(0x20, 0x7f) if c not in b'\\"')
_HEAD_AFTER_COMMA = re.compile(rb",[=+\-@ ]").search


#: What a spreadsheet cell holds (Excel: 32,767 characters); a longer one spills over.
MAX_CELL = 32_767


def safe_cell(value: object) -> str:
    """One CSV/CMEP field: formula-neutralised first, then every control escaped, then
    cut to :data:`MAX_CELL` with a marker saying how much (the store keeps it whole)."""
    text = "" if value is None else str(value)
    # Most cells (digits, times, ids) need neither step: printable ASCII without a
    # backslash has nothing to escape, and a head that is no trigger and no blank is no
    # formula. Two regular expressions a cell were a third of a CSV export's time.
    if not text or (len(text) <= MAX_CELL and text[0] not in _NOT_PLAIN_HEAD
                    and text.isascii() and text.isprintable() and "\\" not in text):
        return text
    cell = escape_controls(neutralise_formula(text))
    if len(cell) <= MAX_CELL:
        return cell
    keep = MAX_CELL - 40
    raw = neutralise_formula(text)[:keep]
    cut = escape_controls(raw)
    while len(cut) > keep:             # cut the text, not its escapes (never half a \u..)
        raw = raw[:len(raw) - (len(cut) - keep)]
        cut = escape_controls(raw)
    return f"{cut}…[{len(text) - len(raw)} characters cut]"
