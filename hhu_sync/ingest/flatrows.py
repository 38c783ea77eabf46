"""Reading rows held as one flat list of their values, as a check worker sends them.

An upload's readings are thousands of short tuples; pickled to the committer, each tuple
is unpickled on its own, and the store then flattened them again into its statements'
parameters. :class:`FlatRows` keeps the values flat instead: the store inserts from
slices of it, and a row's tuple is made only when one is asked for (a finding, a
duplicate).

Pickled, the rows go column by column (see :func:`_columns`): a column of one text (the
HHU, the upload, a status, the empty register times) is sent once, not once a row. Of an
upload's eleven columns six are mostly that: a third less to pickle in the check worker
and to unpickle on the daemon's thread that receives every check worker's results.
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
        if not self.flat:
            return FlatRows, ([], self.width)
        return _from_columns, (self.width, len(self), _columns(self.flat, self.width))

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


def _columns(flat: list[Any], width: int) -> list[Any]:
    """The rows' columns as they are pickled: ``(value,)`` for a column whose values all
    equal one text or None (they arrive as that one object), else the column's values
    as a list (repeated objects, a visit's meter or time, go once: pickle's memo)."""
    n = len(flat) // width
    out: list[Any] = []
    for i in range(width):
        column = flat[i::width]
        first = column[0]
        if (first is None or type(first) is str) and column.count(first) == n:
            out.append((first,))
        else:
            out.append(column)
    return out


def _from_columns(width: int, n: int, columns: list[Any]) -> FlatRows:
    """The rows :func:`_columns` gave, flat again: a slice assignment a column."""
    flat: list[Any] = [None] * (n * width)
    for i, column in enumerate(columns):
        flat[i::width] = column * n if type(column) is tuple else column
    return FlatRows(flat, width)
