"""Exports for billing: CSV, CMEP (MEPMD01) and JSON lines, each written atomically.

Rows come from :meth:`Store.readings` as :class:`ExportRow` (docs/exports.md documents
every column). Values stay the decimal text the meter sent.
"""

from hhu_sync.export.cmep import CMEP_RECORD_VERSION, CMEP_UNITS, write_cmep
from hhu_sync.export.csv import write_csv
from hhu_sync.export.formats import FORMATS, export, export_upload
from hhu_sync.export.jsonl import write_jsonl
from hhu_sync.export.rows import COLUMNS, ExportRow

__all__ = ["CMEP_RECORD_VERSION", "CMEP_UNITS", "COLUMNS", "FORMATS", "ExportRow", "export",
           "export_upload", "write_cmep", "write_csv", "write_jsonl"]
