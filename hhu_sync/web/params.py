"""What a route takes, declared once: its query parameters and its JSON body, checked
before the handler runs (400 naming the field) and described by the same declaration in
the OpenAPI document, so the two cannot drift apart.

A :class:`Params` is a tuple of :class:`Field`; ``guarded(action, query=..., body=...)``
registers it for the endpoint. Only what the API needs: text (bounded, optionally one
of fixed choices or a pattern), whole numbers (bounded), and booleans; unknown names are
refused, so a typo in a field is an error, not a silently ignored value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: a JSON body larger than this is refused unread (413): every body the API takes is small
MAX_BODY_BYTES = 64 * 1024


class BadInput(ValueError):
    """A parameter or body field that does not fit its declaration (answered 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Field:
    name: str
    kind: type = str                      # str, int or bool
    required: bool = False
    description: str = ""
    max_length: int = 256                 # text: characters at most
    choices: tuple[str, ...] = ()         # text: one of these
    pattern: str | None = None            # text: matches this (whole)
    minimum: int | None = None            # int
    maximum: int | None = None            # int
    default: Any = None

    def check(self, raw: Any, *, from_query: bool) -> Any:
        """The value, converted (query text to int or bool) and checked."""
        name = self.name
        if self.kind is bool:
            if from_query and raw in ("true", "1", "false", "0"):
                return raw in ("true", "1")
            if not from_query and type(raw) is bool:
                return raw
            raise BadInput(name, "must be true or false")
        if self.kind is int:
            if from_query:
                if not (isinstance(raw, str) and re.fullmatch(r"-?\d{1,18}", raw)):
                    raise BadInput(name, "must be a whole number")
                raw = int(raw)
            elif type(raw) is not int:
                raise BadInput(name, "must be a whole number")
            if self.minimum is not None and raw < self.minimum:
                raise BadInput(name, f"must be at least {self.minimum}")
            if self.maximum is not None and raw > self.maximum:
                raise BadInput(name, f"must be at most {self.maximum}")
            return raw
        if not isinstance(raw, str):
            raise BadInput(name, "must be text")
        if len(raw) > self.max_length:
            raise BadInput(name, f"must be at most {self.max_length} characters")
        if self.choices and raw not in self.choices:
            raise BadInput(name, f"must be one of {', '.join(self.choices)}")
        if self.pattern is not None and not re.fullmatch(self.pattern, raw):
            raise BadInput(name, f"must match {self.pattern}")
        return raw

    def schema(self) -> dict[str, Any]:
        kind = {str: "string", int: "integer", bool: "boolean"}[self.kind]
        out: dict[str, Any] = {"type": kind}
        if self.kind is str:
            out["maxLength"] = self.max_length
            if self.choices:
                out["enum"] = list(self.choices)
            if self.pattern is not None:
                out["pattern"] = f"^(?:{self.pattern})$"
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.default is not None:
            out["default"] = self.default
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class Params:
    fields: tuple[Field, ...]

    def parse_query(self, query: Mapping[str, str], repeated: Callable[[str], list[str]]
                    ) -> dict[str, Any]:
        """The query's values by name (absent ones: their default); ``repeated(name)``
        gives every value of a name (a name given twice is refused: which one counts?)."""
        known = {f.name: f for f in self.fields}
        for name in query:
            if name not in known:
                raise BadInput(name, "unknown parameter" + _expected(known))
        out: dict[str, Any] = {}
        for f in self.fields:
            values = repeated(f.name)
            if len(values) > 1:
                raise BadInput(f.name, "given more than once")
            if not values or values[0] == "":
                if f.required:
                    raise BadInput(f.name, "is required")
                out[f.name] = f.default
                continue
            out[f.name] = f.check(values[0], from_query=True)
        return out

    def parse_body(self, body: bytes) -> dict[str, Any]:
        """The JSON object's fields by name (absent optional ones: their default)."""
        if len(body) > MAX_BODY_BYTES:
            raise BadInput("body", f"larger than {MAX_BODY_BYTES} bytes")
        try:
            data = json.loads(body, object_pairs_hook=_once) if body.strip() else None
        except BadInput:
            raise
        except (ValueError, RecursionError) as exc:
            raise BadInput("body", f"not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise BadInput("body", "must be a JSON object")
        known = {f.name: f for f in self.fields}
        for name in data:
            if name not in known:
                raise BadInput(str(name)[:64], "unknown field" + _expected(known))
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.name not in data or data[f.name] is None:
                if f.required:
                    raise BadInput(f.name, "is required")
                out[f.name] = f.default
                continue
            out[f.name] = f.check(data[f.name], from_query=False)
        return out

    def query_parameters(self) -> list[dict[str, Any]]:
        """The OpenAPI parameter objects of a query."""
        return [{"name": f.name, "in": "query", "required": f.required,
                 **({"description": f.description} if f.description else {}),
                 "schema": {k: v for k, v in f.schema().items() if k != "description"}}
                for f in self.fields]

    def body_schema(self) -> dict[str, Any]:
        """The OpenAPI schema of a JSON body."""
        return {"type": "object", "additionalProperties": False,
                "required": [f.name for f in self.fields if f.required],
                "properties": {f.name: f.schema() for f in self.fields}}


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose every name is given once (which of two would count?)."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise BadInput(str(name)[:64], "given more than once")
        out[name] = value
    return out


def _expected(known: Mapping[str, Field]) -> str:
    return f" (expected: {', '.join(known)})" if known else " (none expected)"
