"""The CSV export: a header and one line per reading, every cell spreadsheet-safe."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable

from hhu_sync.export.cells import plain_csv_line, safe_cell
from hhu_sync.export.rows import COLUMNS, as_row
from hhu_sync.fsutil import atomic_open

_BATCH = 512      # plain lines written at once


def write_csv(rows: Iterable[tuple], path: str | os.PathLike[str]) -> int:
    """All :data:`COLUMNS`; a cell never starts a formula and never holds a line break.

    Most rows (digits, times, ids) have no cell to change and none to quote: their line
    is the cells joined, tested once a row (:func:`plain_csv_line`); the others take
    :func:`safe_cell` cell by cell and ``csv.writer``. The bytes are the same."""
    count = 0
    with atomic_open(path) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        lines: list[str] = []
        for row in rows:
            cells = as_row(row)
            line = plain_csv_line(cells)
            if line is not None:
                lines.append(line)
                if len(lines) >= _BATCH:
                    fh.write("\n".join(lines) + "\n")
                    lines.clear()
            else:
                if lines:
                    fh.write("\n".join(lines) + "\n")
                    lines.clear()
                writer.writerow([safe_cell(v) for v in cells])
            count += 1
        if lines:
            fh.write("\n".join(lines) + "\n")
    return count
