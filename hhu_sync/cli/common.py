"""Helpers shared by the command modules: configuration, catalog, key files."""

from __future__ import annotations

import argparse
from pathlib import Path

from hhu_sync.config import Config, load_config
from hhu_sync.errors import CliError, KeyStoreError
from hhu_sync.keys import KeyStore, load_key_file
from hhu_sync.model.catalog import Catalog, load_catalog
from hhu_sync.model.problems import ModelError


def config_of(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None))


def catalog_of(config: Config) -> Catalog:
    try:
        return load_catalog(config.paths.catalog)
    except ModelError as exc:
        raise CliError(f"meter model catalog: {exc.problems[0]}") from None


def keystore_of(args: argparse.Namespace, config: Config) -> KeyStore:
    root = getattr(args, "keystore", None)
    return KeyStore(Path(root) if root else config.paths.keystore)


def read_key(path: str | Path) -> bytes:
    try:
        return load_key_file(path)
    except KeyStoreError as exc:
        raise CliError(str(exc)) from None
