"""What the store tests share: an empty store in a fresh folder, closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hhu_sync.store import SqliteStore


@pytest.fixture
def store(tmp_path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "db.sqlite")
    yield s
    s.close()
