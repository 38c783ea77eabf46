"""Readings uploads → checked rows and findings (see :mod:`hhu_sync.ingest.upload`)."""

from hhu_sync.ingest.fields import DEFAULT_LIMITS, Limits, escape
from hhu_sync.ingest.status import ExceptionKind, FindingCode, ReadingStatus
from hhu_sync.ingest.upload import (
    MAX_REGISTERS_PER_VISIT,
    MAX_VISITS,
    OUTCOMES,
    Finding,
    IngestReport,
    Upload,
    UploadError,
    Visit,
    parse_upload,
)

__all__ = ["DEFAULT_LIMITS", "MAX_REGISTERS_PER_VISIT", "MAX_VISITS", "OUTCOMES",
           "ExceptionKind", "Finding", "FindingCode", "IngestReport", "Limits",
           "ReadingStatus", "Upload", "UploadError", "Visit", "escape", "parse_upload"]
