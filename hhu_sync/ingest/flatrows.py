"""Reading rows held as one flat list of their values, as a check worker sends them.

An upload's readings are thousands of short tuples; pickled to the committer, each tuple
is unpickled on its own, and the store then flattened them again into its statements'
parameters. :class:`FlatRows` keeps the values flat instead: it unpickles in half the
time, the store inserts from slices of it, and a row's tuple is made only when one is
asked for (a finding, a duplicate).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload


class FlatRows(Sequence[tuple]):
    """A sequence of rows of ``width`` fields each, stored as ``flat`` (row after row)."""

    __slots__ = ("flat", "width")

    def __init__(self, flat: list[Any], width: int) -> None:
        if width < 1 or len(flat) % width:
            raise ValueError(f"{len(flat)} values are no rows of {width}")
        self.flat, self.width = flat, width

    def __reduce__(self) -> tuple:
        return FlatRows, (self.flat, self.width)

    def __len__(self) -> int:
        return len(self.flat) // self.width

    @overload
    def __getitem__(self, index: int) -> tuple: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple]: ...
    def __getitem__(self, index: int | slice) -> tuple | list[tuple]:
        w = self.width
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return list(zip(*[iter(self.flat[start * w:stop * w])] * w, strict=True))
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError("row index out of range")
        return tuple(self.flat[i * w:(i + 1) * w])

    def __iter__(self) -> Iterator[tuple]:
        return zip(*[iter(self.flat)] * self.width, strict=True)

    def column(self, field: int) -> list[Any]:
        """Every row's value of one field, in row order."""
        return self.flat[field::self.width]

    def values(self, start: int, stop: int) -> list[Any]:
        """The values of rows ``start`` to ``stop``, flat: a statement's parameters."""
        return self.flat[start * self.width:stop * self.width]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FlatRows):
            return self.width == other.width and self.flat == other.flat
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(
                a == b for a, b in zip(self, other, strict=False))
        return NotImplemented

    __hash__ = None        # type: ignore[assignment]  # a mutable sequence's, like list's

    def __repr__(self) -> str:
        return f"FlatRows({len(self)} rows of {self.width})"
