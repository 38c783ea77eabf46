"""`hhu-sync scheme add|list`: the library by hand, held to the same rules as the outbox."""

from __future__ import annotations

import json

import pytest

from hhu_sync.cli import main
from tests.conftest import EXAMPLES


@pytest.fixture
def depot(tmp_path, monkeypatch, capsys):
    (tmp_path / "hhu-sync.toml").write_text("[depot]\nid = 'DEPOT-N'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HHU_SYNC_CONFIG", raising=False)
    return tmp_path


def _scheme_file(folder, version: int, name: str = "tou"):
    text = (EXAMPLES / "a1700-ci-tou.toml").read_text()
    path = folder / f"{name}-v{version}.toml"
    path.write_text(text.replace("version = 3", f"version = {version}", 1))
    return path


def _listed(capsys) -> dict[str, dict]:
    capsys.readouterr()
    assert main(["scheme", "list", "--json"]) == 0
    return {e["id"]: e for e in json.loads(capsys.readouterr().out)}


def test_add_then_list(depot, capsys):
    assert main(["scheme", "add", str(EXAMPLES / "a1700-ci-tou.toml"),
                 str(EXAMPLES / "as230-flat.toml")]) == 0
    held = _listed(capsys)
    assert held["a1700-ci-tou-2026"]["version"] == 3
    assert held["a1700-ci-tou-2026"]["model"] == "A1700"
    assert held["a1700-ci-tou-2026"]["from"] == "a1700-ci-tou.toml"
    assert held["a1700-ci-tou-2026"]["received"]
    assert main(["scheme", "list"]) == 0
    assert "a1700-ci-tou-2026" in capsys.readouterr().out


def test_an_older_version_is_refused_unless_forced(depot, capsys):
    assert main(["scheme", "add", str(_scheme_file(depot, 5))]) == 0
    capsys.readouterr()
    assert main(["scheme", "add", str(_scheme_file(depot, 3))]) == 1
    err = capsys.readouterr().err
    assert "version 3 is older than version 5" in err and "tou-v5.toml" in err
    assert _listed(capsys)["a1700-ci-tou-2026"]["version"] == 5
    assert main(["scheme", "add", str(_scheme_file(depot, 3)), "--force"]) == 0
    assert _listed(capsys)["a1700-ci-tou-2026"]["version"] == 3


def test_the_same_scheme_again_is_already_held(depot, capsys):
    path = _scheme_file(depot, 4)
    assert main(["scheme", "add", str(path)]) == 0
    capsys.readouterr()
    assert main(["scheme", "add", str(path)]) == 0
    assert "already held" in capsys.readouterr().out


def test_an_invalid_scheme_is_refused_with_its_problems(depot, capsys):
    bad = depot / "bad.toml"
    bad.write_text('[scheme]\nid = "x"\nmodel = "NOPE"\n')
    assert main(["scheme", "add", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.toml" in err and "NOPE" in err
    assert main(["scheme", "add", str(EXAMPLES / "route-north.toml")]) == 1
    assert "not a scheme" in capsys.readouterr().err


@pytest.mark.parametrize("width", [60, 200])
def test_the_list_fits_the_terminal_and_names_every_column(depot, capsys, monkeypatch,
                                                           width):
    assert main(["scheme", "add", str(EXAMPLES / "a1700-ci-tou.toml"),
                 str(EXAMPLES / "as230-flat.toml")]) == 0
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["scheme", "list"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= width
    for whole in ("a1700-ci-tou-2026", "A1700", "from file", "received", "just now",
                  "a1700-ci-tou.toml"):
        assert whole in out, f"{whole!r} broken at {width} columns:\n{out}"
    if width >= 80:      # a table, its header naming the file column
        header = next(line for line in out.splitlines() if "version" in line)
        assert "from file" in header
    else:                # too narrow for five columns: one record a line, each value named
        assert out.count("from file a1") == 1 and out.count("from file as230") == 1


@pytest.fixture
def no_hang():
    """A read that blocks fails the test instead of hanging the suite."""
    import signal

    def _hung(*_):
        raise TimeoutError("blocked on a read")
    old = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_a_fifo_or_a_device_is_refused_unread(depot, capsys, no_hang):
    import os

    fifo = depot / "pipe.toml"
    os.mkfifo(fifo)
    assert main(["scheme", "add", str(fifo), "/dev/zero"]) == 1
    err = capsys.readouterr().err
    assert f"{fifo}: not a regular file" in err
    assert "/dev/zero: not a regular file" in err


def test_a_file_name_with_control_characters_stays_one_visible_line(depot, capsys):
    path = _scheme_file(depot, 4, name="tou\x1b[2J\nforged")
    assert main(["scheme", "add", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and out.count("\n") == 1
    assert "tou\\x1b[2J\\nforged-v4.toml" in out
    bad = depot / "bad\x1b]0;x\x07.toml"
    bad.write_text('[scheme]\nid = "x"\nmodel = "NOPE"\n')
    assert main(["scheme", "add", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "NOPE" in err
