"""Typed checks of decoded payloads: every structure a reader walks has the type it expects.

A valid seal says who made a file, not that it was made by hhu-sync: a key holder (a
stolen HHU, a tool with a key) can seal any msgpack. So before a payload becomes
objects (on the HHU, in ``inspect``), each field is checked for its type and bounds, and
the first one that is wrong is named by its path (``payload.schemes[0].rates``) in a
:class:`TransferError`. No reader then meets an ``int`` where it iterates a list.

Keys a reader does not know are allowed (a later minor version may add some) but their
values are still bounded: limited depth, no extension types.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from typing import Any

from hhu_sync.errors import TransferError

MAX_DEPTH = 16            # of values no spec describes: deeper is no payload of ours
MAX_ITEMS = 100_000       # elements of one array or map
SHORT = 256               # ids, names, codes
LONG = 64 * 1024          # free text: notes, descriptions
INT32 = 2**31 - 1

_SCALARS = (str, bytes, int, float, bool, type(None))


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "nil"
    return {dict: "a map", list: "an array", tuple: "an array", str: "a string",
            bytes: "bytes", int: "an integer", float: "a number"}.get(type(value),
                                                                     type(value).__name__)


def _fail(path: str, message: str) -> TransferError:
    return TransferError(f"{path}: {message}")


class Spec(abc.ABC):
    """What one value must be. ``nullable`` lets nil stand for it."""

    nullable = False

    @abc.abstractmethod
    def check(self, value: Any, path: str) -> None:
        """TransferError naming ``path`` unless ``value`` is what this spec says."""


class Text(Spec):
    def __init__(self, max_len: int = SHORT, *, nullable: bool = False) -> None:
        self.max_len, self.nullable = max_len, nullable

    def check(self, value: Any, path: str) -> None:
        if value is None and self.nullable:
            return
        if not isinstance(value, str):
            raise _fail(path, f"expected a string, got {_type_name(value)}")
        if len(value) > self.max_len:
            raise _fail(path, f"{len(value)} characters, more than {self.max_len}")


class Int(Spec):
    def __init__(self, lo: int = 0, hi: int = INT32, *, nullable: bool = False) -> None:
        self.lo, self.hi, self.nullable = lo, hi, nullable

    def check(self, value: Any, path: str) -> None:
        if value is None and self.nullable:
            return
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(path, f"expected an integer, got {_type_name(value)}")
        if not self.lo <= value <= self.hi:
            raise _fail(path, f"{value} is outside {self.lo}..{self.hi}")


class Num(Spec):
    """A finite number (integer or float), within bounds."""

    def __init__(self, lo: float = 0, hi: float = 1e9) -> None:
        self.lo, self.hi = lo, hi

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _fail(path, f"expected a number, got {_type_name(value)}")
        if not (math.isfinite(value) and self.lo <= value <= self.hi):
            raise _fail(path, f"{value!r} is outside {self.lo}..{self.hi}")


class Bin(Spec):
    def __init__(self, max_len: int = SHORT, *, exact: int | None = None) -> None:
        self.max_len, self.exact = max_len, exact

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, bytes):
            raise _fail(path, f"expected bytes, got {_type_name(value)}")
        if self.exact is not None and len(value) != self.exact:
            raise _fail(path, f"{len(value)} bytes, expected {self.exact}")
        if len(value) > self.max_len:
            raise _fail(path, f"{len(value)} bytes, more than {self.max_len}")


class Array(Spec):
    def __init__(self, item: Spec, *, min_items: int = 0, max_items: int = MAX_ITEMS,
                 nullable: bool = False) -> None:
        self.item, self.min_items, self.max_items = item, min_items, max_items
        self.nullable = nullable

    def check(self, value: Any, path: str) -> None:
        if value is None and self.nullable:
            return
        if not isinstance(value, list | tuple):
            raise _fail(path, f"expected an array, got {_type_name(value)}")
        if not self.min_items <= len(value) <= self.max_items:
            raise _fail(path, f"{len(value)} items, expected {self.min_items} to "
                              f"{self.max_items}")
        for i, item in enumerate(value):
            self.item.check(item, f"{path}[{i}]")


class Map(Spec):
    """A map with text keys; ``fields`` must be present (``optional`` may be absent)."""

    def __init__(self, fields: Mapping[str, Spec], *, optional: tuple[str, ...] = (),
                 nullable: bool = False) -> None:
        self.fields, self.optional, self.nullable = fields, frozenset(optional), nullable

    def check(self, value: Any, path: str) -> None:
        if value is None and self.nullable:
            return
        if not isinstance(value, dict):
            raise _fail(path, f"expected a map, got {_type_name(value)}")
        if len(value) > MAX_ITEMS:
            raise _fail(path, f"{len(value)} keys, more than {MAX_ITEMS}")
        for name, spec in self.fields.items():
            if name in value:
                spec.check(value[name], f"{path}.{name}")
            elif name not in self.optional:
                raise _fail(f"{path}.{name}", "missing")
        for key, item in value.items():
            if key not in self.fields:
                if not isinstance(key, str):
                    raise _fail(path, f"a key is {_type_name(key)}, not a string")
                check_plain(item, f"{path}.{key}")


class Plain(Spec):
    """Anything msgpack gives without extension types, within :data:`MAX_DEPTH`."""

    def check(self, value: Any, path: str) -> None:
        check_plain(value, path)


def check_plain(value: Any, path: str, depth: int = 0) -> None:
    """Bounded depth, text keys, and only the types msgpack maps to plain Python."""
    if isinstance(value, _SCALARS):
        return
    if depth >= MAX_DEPTH:
        raise _fail(path, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_plain(item, f"{path}[{i}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _fail(path, f"a key is {_type_name(key)}, not a string")
            check_plain(item, f"{path}.{key}", depth + 1)
    else:
        raise _fail(path, f"{_type_name(value)} is not a type a transfer file carries")


SEALED = Map({"alg": Text(), "nonce": Bin(exact=12), "ct": Bin(4096)})
PASSWORD = Map({"level": Int(0, 255), "secret": Text(), "enc": SEALED})
#: A list entry's reading password: a scheme password without its level.
READ_PASSWORD = Map({"secret": Text(), "enc": SEALED})
RATIO = Array(Num(), min_items=2, max_items=2, nullable=True)
SCHEME = Map({
    "id": Text(), "name": Text(), "model": Text(), "version": Int(), "description": Text(LONG),
    "ct_ratio": RATIO, "vt_ratio": RATIO,
    "rates": Array(Map({"number": Int(0, 65535), "name": Text(),
                        "registers": Array(Text(), max_items=1024)}), max_items=1024),
    "day_profiles": Array(Map({"id": Text(),
                               "switches": Array(Map({"at": Text(16), "rate": Int(0, 65535)}),
                                                 max_items=1024)}), max_items=1024),
    "week_profiles": Array(Map({"id": Text(), "days": Array(Text(), max_items=7)}),
                           max_items=1024),
    "seasons": Array(Map({"id": Text(), "start": Text(16), "week": Text()}), max_items=1024),
    "special_days": Array(Map({"date": Text(16), "day_profile": Text()}), max_items=4096),
    "demand_period_minutes": Int(0, 1440), "billing_reset_day": Int(0, 31),
    "billing_reset_time": Text(16), "display_items": Array(Text(), max_items=1024),
    "display_scroll_seconds": Int(0, 86400),
    "passwords": Array(PASSWORD, max_items=16),
})
METER_ENTRY = Map({"serial": Text(), "site": Text(LONG), "address": Text(LONG),
                   "task": Text(), "scheme": Text(nullable=True),
                   "model": Text(nullable=True), "notes": Text(LONG),
                   "read_password": READ_PASSWORD}, optional=("read_password",))
METER_LIST = Map({"id": Text(), "name": Text(LONG), "hhu": Text(nullable=True),
                  "crew": Text(nullable=True), "due": Text(32, nullable=True),
                  "notes": Text(LONG), "meters": Array(METER_ENTRY, max_items=10_000)})
SCHEMES = Array(SCHEME, max_items=10_000)

PAYLOADS: dict[str, Spec] = {
    "quick_send": Map({"schemes": SCHEMES}, optional=("schemes",)),
    "meter_list": Map({"meter_list": METER_LIST, "schemes": SCHEMES}, optional=("schemes",)),
}

# What ``inspect`` shows of a readings upload (ingest checks every field itself).
VISIT_VIEW = Map({"registers": Array(Plain(), nullable=True)}, optional=("registers",))
READINGS_VIEW = Map({"upload_id": Text(), "visits": Array(VISIT_VIEW, nullable=True)},
                    optional=("upload_id", "visits"))


def check_payload(kind: str, payload: Any, path: str = "payload") -> None:
    """Refuse (TransferError naming the field) a bundle payload of the wrong shape.

    ``readings`` are left to ingest, which checks each field (and is on the hot path);
    other kinds are checked whole, since the HHU and ``inspect`` walk them whole.
    """
    spec = PAYLOADS.get(kind)
    if spec is not None:
        spec.check(payload, path)
