"""Validation problems and where they are: file, line (when known), field."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input, printed as ``FILE:LINE: field: message``."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}"


class ModelError(Exception):
    """Raised when an input cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


_ARRAY_TABLE = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_.\-]+)\s*\]\]")
_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-]+)\s*\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*=")


class TomlLocator:
    """Maps a field path such as ``rates[1].registers`` to a line of the TOML text.

    tomllib keeps no positions, so this scans table headers and ``key =`` lines. It is
    a best effort: an unlocatable field falls back to its nearest locatable parent.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._index: dict[str, int] | None = None   # built on first use: only errors need it

    def _build(self) -> dict[str, int]:
        self._lines: dict[str, int] = {}
        text = self._text
        counts: dict[str, int] = {}
        current = ""
        for number, line in enumerate(text.splitlines(), start=1):
            if m := _ARRAY_TABLE.match(line):
                name = m.group(1)
                index = counts.get(name, 0)
                counts[name] = index + 1
                current = f"{name}[{index}]"
                self._lines.setdefault(current, number)
                self._lines.setdefault(name, number)
            elif m := _TABLE.match(line):
                current = m.group(1)
                self._lines.setdefault(current, number)
            elif m := _KEY.match(line):
                key = re.sub(r"\s+", "", m.group(1))
                self._lines.setdefault(f"{current}.{key}" if current else key, number)
        return self._lines

    def line(self, path: str) -> int | None:
        if self._index is None:
            self._index = self._build()
        while path:
            if path in self._index:
                return self._index[path]
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                break
            path = path[:cut]
        return self._index.get(path)
