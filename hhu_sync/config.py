"""Configuration: one TOML file, every key checked, relative paths anchored to the file.

A bad configuration stops the command with one line naming the file and the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hhu_sync.errors import CliError
from hhu_sync.model.catalog import default_catalog_path
from hhu_sync.model.fields import Fields
from hhu_sync.model.loader import load_toml
from hhu_sync.model.problems import ModelError

PATH_KEYS = ("outbox", "archive", "rejected", "exports", "database", "keystore", "catalog")
_DEFAULTS = {
    "outbox": "var/outbox", "archive": "var/archive", "rejected": "var/rejected",
    "exports": "var/exports", "database": "var/hhu-sync.db", "keystore": "var/keystore",
}


@dataclass(frozen=True)
class Paths:
    outbox: Path
    archive: Path
    rejected: Path
    exports: Path
    database: Path
    keystore: Path
    catalog: Path


@dataclass(frozen=True)
class Config:
    file: Path | None
    depot_id: str
    paths: Paths


def _paths(table: dict[str, Any], base: Path, f: Fields) -> Paths:
    f.unknown(table, "paths", PATH_KEYS)
    values: dict[str, Path] = {}
    for key in PATH_KEYS:
        raw = f.get(table, "paths", key, str, required=False)
        if raw is not None and not raw.strip():
            f.add(f"paths.{key}", "must not be empty")
            raw = None
        if raw is None:
            values[key] = (default_catalog_path() if key == "catalog"
                           else base / _DEFAULTS[key])
        else:
            path = Path(os.path.expanduser(raw))
            values[key] = path if path.is_absolute() else base / path
    return Paths(**values)


def parse_config(data: dict[str, Any], file: Path | None, locate=None) -> Config:
    f = Fields(str(file) if file else "<defaults>", locate)
    base = file.parent if file else Path.cwd()
    f.unknown(data, "", ("depot", "paths"))
    depot = f.get(data, "", "depot", dict, required=False, default={})
    f.unknown(depot, "depot", ("id",))
    depot_id = f.ident(depot, "depot", "id", required=False) or "depot"
    paths = _paths(f.get(data, "", "paths", dict, required=False, default={}), base, f)
    if f.problems:
        raise ModelError(f.problems)
    return Config(file=file, depot_id=depot_id, paths=paths)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """The named file, else $HHU_SYNC_CONFIG, else ./hhu-sync.toml, else defaults."""
    if path is None:
        path = os.environ.get("HHU_SYNC_CONFIG") or None
        if path is None and Path("hhu-sync.toml").is_file():
            path = "hhu-sync.toml"
    try:
        if path is None:
            return parse_config({}, None)
        file = Path(path)
        data, locate = load_toml(file)
        return parse_config(data, file, locate)
    except ModelError as exc:
        raise CliError(f"configuration: {exc.problems[0]}"
                       + (f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1
                          else "")) from None
