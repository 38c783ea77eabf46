"""Scheme versions only move forward: the rule the scheme library applies to what it takes.

A scheme id names one tariff; its version says which edition. A field crew programs what
the library holds, so an older edition arriving late (a file from last month's mail, a
copy on a USB stick) must never silently replace the newer one, nor may an edition be
changed under the same number. The rule lives here, above the storage backends, so every
backend and every way in (outbox, ``hhu-sync scheme add``) refuses alike.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum

_PART = re.compile(r"\d+")


class Verdict(Enum):
    """How an arriving scheme stands to the library's edition of the same id."""

    NEW = "new"                  # no scheme with this id is held
    NEWER = "newer"              # a higher version: replaces the held one
    SAME = "same"                # same version, same content: nothing changes
    OLDER = "older"              # a lower version: refused
    CHANGED = "changed"          # same version, other content: refused


REFUSED = (Verdict.OLDER, Verdict.CHANGED)


@dataclass(frozen=True)
class HeldScheme:
    """What the library holds for one id: enough to judge and to name it in a refusal."""

    version: int | str
    data: str        # the stored JSON (Scheme.to_dict())
    since: str       # when the library took it (ISO time)
    source: str      # the file it came from, "" if not known


def version_key(version: int | str) -> tuple[int, ...]:
    """Numeric parts, compared as numbers: 10 > 9, "1.10" > "1.9" (never as text)."""
    if isinstance(version, bool):
        raise ValueError(f"{version!r} is not a scheme version")
    if isinstance(version, int):
        return (version,)
    parts = _PART.findall(str(version))
    if not parts:
        raise ValueError(f"{version!r} is not a scheme version")
    key = [int(p) for p in parts]
    while len(key) > 1 and key[-1] == 0:   # "2" == "2.0"
        key.pop()
    return tuple(key)


def judge(version: int | str, data: str, held: HeldScheme | None) -> Verdict:
    """The verdict on a scheme (``version``, stored JSON ``data``) against ``held``."""
    if held is None:
        return Verdict.NEW
    new, old = version_key(version), version_key(held.version)
    if new > old:
        return Verdict.NEWER
    if new < old:
        return Verdict.OLDER
    return Verdict.SAME if _same_content(data, held.data) else Verdict.CHANGED


def _same_content(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        same: bool = json.loads(a) == json.loads(b)
        return same
    except ValueError:
        return False


def refusal(scheme_id: str, version: int | str, held: HeldScheme, verdict: Verdict) -> str:
    """The reason a refused scheme gives: both versions, since when, from which file."""
    since = held.since[:10] if held.since else "an unknown date"
    source = f" (from {held.source})" if held.source else ""
    word = "is older than" if verdict is Verdict.OLDER else "differs from"
    hint = "" if verdict is Verdict.OLDER else " (a changed scheme needs a higher version)"
    return (f"scheme {scheme_id} version {version} {word} version {held.version} held since "
            f"{since}{source}{hint}; not taken; use 'hhu-sync scheme add FILE --force' "
            "to replace it")
