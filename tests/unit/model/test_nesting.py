"""Issue 12, point 6: TOML nested 1,000 deep is a clean error, never a RecursionError."""

from __future__ import annotations

from pathlib import Path

import pytest

from hhu_sync.cli import main
from hhu_sync.model import loader
from hhu_sync.model.loader import MAX_NESTING, check_nesting, parse_toml
from hhu_sync.model.problems import ModelError

DEEP = {
    "arrays": "x = " + "[" * 1000 + "]" * 1000,
    "inline tables": "x = " + "{a=" * 1000 + "1" + "}" * 1000,
    "dotted key": "a" + ".a" * 1000 + " = 1",
    "dotted header": "[a" + ".a" * 1000 + "]",
    "mixed": "x = " + "[{a.b.c=" * 300 + "1" + "}]" * 300,
}


@pytest.mark.parametrize("fast", [True, False], ids=["rtoml-then-tomli", "tomli-alone"])
@pytest.mark.parametrize("kind", sorted(DEEP))
def test_deep_nesting_is_a_model_error_naming_the_file(kind, fast, monkeypatch):
    if not fast:
        monkeypatch.setattr(loader, "_fast", None)
    with pytest.raises(ModelError) as err:
        parse_toml(DEEP[kind] + "\n", Path("deep.toml"))
    assert str(err.value).startswith("deep.toml:1: toml: nested")


def test_brackets_in_strings_and_comments_do_not_count():
    text = ('a = "' + "[" * 500 + '"\nb = \'' + "{" * 500 + "'\n# " + "[" * 500 + "\n"
            'c = """\n' + "[" * 500 + '\n"""\n' + "d = '''" + "[" * 500 + "'''\n"
            'e = "quote \\" ' + "[" * 500 + '"\n')
    check_nesting(text, Path("ok.toml"))
    assert parse_toml(text, Path("ok.toml"))[0]["e"].startswith('quote " [')


def test_nesting_up_to_the_limit_is_accepted():
    depth = MAX_NESTING - 1
    text = "x = " + "[" * depth + "1" + "]" * depth + "\n"
    check_nesting(text, Path("ok.toml"))


def test_validate_prints_a_clean_error_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "deep.toml"
    path.write_text(DEEP["arrays"] + "\n")
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code != 0 and "Traceback" not in out + err
    assert f"{path}:1: toml: nested more than {MAX_NESTING} deep" in out + err


def test_validate_of_a_fifo_refuses_it_without_blocking(tmp_path, capsys):
    """Issue 12, point 7, on the command line: every open of an input is non-blocking."""
    import os

    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    code = main(["validate", str(fifo)])       # blocked for ever before
    out, err = capsys.readouterr()
    assert code != 0 and f"{fifo}: file: not a regular file" in out + err


def test_a_panic_in_the_fast_parser_is_left_to_tomli(monkeypatch):
    """A Rust panic reaches Python as a BaseException, which no ``except Exception``
    stops: it must not end whoever parses (the daemon); tomli decides instead."""

    class PanicException(BaseException):
        pass

    class Panicking:
        @staticmethod
        def loads(text):
            raise PanicException("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr(loader, "_fast", Panicking)
    assert parse_toml("a = 1\n", Path("x.toml"))[0] == {"a": 1}
