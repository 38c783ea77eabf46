"""The fast TOML path (rtoml, falling back to tomli) reads what tomli reads, the same way.

tomli (TOML 1.0) is the reference: what it accepts is read exactly as it reads it, and
what we refuse is refused with its message. The one difference, found by these tests:
rtoml also reads TOML 1.1's inline tables spread over several lines, which tomli
refuses. These tests feed both the example files, edited at random, and documents built
from TOML's awkward corners.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import tomli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hhu_sync.model import loader
from hhu_sync.model.loader import loads

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "schemes").rglob("*.toml"))
TEXTS = [p.read_text(encoding="utf-8") for p in EXAMPLES]
SIGNIFICANT = list("=[]{}.,\"'#\n\r\t -_:+0123456789eEtfinaTZ\\\x7f\ufeff") + ['"""', "'''"]


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _reference(text: str):
    try:
        return "ok", tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        return "error", str(exc)


def _ours(text: str):
    try:
        return "ok", loads(text)
    except tomli.TOMLDecodeError as exc:
        return "error", str(exc)


def _one_line_inline_tables(text: str) -> str:
    """TOML 1.1's multi-line inline tables folded onto one line, as TOML 1.0 wants them."""
    out, depth, quote = [], 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        elif ch == "\n" and depth:
            ch = " "
        out.append(ch)
    return "".join(out)


def _agree(text: str) -> None:
    ref, ours = _reference(text), _ours(text)
    if ref[0] == "ok":
        assert ours[0] == "ok" and _same(ref[1], ours[1]), text
    elif ours[0] == "error":
        assert ref[1] == ours[1]            # tomli's message, line and column
    else:   # we read what tomli refused: only TOML 1.1's multi-line inline tables
        folded = _reference(_one_line_inline_tables(text))
        assert folded[0] == "ok" and _same(folded[1], ours[1]), f"{text!r}: tomli {ref}"


@st.composite
def edited_examples(draw) -> str:
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        what = draw(st.sampled_from(["delete", "insert", "duplicate line"]))
        if what == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 3)):]
        elif what == "insert":
            text = text[:at] + draw(st.sampled_from(SIGNIFICANT)) + text[at:]
        else:
            lines = text.splitlines(keepends=True)
            n = at % max(1, len(lines))
            text = "".join(lines[:n + 1] + lines[n:])
    return text


_scalar = st.sampled_from([
    "1", "-0", "+7", "0x1F", "0o17", "0b101", "1_000", "1__0", "01", "9223372036854775808",
    "1.5", "1.", ".5", "1e10", "1e1000", "-inf", "nan", "+nan", "true", "True",
    '"a"', '"\\u00e9"', '"\\ud800"', '"\\q"', "'lit'", '"""multi\nline"""', "'''raw'''",
    "1979-05-27", "2000-02-30", "07:32:00", "24:00:00", "1979-05-27T07:32:00Z",
    "1979-05-27 07:32:00.999999999", "1979-05-27T07:32:00+25:00", "[1, 2,]", "[1, \"x\"]",
    "{a = 1}", "{a = 1,}", "{}", "[[1], [2]]",
])
_key = st.sampled_from(["a", "b", "a.b", '"a"', "'b'", "a . b", "1", "-", "a b", '""'])


@st.composite
def built_documents(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            lines.append(f"[{draw(_key)}]")
        elif kind == 1:
            lines.append(f"[[{draw(_key)}]]")
        else:
            lines.append(f"{draw(_key)} = {draw(_scalar)}")
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited_examples())
def test_an_edited_example_is_read_as_tomli_reads_it(text):
    _agree(text)


@settings(max_examples=400, deadline=None)
@given(built_documents())
def test_a_document_of_awkward_corners_is_read_as_tomli_reads_it(text):
    _agree(text)


@pytest.mark.parametrize("text", ["a = 1e1000\n", "\ufeffa = 1\n", "a = 1\nb = 1e1000\n"])
def test_where_rtoml_refuses_what_tomli_reads_tomli_decides(text):
    assert _same(_ours(text), _reference(text))


def test_an_inline_table_over_several_lines_is_read_as_toml_1_1_has_it():
    text = 'switches = [\n  { at\n = "00:00", rate = 3 },\n]\n'
    assert _reference(text)[0] == "error"
    assert _ours(text) == ("ok", {"switches": [{"at": "00:00", "rate": 3}]})


def test_every_example_is_parsed_by_the_fast_path(monkeypatch):
    assert loader._fast is not None, "rtoml is a dependency: the fast path must be there"
    monkeypatch.setattr(loader, "_toml", None)      # tomli not even reachable
    for text in TEXTS:
        assert loads(text) == tomli.loads(text)
