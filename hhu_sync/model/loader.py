"""Reading input files safely: bounded size, strict UTF-8, clear one-line errors.

Every problem becomes a :class:`Problem` naming the file (and the byte offset or line
where that is known); nothing here lets a traceback reach the person at the terminal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hhu_sync.model.problems import ModelError, Problem
from hhu_sync.model.toml_lines import TomlLines

try:  # the standard library's tomllib, compiled with mypyc: the same parser, ~3x faster
    import tomli as _toml
except ImportError:  # pragma: no cover - tomli is a dependency; tomllib is its fallback
    import tomllib as _toml

try:  # five times faster again than tomli; used only for what it accepts (see parse_toml)
    import rtoml as _fast
except ImportError:  # pragma: no cover - a platform without its wheel: tomli alone
    _fast = None

MAX_INPUT_BYTES = 4 * 1024 * 1024


def _fail(path: Path, field: str, message: str, line: int | None = None) -> ModelError:
    return ModelError([Problem(str(path), line, field, message)])


def read_text(path: str | os.PathLike[str], limit: int = MAX_INPUT_BYTES) -> str:
    """The file's text, or ModelError: missing, too large, empty, binary, not UTF-8."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
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


def loads(text: str) -> dict[str, Any]:
    """Parse TOML text; raises the reference parser's (tomli's) error.

    rtoml parses first, for speed (thousands of outbox files at once). It agrees with
    tomli on what both accept (``tests/property/test_toml_parsers.py`` checks that); it
    also refuses a few documents tomli takes (a float too large, which tomli reads as
    inf). Whatever rtoml refuses is therefore parsed again by tomli: tomli decides, and
    every error message is tomli's, with its line and column.
    """
    if _fast is not None and not text.startswith("\ufeff"):   # tomli refuses a BOM
        try:
            return _fast.loads(text)
        except Exception:  # noqa: BLE001 - any refusal: the reference parser decides
            pass
    return _toml.loads(text)


def parse_toml(text: str, path: Path) -> tuple[dict[str, Any], TomlLines]:
    try:
        data = loads(text)
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
