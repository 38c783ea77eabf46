"""Load and check a set of input files (schemes and meter lists) together.

A meter list names schemes by id, so the set is checked as a whole: schemes first,
then every list against the schemes found. Used by ``hhu-sync validate``, ``pack`` and
the outbox watcher, so all three agree on what is valid.
"""

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hhu_sync.model.catalog import Catalog
from hhu_sync.model.loader import decode_text, parse_toml, read_text
from hhu_sync.model.meterlist import MeterList, parse_meter_list_csv, parse_meter_list_toml
from hhu_sync.model.problems import ModelError, Problem
from hhu_sync.model.scheme import Scheme, parse_scheme

SUFFIXES = (".toml", ".csv")


def is_candidate(path: Path) -> bool:
    """A file a folder scan should read: not hidden, not a temp file, a known suffix."""
    return is_candidate_name(path.name)


def is_candidate_name(name: str) -> bool:
    """:func:`is_candidate` on a bare file name."""
    return is_outbox_name(name) and os.path.splitext(name)[1].lower() in SUFFIXES


TEMPORARY = (".tmp", ".part", "~")   # a file still being written under a name of its own


def is_outbox_name(name: str) -> bool:
    """A name the outbox handles, whatever its type (an unknown type is refused with a
    reason, not ignored): all but dot-files and temporaries (``*.tmp``, ``*.part``,
    ``*~``). A ``*.reason.txt`` is handled too: hhu-sync writes those only in
    rejected/, never in the outbox, so one there is back office's, to be refused with a
    reason rather than left unexplained for good."""
    return not name.startswith(".") and not name.endswith(TEMPORARY)


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named directly (whatever their suffix) and candidate files under folders."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and is_candidate(p)
                          and not any(part.startswith(".") for part in p.relative_to(path).parts))
        else:
            out.append(path)
    return out


@dataclass
class InputSet:
    schemes: dict[str, Scheme] = field(default_factory=dict)
    scheme_files: dict[str, Path] = field(default_factory=dict)
    lists: dict[str, MeterList] = field(default_factory=dict)
    list_files: dict[str, Path] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


Locate = Callable[[str], int | None]


def _classify(path: Path, raw: bytes | None = None
              ) -> tuple[str, dict[str, Any] | str, Locate | None]:
    """('scheme'|'list'|'csv', parsed data or text, locate) or raise ModelError."""
    if path.suffix.lower() not in SUFFIXES:
        raise ModelError([Problem(str(path), None, "file",
                                  "not a scheme or meter list (expected a .toml or .csv file)")])
    text = read_text(path) if raw is None else decode_text(raw, path)
    if path.suffix.lower() == ".csv":
        return "csv", text, None
    data, locator = parse_toml(text, path)
    if "scheme" in data:
        return "scheme", data, locator.line
    if "list" in data:
        return "list", data, locator.line
    raise ModelError([Problem(str(path), 1, "file",
                              "neither a scheme ([scheme] table) nor a meter list ([list] table)")])


def load_inputs(paths: Iterable[str | os.PathLike[str]], catalog: Catalog,
                known_schemes: Mapping[str, Scheme] | None = None,
                contents: Mapping[Path, bytes] | None = None) -> InputSet:
    """Check every file; problems are collected, never raised.

    ``contents`` holds files the caller has already read (the outbox hashes each file
    first), so each is read once and the checked bytes are the hashed bytes.
    """
    contents = contents or {}
    result = InputSet()
    pending_lists: list[tuple[Path, str, dict[str, Any] | str, Locate | None]] = []
    for path in expand_paths(paths):
        try:
            kind, data, locate = _classify(path, contents.get(path))
            if kind == "scheme" and isinstance(data, dict):   # a scheme is always a table
                scheme = parse_scheme(data, str(path), catalog, locate)
                if scheme.id in result.schemes:
                    result.problems.append(Problem(
                        str(path), locate("scheme.id") if locate else None, "scheme.id",
                        f"scheme id {scheme.id!r} is also defined in "
                        f"{result.scheme_files[scheme.id]}"))
                    continue
                result.schemes[scheme.id] = scheme
                result.scheme_files[scheme.id] = path
            else:
                pending_lists.append((path, kind, data, locate))
        except ModelError as exc:
            result.problems += exc.problems
    # Lazy, and never asked for its size: a library in the database would count its rows
    # for every file. (ChainMap only reads the maps after its first; typeshed asks every one
    # to be mutable.)
    schemes = ChainMap(result.schemes,
                       {} if known_schemes is None else known_schemes)  # type: ignore[arg-type]
    for path, _kind, data, locate in pending_lists:
        try:
            if isinstance(data, str):   # kind "csv": the text, not a table
                mlist = parse_meter_list_csv(data, str(path), catalog, schemes)
            else:
                mlist = parse_meter_list_toml(data, str(path), catalog, schemes, locate)
        except ModelError as exc:
            result.problems += exc.problems
            continue
        if mlist.id in result.lists:
            result.problems.append(Problem(str(path), None, "list.id",
                                           f"meter list id {mlist.id!r} is also defined in "
                                           f"{result.list_files[mlist.id]}"))
            continue
        result.lists[mlist.id] = mlist
        result.list_files[mlist.id] = path
    return result
