"""Where each key and array element of a TOML document is: field path → line.

tomllib keeps no positions, so a validation problem ("rates[1].registers[2]: not an
OBIS code") needs another way to its line. A line-by-line look at ``key =`` lines finds
the line of ``switches = [`` for a bad ``at`` three lines further down, inside an
inline table in a multi-line array; this scanner walks the values themselves (arrays,
inline tables, strings of every kind, dotted and quoted keys, arrays of tables and the
tables under them), so each field's line is the line of its own key or element.

It reads only documents the parser has accepted (problems are found after parsing), and
still never fails on others: every step moves forward, and whatever it cannot follow
ends the scan with the lines found so far. It is iterative, so nesting depth costs no
recursion.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

_BARE = re.compile(r"[A-Za-z0-9_-]+")


class _Stop(Exception):
    """The text is not what the scanner can follow: keep what was found."""


class TomlLines:
    """``line(path)`` for a field path such as ``day_profiles[0].switches[3].at``.

    An unknown path falls back to its nearest known parent. Built on first use: only
    problems need it.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._index: dict[str, int] | None = None

    def line(self, path: str) -> int | None:
        if self._index is None:
            self._index = scan(self._text)
        while path:
            if path in self._index:
                return self._index[path]
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                break
            path = path[:cut]
        return self._index.get(path)


def scan(text: str) -> dict[str, int]:
    """Every key path and array element path of ``text`` with its (first) line."""
    scanner = _Scanner(text)
    try:
        scanner.document()
    except (_Stop, IndexError):
        pass
    return scanner.lines


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.lines: dict[str, int] = {}
        self.counts: dict[str, int] = {}     # arrays of tables: elements seen, by path
        self.budget = 8 * self.n + 64        # steps; every loop ends

    # -- helpers ------------------------------------------------------------------------
    def step(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise _Stop

    def record(self, path: str, pos: int) -> None:
        if path:
            self.lines.setdefault(path, bisect.bisect_left(self.newlines, pos) + 1)

    def char(self, i: int) -> str:
        return self.text[i] if i < self.n else ""

    def skip(self, i: int, newlines: bool) -> int:
        """Past blanks (and, where the grammar allows, line ends and comments)."""
        while i < self.n:
            self.step()
            c = self.text[i]
            if c in " \t":
                i += 1
            elif newlines and c in "\r\n":
                i += 1
            elif newlines and c == "#":
                end = self.text.find("\n", i)
                i = self.n if end < 0 else end
            else:
                break
        return i

    def string(self, i: int) -> int:
        """Past the string starting at ``i`` (basic, literal, multi-line of each)."""
        quote = self.text[i]
        triple = self.text.startswith(quote * 3, i)
        i += 3 if triple else 1
        while i < self.n:
            self.step()
            c = self.text[i]
            if c == "\\" and quote == '"':
                i += 2
            elif triple and self.text.startswith(quote * 3, i):
                i += 3
                while self.char(i) == quote:      # """a"""" ends with a quote inside
                    i += 1
                return i
            elif not triple and c == quote:
                return i + 1
            elif not triple and c == "\n":
                raise _Stop
            else:
                i += 1
        raise _Stop

    def key(self, i: int) -> tuple[list[str], int]:
        """A dotted key: its parts, and the position after it."""
        parts: list[str] = []
        while True:
            i = self.skip(i, False)
            c = self.char(i)
            if c in "\"'":
                end = self.string(i)
                raw = self.text[i + 1:end - 1]
                parts.append(raw.replace('\\"', '"') if c == '"' else raw)
                i = end
            elif m := _BARE.match(self.text, i):
                parts.append(m.group())
                i = m.end()
            else:
                raise _Stop
            i = self.skip(i, False)
            if self.char(i) != ".":
                return parts, i
            i += 1

    # -- grammar --------------------------------------------------------------------------
    def document(self) -> None:
        i, table = 0, ""
        while True:
            i = self.skip(i, True)
            if i >= self.n:
                return
            if self.text.startswith("[[", i):
                parts, i = self.key(i + 2)
                if not self.text.startswith("]]", i):
                    raise _Stop
                parent = self.resolve(parts[:-1])
                name = f"{parent}.{parts[-1]}" if parent else parts[-1]
                index = self.counts.get(name, 0)
                self.counts[name] = index + 1
                table = f"{name}[{index}]"
                self.record(name, i)
                self.record(table, i)
                i += 2
            elif self.char(i) == "[":
                parts, i = self.key(i + 1)
                if self.char(i) != "]":
                    raise _Stop
                table = self.resolve(parts)
                self.record(table, i)
                i += 1
            else:
                start = i
                parts, i = self.key(i)
                path = self.keys(table, parts, start)
                i = self.skip(i, False)
                if self.char(i) != "=":
                    raise _Stop
                i = self.value(i + 1, path)

    def resolve(self, parts: list[str]) -> str:
        """A table header's path: ``[meters.registers]`` after ``[[meters]]`` is
        ``meters[N].registers`` for the last N."""
        path = ""
        for part in parts:
            path = f"{path}.{part}" if path else part
            if path in self.counts:
                path = f"{path}[{self.counts[path] - 1}]"
        return path

    def keys(self, table: str, parts: list[str], pos: int) -> str:
        """Record a dotted key's every prefix under ``table``; its full path."""
        path = table
        for part in parts:
            path = f"{path}.{part}" if path else part
            self.record(path, pos)
        return path

    def value(self, i: int, path: str) -> int:
        """Past one value (arrays and inline tables walked without recursion)."""
        stack: list[list[Any]] = []        # ["a", path, index] or ["t", path]
        while True:
            i = self.skip(i, bool(stack))
            c = self.char(i)
            opened = False
            if c == "[":
                stack.append(["a", path, 0])
                i = self.skip(i + 1, True)
                if self.char(i) != "]":
                    path = f"{path}[0]"
                    self.record(path, i)
                    opened = True
                else:
                    i += 1
                    stack.pop()
            elif c == "{":
                stack.append(["t", path])
                i = self.skip(i + 1, True)
                if self.char(i) != "}":
                    path, i = self.member(stack[-1][1], i)
                    opened = True
                else:
                    i += 1
                    stack.pop()
            elif c in "\"'":
                i = self.string(i)
            elif c == "":
                raise _Stop
            else:
                start = i
                while i < self.n and self.text[i] not in ",]}#\r\n":
                    i += 1
                if i == start:
                    raise _Stop
            if opened:
                continue
            # After a value: separators and closing brackets, until the next value.
            while True:
                self.step()
                if not stack:
                    return i
                i = self.skip(i, True)
                frame, c = stack[-1], self.char(i)
                if c == ",":
                    i = self.skip(i + 1, True)
                    closing = "]" if frame[0] == "a" else "}"
                    if self.char(i) == closing:          # a trailing comma
                        stack.pop()
                        i += 1
                        continue
                    if frame[0] == "a":
                        frame[2] += 1
                        path = f"{frame[1]}[{frame[2]}]"
                        self.record(path, i)
                    else:
                        path, i = self.member(frame[1], i)
                    break
                if c in "]}":
                    stack.pop()
                    i += 1
                    continue
                raise _Stop

    def member(self, table: str, i: int) -> tuple[str, int]:
        """``key = `` inside an inline table: the key's path, the position of its value."""
        start = i
        parts, i = self.key(i)
        path = self.keys(table, parts, start)
        i = self.skip(i, False)
        if self.char(i) != "=":
            raise _Stop
        return path, i + 1
