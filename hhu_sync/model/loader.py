"""Reading input files safely: bounded size, strict UTF-8, clear one-line errors.

Every problem becomes a :class:`Problem` naming the file (and the byte offset or line
where that is known); nothing here lets a traceback reach the person at the terminal.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, BinaryIO

from hhu_sync.model.problems import ModelError, Problem
from hhu_sync.model.toml_lines import TomlLines

if TYPE_CHECKING:  # one API, two copies: mypy reads it from the standard library's
    import tomllib as _toml
else:
    try:  # the standard library's tomllib, compiled with mypyc: the same parser, ~3x faster
        import tomli as _toml
    except ImportError:  # pragma: no cover - tomli is a dependency; tomllib is its fallback
        import tomllib as _toml

_fast: ModuleType | None
try:  # five times faster again than tomli; used only for what it accepts (see parse_toml)
    import rtoml as _fast
except ImportError:  # pragma: no cover - a platform without its wheel: tomli alone
    _fast = None

MAX_INPUT_BYTES = 4 * 1024 * 1024
MAX_NESTING = 64    # arrays, inline tables and dotted-key parts inside one another


def _fail(path: Path, field: str, message: str, line: int | None = None) -> ModelError:
    return ModelError([Problem(str(path), line, field, message)])


def _open_nonblocking(path: Path) -> BinaryIO:
    """``open(path, "rb")`` that cannot block: a FIFO or a device named as an input is
    refused after an ``O_NONBLOCK`` open, by ``fstat``, before any read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
        raise _fail(path, "file", "not a regular file (a pipe, socket or device); not read")
    return open(fd, "rb")


def read_text(path: str | os.PathLike[str], limit: int = MAX_INPUT_BYTES) -> str:
    """The file's text, or ModelError: missing, too large, empty, binary, not UTF-8."""
    path = Path(path)
    try:
        with _open_nonblocking(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise _fail(path, "file", f"{size / 1e6:.1f} MB is larger than the "
                                          f"{limit // (1024 * 1024)} MiB limit for this input")
            raw = fh.read(limit + 1)
    except FileNotFoundError:
        raise _fail(path, "file", "no such file") from None
    except IsADirectoryError:
        raise _fail(path, "file", "is a folder, not a file") from None
    except PermissionError:
        raise _fail(path, "file", "permission denied") from None
    except OSError as exc:
        raise _fail(path, "file", f"cannot read: {exc.strerror}") from None
    return decode_text(raw, path, limit)


def decode_text(raw: bytes, path: str | os.PathLike[str], limit: int = MAX_INPUT_BYTES) -> str:
    """Bytes already read (at most ``limit + 1``) as text, or the same errors as read_text."""
    path = Path(path)
    if len(raw) > limit:
        raise _fail(path, "file", f"larger than the {limit // (1024 * 1024)} MiB limit")
    if not raw.strip():
        raise _fail(path, "file", "is empty")
    nul = raw.find(b"\x00")
    if nul >= 0:
        utf16 = ("; it starts with a UTF-16 byte order mark: save it as UTF-8 (in Excel: "
                 "'CSV UTF-8 (Comma delimited)')"
                 if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "")
        raise _fail(path, "file", f"binary data, not text (NUL byte at byte offset {nul})"
                                  f"{utf16}")
    skip = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    try:
        return raw[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skip               # in the file, byte order mark included
        if path.suffix.lower() == ".csv":    # said in the CSV's terms: row, column, Excel
            from hhu_sync.model.meterlist import csv_not_utf8

            raise ModelError([csv_not_utf8(raw, offset, str(path))]) from None
        line = raw[:offset].count(b"\n") + 1
        raise _fail(path, "file", f"not UTF-8 text (byte 0x{raw[offset]:02x} at byte "
                                  f"offset {offset}); save the file as UTF-8", line) from None


def loads(text: str, before_tomli: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Parse TOML text; raises the reference parser's (tomli's) error.

    rtoml parses first, for speed (thousands of outbox files at once). It agrees with
    tomli on what both accept (``tests/property/test_toml_parsers.py`` checks that); it
    also refuses a few documents tomli takes (a float too large, which tomli reads as
    inf). Whatever rtoml refuses is therefore parsed again by tomli: tomli decides, and
    every error message is tomli's, with its line and column. rtoml refuses deep nesting
    itself; ``before_tomli`` (the nesting guard) runs only when tomli is to parse.
    """
    if _fast is not None and not text.startswith("\ufeff"):   # tomli refuses a BOM
        try:
            data: dict[str, Any] = _fast.loads(text)
            return data
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001 - any refusal (a Rust panic is a
            pass               # BaseException): the reference parser decides
    if before_tomli is not None:
        before_tomli(text)
    return _toml.loads(text)


_NEST_TOKENS = re.compile(r'"""|\'\'\'|["\'#\[\]{}.=,\n]')


def check_nesting(text: str, path: Path, limit: int = MAX_NESTING) -> None:
    """ModelError for TOML nested deeper than ``limit``, before any parser sees it.

    tomli parses nesting by recursion: a file of 1,000 ``[`` (or ``{a=``, or a key of
    1,000 dotted parts) is a RecursionError, which is no message for a person and,
    unguarded, a crash of whoever parses it. Counts brackets and dotted-key parts outside
    strings and comments; the limit is far beyond any scheme or meter list.
    """
    depth = 0
    carried: list[int] = []     # dotted parts of the keys each open bracket sits under
    dots = 0
    pos, end = 0, len(text)
    while pos < end:
        match = _NEST_TOKENS.search(text, pos)
        if match is None:
            return
        tok, pos = match.group(), match.end()
        if tok in ('"""', "'''", '"', "'"):
            pos = _string_end(text, pos, tok)
        elif tok == "#":
            nl = text.find("\n", pos)
            pos = end if nl < 0 else nl
        elif tok in "[{":
            carried.append(dots)
            depth += 1
            dots = 0
        elif tok in "]}":
            dots = 0
            if carried:
                carried.pop()
                depth -= 1
        elif tok == ".":
            dots += 1
        else:                    # = , newline: a new key or value begins
            dots = 0
        if depth + dots + sum(carried) > limit:
            line = text.count("\n", 0, match.start()) + 1
            raise _fail(path, "toml", f"nested more than {limit} deep (arrays, inline "
                                      "tables or dotted keys); not read further", line)


def _string_end(text: str, pos: int, quote: str) -> int:
    """Where the string opened by ``quote`` just before ``pos`` ends (its closing quote
    passed), or the end of the text."""
    basic = quote[0] == '"'
    while True:
        close = text.find(quote, pos)
        if close < 0:
            return len(text)
        if len(quote) == 1:
            nl = text.find("\n", pos, close)
            if nl >= 0:          # unterminated on its line: the parser will say so
                return nl
        if basic:
            backslashes = len(text[pos:close]) - len(text[pos:close].rstrip("\\"))
            if backslashes % 2:  # an escaped quote: look further
                pos = close + 1
                continue
        return close + len(quote)


def parse_toml(text: str, path: Path) -> tuple[dict[str, Any], TomlLines]:
    try:
        data = loads(text, lambda t: check_nesting(t, path))
    except RecursionError:
        raise _fail(path, "toml", "nested too deep; not read further") from None
    except _toml.TOMLDecodeError as exc:
        message = str(exc)
        line = None
        if "(at line " in message:
            try:
                line = int(message.rsplit("(at line ", 1)[1].split(",")[0])
            except ValueError:
                line = None
            message = message.split(" (at line ")[0]
        raise _fail(path, "toml", f"not valid TOML: {message}", line) from None
    return data, locate_lines(text)


def locate_lines(text: str) -> TomlLines:
    """Field path → line of the key's (or array element's) own line, for problems.

    Inside arrays of tables and inline tables too (see :mod:`hhu_sync.model.toml_lines`),
    so a bad value is reported at its own line, not at the line of the array holding it.
    """
    return TomlLines(text)


def load_toml(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Any]:
    """Parsed TOML and a ``locate(field) -> line`` function for messages."""
    path = Path(path)
    data, locator = parse_toml(read_text(path), path)
    return data, locator.line
