"""Data sets of a readout or R1 answer: ``address(value*unit)(...)``, values kept as text.

Values stay decimal text (``"001846.0"``): a billing figure must never pass through a
float. :meth:`Value.decimal` gives an exact :class:`~decimal.Decimal` when wanted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from hhu_sync.iec62056.errors import RemoteProtocolError

_MAX_ADDRESS = 32
_MAX_VALUE = 128
# [A-B:]C.D[.E][*F|&F]; C and D may be letters (F.F, C.1.0, P.01).
_OBIS_RE = re.compile(
    r"(?:(?P<a>\d{1,3})-(?P<b>\d{1,3}):)?"
    r"(?P<c>[0-9A-Za-z]{1,3})\.(?P<d>[0-9A-Za-z]{1,3})(?:\.(?P<e>[0-9A-Za-z]{1,3}))?"
    r"(?:[*&](?P<f>\d{1,3}))?"
)


@dataclass(frozen=True)
class Obis:
    """An OBIS-style address. ``f`` None or 255 is the current value; 1..n historical."""

    a: str | None
    b: str | None
    c: str
    d: str
    e: str | None
    f: str | None

    @classmethod
    def parse(cls, text: str) -> Obis:
        """Parse ``1.8.0``, ``1-0:1.8.0*255``, ``1.8.0*1``, ``F.F``; ValueError if not."""
        m = _OBIS_RE.fullmatch(text)
        if m is None:
            raise ValueError(f"{text!r} is not an OBIS address")
        return cls(m["a"], m["b"], m["c"], m["d"], m["e"], m["f"])

    @property
    def historical(self) -> int | None:
        """Billing period back (1 = last one), None for the current value."""
        if self.f is None or int(self.f) == 255:
            return None
        return int(self.f)

    @property
    def short(self) -> str:
        """``C.D[.E]`` plus ``*F`` for historical values: the key readouts are indexed by."""
        core = f"{self.c}.{self.d}" + (f".{self.e}" if self.e is not None else "")
        return core if self.historical is None else f"{core}*{self.historical}"

    @property
    def current(self) -> str:
        """The short form without the billing period: ``1.8.0`` for ``1.8.0*3``."""
        return self.short.split("*", 1)[0]


@dataclass(frozen=True)
class Value:
    """One ``(...)`` group: text, and the unit after ``*`` when present."""

    text: str
    unit: str | None = None

    def decimal(self) -> Decimal:
        """Exact decimal value; ValueError if the text is not a number."""
        try:
            return Decimal(self.text)
        except InvalidOperation:
            raise ValueError(f"{self.text!r} is not a decimal number") from None


@dataclass(frozen=True)
class DataSet:
    """``address(value*unit)(more)...``; ``values`` empty is impossible, ``()`` is blank."""

    address: str
    values: tuple[Value, ...]

    @property
    def obis(self) -> Obis | None:
        try:
            return Obis.parse(self.address)
        except ValueError:
            return None

    @property
    def key(self) -> str:
        """Short OBIS form when the address is OBIS, else the address as received."""
        obis = self.obis
        return obis.short if obis is not None else self.address

    @property
    def value(self) -> str:
        return self.values[0].text

    @property
    def unit(self) -> str | None:
        return self.values[0].unit

    @property
    def timestamp(self) -> str | None:
        """The second group, e.g. the time of a maximum demand ``(2611251030)``."""
        return self.values[1].text if len(self.values) > 1 else None

    def encode(self) -> str:
        groups = "".join(f"({v.text}{'*' + v.unit if v.unit else ''})" for v in self.values)
        return f"{self.address}{groups}"


def _split_value(text: str) -> Value:
    number, star, unit = text.partition("*")
    return Value(number, unit) if star and unit else Value(text)


def parse_datasets(text: str, offset: int = 0) -> tuple[DataSet, ...]:
    """Data sets from data lines; address-less ``(...)`` groups extend the previous set.

    Stops at the ``!`` end line. ``offset`` is the stream offset of ``text[0]``.
    """
    out: list[DataSet] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\r\n":
            i += 1
            continue
        if ch == "!":
            break
        start = i
        while i < n and text[i] not in "(\r\n!":
            i += 1
        address = text[start:i]
        if len(address) > _MAX_ADDRESS:
            raise RemoteProtocolError(f"data set address longer than {_MAX_ADDRESS}",
                                      offset + start)
        if i >= n or text[i] != "(":
            raise RemoteProtocolError(f"data set {address!r} has no '(' value", offset + i)
        values: list[Value] = []
        while i < n and text[i] == "(":
            close = text.find(")", i + 1)
            if close < 0:
                raise RemoteProtocolError("value has no closing ')'", offset + i)
            inner = text[i + 1:close]
            if "(" in inner or "\r" in inner or "\n" in inner:
                raise RemoteProtocolError("value not closed before the next one", offset + i)
            if len(inner) > _MAX_VALUE:
                raise RemoteProtocolError(f"value longer than {_MAX_VALUE}", offset + i)
            values.append(_split_value(inner))
            i = close + 1
        if not address and out:
            out[-1] = DataSet(out[-1].address, out[-1].values + tuple(values))
        else:
            out.append(DataSet(address, tuple(values)))
    return tuple(out)


def index_datasets(datasets: tuple[DataSet, ...]) -> dict[str, DataSet]:
    """``{key: data set}`` by short OBIS key; ``1.8.0`` and ``1.8.0*1`` stay distinct."""
    return {ds.key: ds for ds in datasets}
