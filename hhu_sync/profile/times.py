"""Interval times as text and back: interval data keeps UTC seconds, and every time it
writes says its zone (``...Z``) or is refused when read without one."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_z(utc: int | None) -> str:
    """UTC seconds as ``YYYY-MM-DDThh:mm:ssZ``; ``""`` for None."""
    return "" if utc is None else datetime.fromtimestamp(utc, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def utc_seconds(iso: str) -> int | None:
    """An ISO 8601 time with its zone as UTC seconds; None for junk or no zone (a time
    without one could be any meter's local time)."""
    try:
        when = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return None
    return int(when.timestamp()) if when.tzinfo is not None else None
