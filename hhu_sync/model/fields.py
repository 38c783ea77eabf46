"""A small field checker that collects problems instead of stopping at the first.

Schemes, meter lists, the meter catalog and the configuration are all tables of typed
fields; each is read through a :class:`Fields` so every message names its field and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from hhu_sync.model.problems import Problem, ProblemCode

OBIS_SHORT = re.compile(
    r"^(?:\d{1,3}-\d{1,3}:)?[0-9A-Z]{1,3}(?:\.[0-9A-Z]{1,3}){1,2}(?:[*&]\d{1,3})?$"
)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_MMDD = re.compile(r"^(\d{2})-(\d{2})$")
_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


_MISSING = object()


def shown(value: Any, limit: int = 80) -> str:
    """A value as a message quotes it, in the file's terms (TOML's, a CSV's cells), never
    Python's: no ``None``, ``{'a': 1}`` or ``''``; a long value is shortened."""
    if value is None or value == "":
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = str(value)
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, dict):
        return "a table"
    elif isinstance(value, (list, tuple)):
        return "an array"
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        return "a value of another kind"
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Fields:
    """Reads typed fields from one file's data, recording a Problem for each fault."""

    def __init__(self, file: str, locate: Callable[[str], int | None] | None = None) -> None:
        self.file = file
        self._locate = locate or (lambda _path: None)
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, line: int | None = None, *,
            code: ProblemCode = ProblemCode.INVALID, subject: str = "") -> None:
        self.problems.append(Problem(self.file, line or self._locate(path), path, message,
                                     code, subject))

    def unknown(self, table: dict[str, Any], path: str, allowed: Iterable[str]) -> None:
        """Report keys that are not in ``allowed``: a typo must not pass silently."""
        if not isinstance(allowed, (tuple, set, frozenset)):
            allowed = tuple(allowed)
        for key in table:
            if key not in allowed:
                self.add(f"{path}.{key}" if path else key,
                         f"unknown field (expected one of: {', '.join(sorted(allowed))})")

    def get(self, table: dict[str, Any], path: str, key: str, kind: type | tuple[type, ...],
            *, required: bool = True, default: Any = None) -> Any:
        # The common case (present, of its type) first and cheaply: a scheme reads some
        # sixty fields, and thousands of schemes may arrive at once.
        value = table.get(key, _MISSING)
        if value is _MISSING:
            if required:
                self.add(f"{path}.{key}" if path else key, "missing")
            return default
        if isinstance(value, kind) and (not isinstance(value, bool) or kind is bool
                                        or (isinstance(kind, tuple) and bool in kind)):
            return value
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = " or ".join(_type_name(k) for k in kinds)
        self.add(f"{path}.{key}" if path else key,
                 f"expected {names}, found {_type_name(type(value))}")
        return default

    def ident(self, table: dict[str, Any], path: str, key: str, *,
              required: bool = True) -> str | None:
        value: str | None = self.get(table, path, key, str, required=required)
        if value is not None and not _IDENT.match(value):
            self.add(f"{path}.{key}" if path else key,
                     f"{shown(value)} is not a valid id (1-64 letters, digits, '.', '_', '-')")
            return None
        return value

    def positive(self, table: dict[str, Any], path: str, key: str, *,
                 required: bool = True) -> float | None:
        value: float | None = self.get(table, path, key, (int, float), required=required)
        if value is not None and value <= 0:
            self.add(f"{path}.{key}", f"must be greater than zero, found {value}")
            return None
        return value

    def int_range(self, table: dict[str, Any], path: str, key: str, low: int, high: int, *,
                  required: bool = True) -> int | None:
        value: int | None = self.get(table, path, key, int, required=required)
        if value is not None and not low <= value <= high:
            self.add(f"{path}.{key}", f"must be between {low} and {high}, found {value}")
            return None
        return value

    def hhmm(self, value: Any, path: str) -> int | None:
        """Minutes after midnight for ``"HH:MM"``."""
        if not isinstance(value, str) or not (m := _HHMM.match(value)):
            self.add(path, f"{shown(value)} is not a time of day HH:MM (00:00 to 23:59)")
            return None
        return int(m.group(1)) * 60 + int(m.group(2))

    def day(self, value: Any, path: str) -> str | None:
        """A recurring ``MM-DD`` or a one-off ``YYYY-MM-DD`` date, normalised to text."""
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            if m := _MMDD.match(value):
                try:
                    date(2024, int(m.group(1)), int(m.group(2)))  # a leap year admits 02-29
                    return value
                except ValueError:
                    pass
            else:
                try:
                    return date.fromisoformat(value).isoformat()
                except ValueError:
                    pass
        self.add(path, f"{shown(value)} is not a date (MM-DD for every year, or YYYY-MM-DD)")
        return None

    def obis(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str) or not OBIS_SHORT.match(value):
            self.add(path, f"{shown(value)} is not an OBIS code such as 1.8.1 or 1-0:1.8.1")
            return None
        return value


def _type_name(kind: type) -> str:
    return {str: "text", int: "integer", float: "number", bool: "true/false",
            list: "a list", dict: "a table", date: "a date"}.get(kind, kind.__name__)
