"""Identifiers that end up in file names and on the wire: one rule, checked here.

An HHU id, a bundle id, an upload id or a secret name becomes part of a path (in the
depot's key store and archive, and in the HHU's flash) and travels in the link's str8
fields, so each is held to one strict pattern that cannot climb out of its folder (no
``/``, no ``..``, no leading dot) and fits everywhere it goes: :data:`MAX_ID_LENGTH`
ASCII characters leave room in a 255-byte file name for any suffix the depot adds. The
depot, the link core and the simulator all call :func:`is_safe_name`; the rule is written
down in docs/link-protocol.md and docs/transfer-format.md. Pure: no I/O, importable by
the protocol cores.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from typing import TypeGuard

MAX_ID_LENGTH = 64
_NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_ID_LENGTH - 1}}}$")
RULE = (f"1-{MAX_ID_LENGTH} letters, digits, '.', '_' or '-', starting with a letter or digit,"
        " no '..'")


def is_safe_name(value: object) -> TypeGuard[str]:
    """True for a name that is safe as a single path component."""
    return isinstance(value, str) and bool(_NAME.match(value)) and ".." not in value


def check_name(value: object, what: str) -> str:
    """Return ``value`` if it is a safe name, else raise ValueError naming ``what``."""
    if not is_safe_name(value):
        raise ValueError(
            f"{what} {value!r} is not valid: use {RULE}")
    return value


def new_bundle_id(now: datetime | None = None) -> str:
    """A time-sortable, collision-resistant id such as ``20261125T161500Z-3f9a2c1d5e7b``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{os.urandom(6).hex()}"
