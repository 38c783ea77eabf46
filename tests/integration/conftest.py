"""Fixtures for the link tests: one HHU's key, key file, flash folder and hhusim:// URL."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hhu_sync.keys import write_private_file

HHU = "HHU-001"


@pytest.fixture
def key() -> bytes:
    return hashlib.sha256(b"test key").digest()


@pytest.fixture
def key_file(tmp_path: Path, key: bytes) -> Path:
    path = tmp_path / f"{HHU}.key"
    write_private_file(path, key.hex().encode() + b"\n")
    return path


@pytest.fixture
def flash_dir(tmp_path: Path) -> Path:
    return tmp_path / "flash"


@pytest.fixture
def url(key_file: Path, flash_dir: Path):
    def make(**opts: object) -> str:
        extra = "".join(f"&{k}={v}" for k, v in opts.items())
        return f"hhusim://{HHU}?flash={flash_dir}&key={key_file}{extra}"
    return make
