"""Errors shared across hhu-sync. Each carries enough to name what was wrong."""

from __future__ import annotations


class HhuSyncError(Exception):
    """Base of every error hhu-sync raises on purpose."""


class CliError(HhuSyncError):
    """A problem to report to the person at the terminal in one line."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class TransferError(HhuSyncError):
    """A transfer file could not be built or was refused on reading.

    ``offset`` is the byte offset in the file where the problem was found, when known.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message if offset is None else f"at byte {offset}: {message}")
        self.offset = offset


class KeyStoreError(HhuSyncError):
    """A key or secret is missing, unreadable or has unsafe permissions."""
