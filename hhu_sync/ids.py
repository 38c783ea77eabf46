"""Identifiers that end up in file names and on the wire: checked once, here.

An HHU id, a bundle id or a secret name becomes part of a path, so each is held to a
strict pattern that cannot climb out of its folder (no ``/``, no ``..``, no leading dot).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from typing import TypeGuard

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def is_safe_name(value: object) -> TypeGuard[str]:
    """True for a name that is safe as a single path component."""
    return isinstance(value, str) and bool(_NAME.match(value)) and ".." not in value


def check_name(value: object, what: str) -> str:
    """Return ``value`` if it is a safe name, else raise ValueError naming ``what``."""
    if not is_safe_name(value):
        raise ValueError(
            f"{what} {value!r} is not valid: use 1-64 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    return value


def new_bundle_id(now: datetime | None = None) -> str:
    """A time-sortable, collision-resistant id such as ``20261125T161500Z-3f9a2c1d5e7b``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{os.urandom(6).hex()}"
