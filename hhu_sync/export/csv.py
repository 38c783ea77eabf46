"""The CSV export: a header and one line per reading, every cell spreadsheet-safe."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable

from hhu_sync.export.cells import plain_csv_line, plain_csv_lines, safe_cell
from hhu_sync.export.rows import COLUMNS, ExportRow, as_row
from hhu_sync.fsutil import atomic_open

_BATCH = 256      # rows tested, and written, at once


def write_csv(rows: Iterable[tuple], path: str | os.PathLike[str]) -> int:
    """All :data:`COLUMNS`; a cell never starts a formula and never holds a line break.

    Most rows (digits, times, ids) have no cell to change and none to quote: their lines
    are the cells joined, tested a batch at a time (:func:`plain_csv_lines`); a batch
    that fails the test is written a row at a time, each row tested on its own
    (:func:`plain_csv_line`) and the others taking :func:`safe_cell` cell by cell and
    ``csv.writer``. The bytes are the same."""
    count = 0
    with atomic_open(path) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        batch: list[tuple] = []
        for row in rows:
            batch.append(row if type(row) is ExportRow else as_row(row))
            if len(batch) >= _BATCH:
                _write_batch(fh, writer, batch)
                count += len(batch)
                batch = []
        if batch:
            _write_batch(fh, writer, batch)
            count += len(batch)
    return count


def _write_batch(fh, writer, batch: list[tuple]) -> None:
    """One batch of export rows: at once when every line is plain, else row by row."""
    lines = plain_csv_lines(batch)
    if lines is not None:
        fh.write("\n".join(lines) + "\n")
        return
    plain: list[str] = []
    for cells in batch:
        line = plain_csv_line(cells)
        if line is not None:
            plain.append(line)
            continue
        if plain:
            fh.write("\n".join(plain) + "\n")
            plain.clear()
        writer.writerow([safe_cell(v) for v in cells])
    if plain:
        fh.write("\n".join(plain) + "\n")
