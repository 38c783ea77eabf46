"""Helpers shared by the command modules: configuration, catalog, key files, database."""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

from hhu_sync.config import Config, ConfigSource, load_config, store_url
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


def cli_actor() -> str:
    """Who the audit log names for a change made from the command line."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = str(os.getuid())
    return f"cli:{who}"


def read_key(path: str | Path) -> bytes:
    try:
        return load_key_file(path)
    except KeyStoreError as exc:
        raise CliError(str(exc)) from None


def database_of(config: Config) -> str:
    """The daemon's store, as messages name it, which must exist already.

    A command that only reads or changes the queue must never create an empty database
    (then say "no meter list" about the wrong file): the message names the path it
    looked at and which configuration gave it, since a forgotten ``--config`` is the
    usual cause. A PostgreSQL store is the server's to find (its URL, no password).
    """
    if not store_exists(config):
        raise CliError(f"no database at {shown(config.paths.database)} "
                       f"({config_source(config)}); has the daemon run?")
    return store_name(config)


def store_exists(config: Config) -> bool:
    """Whether the configured store is there to read: the SQLite file exists; a
    PostgreSQL server is asked when the store is opened (so: True)."""
    return not is_sqlite(config) or config.paths.database.exists()


def is_sqlite(config: Config) -> bool:
    return store_url(config).startswith("sqlite://")


def store_name(config: Config) -> str:
    """The configured store as messages show it: the SQLite file's absolute path, or
    the PostgreSQL URL without a password."""
    if is_sqlite(config):
        return shown(config.paths.database)
    from hhu_sync.store.opening import shown_store
    return shown_store(store_url(config))


def shown(path: Path) -> str:
    """A path for a message: absolute and without ``..`` (the configuration's folder is
    often given relative, ``--config ../config/demo.toml``)."""
    return os.path.abspath(path)


_CHOSEN_BY = {ConfigSource.ENVIRONMENT: ", named by $HHU_SYNC_CONFIG",
              ConfigSource.CURRENT_FOLDER: ", found in the current folder"}


def config_source(config: Config) -> str:
    """Where the configuration (and so the database's path) came from, for a message:
    a forgotten ``--config`` is a newcomer's usual mistake, so the default says so."""
    if config.file is not None:
        return f"from {config.file}{_CHOSEN_BY.get(config.source, '')}"
    return ("the default; no --config given, $HHU_SYNC_CONFIG unset and no ./hhu-sync.toml "
            "(the demo's: --config config/demo.toml)")


def store_of(config: Config, *, create: bool = False, unavailable: bool = False):
    """The daemon's store opened, or one line naming it: missing, not a database,
    another schema version, unreadable, a server that does not answer (never a
    traceback). ``create``: made if missing (the first user of a new depot, say).
    ``unavailable``: a store that does not answer is raised as it is
    (:class:`~hhu_sync.store.StorageUnavailable`), for a caller with more to say."""
    from hhu_sync.store import StorageUnavailable, StoreError, open_store

    name = store_name(config) if create else database_of(config)
    try:
        return open_store(store_url(config), depot=config.depot_id)
    except StorageUnavailable as exc:
        if unavailable:
            raise
        raise CliError(store_refused(config, name, exc)) from None
    except (StoreError, OSError) as exc:
        raise CliError(store_refused(config, name, exc)) from None


def store_refused(config: Config, name: str, exc: BaseException) -> str:
    """One line for a store that could not be opened (a PostgreSQL error names its
    server already: not twice)."""
    text = str(exc)
    if not is_sqlite(config) and text.startswith(name):
        return f"database {text}"
    return f"database {name}: {text}"
