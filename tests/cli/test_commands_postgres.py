"""The commands on a PostgreSQL store (``[store] url``): each opens it by its URL, and
names it (never a password) when something is not there."""

from __future__ import annotations

import io
import json

import pytest

from hhu_sync.cli import main
from tests.conftest import EXAMPLES
from tests.pg_server import pg_database

__all__ = ["pg_database"]      # the fixture, used by name


@pytest.fixture
def config(tmp_path, pg_database):
    path = tmp_path / "hhu-sync.toml"
    path.write_text(f'[store]\nurl = "{pg_database}"\n')
    return path


def _run(config, *args: str) -> int:
    return main([*args, "--config", str(config)])


def test_scheme_user_export_and_requeue_use_the_postgresql_store(config, pg_database,
                                                                capsys, monkeypatch,
                                                                tmp_path):
    assert _run(config, "scheme", "add", str(EXAMPLES / "a1700-ci-tou.toml")) == 0
    assert "taken into the library" in capsys.readouterr().out
    assert _run(config, "scheme", "list", "--json") == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == ["a1700-ci-tou-2026"]
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough passphrase 1\n"))
    assert _run(config, "user", "add", "otto", "--role", "office") == 0
    capsys.readouterr()
    assert _run(config, "user", "list") == 0
    assert "otto\toffice\tenabled" in capsys.readouterr().out
    assert _run(config, "export", "-o", str(tmp_path / "r.csv")) == 0
    assert f"the database {pg_database} " in capsys.readouterr().err   # holds no readings
    assert _run(config, "requeue", "no-such-list") == 1
    assert f"no meter list 'no-such-list' in the database {pg_database} " in \
        capsys.readouterr().err
    assert not (tmp_path / "var" / "hhu-sync.db").exists()
