"""Validation problems and where they are: file, line (when known), field.

The lines of TOML fields are found by :mod:`hhu_sync.model.toml_lines`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum


class ProblemCode(StrEnum):
    """What kind of problem it is, for callers that act on it (house rule: contracts
    are codes, never matched wording; the message is for people and may change)."""

    INVALID = "invalid"                # any problem without a code of its own
    UNKNOWN_SCHEME = "unknown_scheme"  # a meter list names a scheme the library lacks


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input, printed as ``FILE:LINE: field: message``.

    ``code`` says what kind it is and ``subject`` what it is about (for
    ``UNKNOWN_SCHEME``, the scheme id): neither takes part in ordering or equality.
    """

    file: str
    line: int | None
    field: str
    message: str
    code: ProblemCode = dataclasses.field(default=ProblemCode.INVALID, compare=False)
    subject: str = dataclasses.field(default="", compare=False)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}"


class ModelError(Exception):
    """Raised when an input cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems
