"""The JSON lines export: one object per reading, one line per object.

``json.dumps`` escapes every control character and, with ASCII output, the Unicode line
separators too, so no record is split. Text is formula-neutralised as in the CSV: a
JSON file is often opened by a tool that turns it into a sheet.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from hhu_sync.export.cells import neutralise_formula
from hhu_sync.export.rows import COLUMNS, as_row
from hhu_sync.fsutil import atomic_open


def write_jsonl(rows: Iterable[tuple], path: str | os.PathLike[str]) -> int:
    count = 0
    with atomic_open(path) as fh:
        for row in rows:
            record = {k: neutralise_formula(str(v)) for k, v in zip(COLUMNS, as_row(row),
                                                                    strict=True)}
            fh.write(json.dumps(record, ensure_ascii=True) + "\n")
            count += 1
    return count
