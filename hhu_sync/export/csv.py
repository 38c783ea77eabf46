"""The CSV export: a header and one line per reading, every cell spreadsheet-safe."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable

from hhu_sync.export.cells import safe_cell
from hhu_sync.export.rows import COLUMNS, as_row
from hhu_sync.fsutil import atomic_open


def write_csv(rows: Iterable[tuple], path: str | os.PathLike[str]) -> int:
    """All :data:`COLUMNS`; a cell never starts a formula and never holds a line break."""
    count = 0
    with atomic_open(path) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([safe_cell(v) for v in as_row(row)])
            count += 1
    return count
