"""Numbers for people: bytes as kB/MB, times as "3 min ago". ``--json`` keeps raw values."""

from __future__ import annotations

from datetime import UTC, datetime


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 day profile``, ``2 day profiles``, ``0 entries`` (``plural`` when not +s)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def parse_time(text: str | None) -> datetime | None:
    """An ISO time from the database (UTC when it carries no zone), None if unreadable."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def ago(text: str | None, now: datetime) -> str:
    """``3 min ago``, ``2 h ago``, ``in 5 min`` (a clock ahead), or ``never``."""
    when = parse_time(text)
    if when is None:
        return "never" if not text else str(text)
    seconds = (now - when).total_seconds()
    span = _span(abs(seconds))
    if span == "just now":
        return span
    return f"{span} ago" if seconds >= 0 else f"in {span}"


def _span(seconds: float) -> str:
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"


def duration(seconds: float) -> str:
    """A span to the second, in its two largest units: ``12 s``, ``44 min 30 s``,
    ``30 days 21 h`` (a meter's clock drift: small ones matter, large ones must read)."""
    left = int(round(abs(seconds)))
    parts: list[str] = []
    for unit, scale in (("days", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if left >= scale or (unit == "s" and not parts):
            count, left = divmod(left, scale)
            parts.append(f"{count} {'day' if unit == 'days' and count == 1 else unit}")
    return " ".join(parts[:2])


def size(n: int | None) -> str:
    """Bytes in decimal units, as a file manager shows them: ``67.1 MB``, ``982 B``."""
    if n is None:
        return ""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def first_line(text: str | None, limit: int = 120) -> str:
    """The first line of a message, shortened: a table cell, not a report."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
