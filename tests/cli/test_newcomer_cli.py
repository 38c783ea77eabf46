"""What trips a new user of the command line: tables that break words, a forgotten
``--config`` that shows (or changes) the wrong database, a typo'd list id, help texts
that say nothing.

The depot is the one of ``test_status_cli`` (built through the store's own calls).
"""

from __future__ import annotations

import argparse
import json
import re

import pytest

from hhu_sync.cli import build_parser, main, status_cmd
from tests.cli.test_status_cli import LIST, depot  # noqa: F401  (the fixture)


@pytest.fixture
def shop(request):
    """test_status_cli's depot (imported above, so that pytest finds it)."""
    return request.getfixturevalue("depot")


def status_text(capsys, monkeypatch, cfg, width: int) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["status", "--config", str(cfg)]) == 0
    return capsys.readouterr().out


# -- tables for people ----------------------------------------------------------------------


@pytest.mark.parametrize("width", [68, 69, 70, 72, 80])
def test_a_table_that_can_hold_its_words_breaks_none_of_them(shop, capsys, monkeypatch,
                                                              width):
    # 68 to 70 columns: the handhelds table is narrower than its natural width, but each
    # column can hold its longest word; rich alone shrank the widest columns and broke
    # "crew-north" and "cradle-1" although the battery column had room to spare.
    cfg, _ = shop
    out = status_text(capsys, monkeypatch, cfg, width)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width
    table = next(n for n, line in enumerate(lines) if line.startswith("handhelds"))
    assert "┃ HHU" in lines[table + 2] or "┃ HHU" in lines[table + 3]   # shown as a table
    for whole in ("crew-north", "crew-south", "cradle-1", "cradle-2", "67.1 MB", "1.5 kB",
                  "12% low", "docked now", "15 min ago"):
        assert whole in out, f"{whole!r} broken across lines at {width} columns"


def test_widths_give_every_column_its_longest_word_and_share_out_the_rest():
    columns = ["HHU", "crew", "note"]
    cells = [["HHU-001", "crew-north", "a long note that may wrap over several lines"]]
    widths = status_cmd.column_widths(columns, cells, 1 + 3 * 3 + 7 + 10 + 12)
    assert widths is not None and widths[:2] == [7, 10] and sum(widths) == 29
    assert status_cmd.column_widths(columns, cells, 1 + 3 * 3 + 7 + 10 + 4) is None   # "several": 7
    natural = status_cmd.column_widths(columns, cells, 200)
    assert natural == [7, 10, len(cells[0][2])]


def test_a_short_cell_keeps_its_number_with_its_unit():
    cells = [["x", "67.1 MB", "15 min ago"]]
    widths = status_cmd.column_widths(["a", "size", "seen"], cells, 1 + 9 + 1 + 7 + 10)
    assert widths == [1, 7, 10]
    assert status_cmd.column_widths(["a", "size", "seen"], cells, 1 + 9 + 1 + 7 + 9) is None


def test_a_port_url_is_shown_without_its_options_which_json_keeps(shop, capsys,
                                                                  monkeypatch):
    cfg, _ = shop
    out = status_text(capsys, monkeypatch, cfg, 200)
    assert "socket://127.0.0.1:10?…" in out and "a-very-long-option" not in out
    monkeypatch.delenv("COLUMNS")
    assert main(["status", "--json", "--config", str(cfg)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert "a-very-long-option=" + "x" * 120 in status["docks"][1]["port"]


# -- which database ------------------------------------------------------------------------


def test_status_names_the_database_it_shows_and_where_its_path_came_from(shop, capsys,
                                                                        monkeypatch):
    cfg, config = shop
    out = status_text(capsys, monkeypatch, cfg, 200)
    assert out.splitlines()[0] == (f"database {config.paths.database.absolute()} "
                                   f"(from {cfg})")
    assert main(["status", "--json", "--config", str(cfg)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["database"] == str(config.paths.database.absolute())
    assert status["config"] == str(cfg)


def test_a_forgotten_config_is_named_when_the_default_database_exists(shop, capsys,
                                                                     monkeypatch):
    # `hhu-sync scheme add` (no --config) makes var/hhu-sync.db: then `cancel LIST`
    # without --config finds a database, but not the demo's.
    cfg, config = shop
    monkeypatch.chdir(cfg.parent)
    monkeypatch.delenv("HHU_SYNC_CONFIG", raising=False)
    cfg.rename(cfg.parent / "elsewhere.toml")     # the same database, as the default
    for args in (["cancel", LIST + "x"], ["requeue", "route-east"]):
        assert main(args) == 1
        err = capsys.readouterr().err
        assert str(config.paths.database.absolute()) in err
        assert "no --config given" in err and "--config config/demo.toml" in err
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["status"]) == 0
    assert "no --config given" in capsys.readouterr().out.splitlines()[0]


def test_a_typo_in_a_list_id_gets_the_nearest_id_held(shop, capsys):
    cfg, _ = shop
    assert main(["requeue", "route-nort-2026-11", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert err.rstrip().endswith(f"did you mean {LIST!r}?")
    assert main(["cancel", "zzz", "--config", str(cfg)]) == 1
    assert "did you mean" not in capsys.readouterr().err


def test_an_export_of_nothing_says_which_database_held_nothing(shop, capsys, tmp_path):
    cfg, config = shop
    out = tmp_path / "r.csv"
    assert main(["export", "--config", str(cfg), "--since", "2099-01-01T00:00Z",
                 "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "exported 0 readings" in captured.out
    assert str(config.paths.database.absolute()) in captured.err
    assert "since 2099-01-01T00:00:00+00:00" in captured.err


# -- help ----------------------------------------------------------------------------------


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    out = []

    def walk(name: str, parser: argparse.ArgumentParser) -> None:
        out.append((name, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child, sub in action.choices.items():
                    walk(f"{name} {child}", sub)

    walk("hhu-sync", build_parser())
    return out


@pytest.mark.parametrize("name", [n for n, _ in _parsers()])
def test_every_command_says_what_it_does_and_every_argument_what_it_is(name):
    parser = dict(_parsers())[name]
    assert parser.description, f"`{name} --help` has no description"
    assert "``" not in parser.description and not parser.description.startswith("`"), \
        f"`{name} --help` shows reStructuredText: {parser.description[:60]!r}"
    silent = [a.dest for a in parser._actions
              if not a.help and not isinstance(a, argparse._SubParsersAction)]
    assert silent == [], f"`{name} --help`: no help for {silent}"


def test_every_command_of_the_readme_exists_and_every_command_is_in_the_readme():
    from tests.integration.test_readme_tour import README

    text = README.read_text()
    names = {n.split(" ", 1)[1] for n, _ in _parsers() if " " in n}
    said = set(re.findall(r"hhu-sync ((?:[a-z]+)(?: (?:add|list|set|read|program|clock))?)",
                          text))
    tops = {n for n in names if " " not in n}
    assert sorted(tops - {s.split()[0] for s in said}) == [], "commands the README never shows"
    unknown = sorted(s for s in said if s.split()[0] in tops and " " in s
                     and s not in names and s.split()[0] in {"scheme", "secret", "meter"})
    assert unknown == []


def test_help_tells_the_exit_codes_the_readme_tells(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "exit codes: 0 success; 1 invalid input" in out and "2 wrong usage" in out
    assert "3 run --once left deliveries" in out


# -- the key store --------------------------------------------------------------------------


def test_a_secret_with_nothing_on_standard_input_says_how_to_give_it(tmp_path, capsys,
                                                                    monkeypatch):
    import io

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HHU_SYNC_CONFIG", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["secret", "set", "a1700-level3"]) == 1
    err = capsys.readouterr().err
    assert "nothing read from standard input" in err
    assert "echo 'VALUE' | hhu-sync secret set a1700-level3" in err


def test_an_empty_secret_list_says_where_it_looked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HHU_SYNC_CONFIG", raising=False)
    assert main(["secret", "list"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""                      # nothing for a script to mistake
    assert f"no secrets in {tmp_path / 'var' / 'keystore' / 'secrets'}" in captured.err


def test_revoke_without_a_database_says_nothing_was_queued_and_creates_none(
        tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HHU_SYNC_CONFIG", raising=False)
    assert main(["enroll", "HHU-009"]) == 0
    assert main(["revoke", "HHU-009"]) == 0
    out = capsys.readouterr().out
    assert f"no database at {tmp_path / 'var' / 'hhu-sync.db'}" in out
    assert "nothing was queued for HHU-009" in out
    assert not (tmp_path / "var" / "hhu-sync.db").exists()


def test_revoke_with_a_broken_database_is_one_line_not_a_traceback(tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HHU_SYNC_CONFIG", raising=False)
    assert main(["enroll", "HHU-009"]) == 0
    (tmp_path / "var" / "hhu-sync.db").write_bytes(b"not a database" * 100)
    assert main(["revoke", "HHU-009"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"hhu-sync: database {tmp_path / 'var' / 'hhu-sync.db'}: ")
    assert len(err.splitlines()) == 1


# -- numbers for people ---------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "shown"), [
    (0, "0 s"), (12.4, "12 s"), (-75, "1 min 15 s"), (2670, "44 min 30 s"),
    (86400, "1 day"), (2_669_854, "30 days 21 h")])
def test_a_clock_drift_reads_in_its_two_largest_units(seconds, shown):
    # `meter clock` said "2669854 s slow" of a meter a month behind.
    from hhu_sync.cli.humanize import duration

    assert duration(seconds) == shown


def test_a_database_named_through_a_relative_config_is_shown_without_dot_dot(
        shop, capsys, monkeypatch):
    cfg, config = shop
    (cfg.parent / "schemes").mkdir()
    monkeypatch.chdir(cfg.parent / "schemes")
    relative = f"../{cfg.name}"
    assert main(["cancel", "route-east", "--config", relative]) == 1
    err = capsys.readouterr().err
    assert f"the database {config.paths.database} (from {relative};" in err
    assert "/../" not in err.split("(from")[0]
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["status", "--config", relative]) == 0
    assert capsys.readouterr().out.startswith(f"database {config.paths.database} (from")


def test_validate_of_a_folder_without_schemes_or_lists_is_not_ok(tmp_path, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("# not a scheme\n")
    assert main(["validate", str(tmp_path / "docs")]) == 1
    err = capsys.readouterr().err
    assert f"nothing to validate in {tmp_path / 'docs'}" in err and "ok:" not in err
