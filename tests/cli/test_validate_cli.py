"""`hhu-sync validate`: exit codes and one clear line per bad input, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hhu_sync.cli import main
from tests.conftest import EXAMPLES, ROOT


def run(capsys, *args):
    code = main(["validate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_shipped_example_is_valid(capsys):
    code, out, _ = run(capsys, ROOT / "schemes")
    assert code == 0
    assert "ok: 3 schemes, 2 meter lists" in out


def test_a_problem_is_printed_as_file_line_field_message(capsys, tmp_path):
    bad = tmp_path / "s.toml"
    bad.write_text((EXAMPLES / "a1140-day-night.toml").read_text()
                   .replace("period_minutes = 30", "period_minutes = 45"))
    code, out, _ = run(capsys, bad)
    line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1)
                if text.startswith("period_minutes"))
    assert code == 1
    assert out.strip() == (f"{bad}:{line}: demand.period_minutes: 45 minutes is not a demand "
                           "period the A1140 takes (15, 30, 60)")


BAD_INPUTS = {
    "empty file": (b"", "file: is empty"),
    "binary garbage": (bytes(range(256)) * 4, "binary data, not text (NUL byte at byte offset 0)"),
    "wrong encoding": ("[scheme]\nname = \"Zähler\"\n".encode("latin-1"),
                       "not UTF-8 text (byte 0xe4 at byte offset 18)"),
    "not toml": (b"[scheme\nid = 1\n", "toml: not valid TOML"),
    "neither kind": (b"[fleet]\nid = 1\n", "neither a scheme ([scheme] table) nor a meter list"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_file_gives_one_clear_line_and_exit_1(capsys, tmp_path, case):
    content, message = BAD_INPUTS[case]
    path = tmp_path / "in.toml"
    path.write_bytes(content)
    code, out, _ = run(capsys, path)
    assert code == 1
    assert len(out.strip().splitlines()) == 1
    assert message in out and str(path) in out


def test_a_50_mb_file_is_refused_without_reading_it(capsys, tmp_path):
    path = tmp_path / "huge.toml"
    with open(path, "wb") as fh:
        fh.truncate(50 * 1000 * 1000)
    code, out, _ = run(capsys, path)
    assert code == 1
    assert "50.0 MB is larger than the 4 MiB limit" in out


def test_a_missing_file_is_named(capsys, tmp_path):
    code, out, _ = run(capsys, tmp_path / "nope.toml")
    assert code == 1 and f"{tmp_path / 'nope.toml'}: file: no such file" in out


def test_a_file_of_another_type_is_refused(capsys, tmp_path):
    path = tmp_path / "scheme.xlsx"
    path.write_bytes(b"PK")
    code, out, _ = run(capsys, path)
    assert code == 1 and "expected a .toml or .csv file" in out


def test_folders_skip_hidden_and_temporary_files(capsys, tmp_path):
    shutil.copy(EXAMPLES / "as230-flat.toml", tmp_path)
    (tmp_path / ".half-written.toml").write_bytes(b"\x00")
    (tmp_path / "x.toml.tmp").write_bytes(b"\x00")
    code, out, _ = run(capsys, tmp_path)
    assert code == 0 and "ok: 1 scheme," in out


def test_a_list_naming_a_scheme_found_elsewhere_is_valid_with_schemes_option(capsys, tmp_path):
    shutil.copy(EXAMPLES / "route-south.csv", tmp_path)
    code, out, _ = run(capsys, tmp_path)
    assert code == 1 and "unknown scheme id 'as230-flat'" in out
    code, _, _ = run(capsys, tmp_path, "--schemes", EXAMPLES)
    assert code == 0


def test_the_installed_command_prints_no_traceback(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\xff\xfe\x00garbage")
    command = Path(sys.executable).with_name("hhu-sync")
    proc = subprocess.run([str(command), "validate", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "binary data" in proc.stdout


def test_a_bad_configuration_names_the_key(capsys, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[paths]\noutbx = 'x'\n")
    code = main(["validate", "--config", str(cfg), str(EXAMPLES)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"configuration: {cfg}:2: paths.outbx: unknown field" in err


def test_a_list_named_alone_is_checked_against_the_schemes_beside_it(capsys, tmp_path):
    code, out, _ = run(capsys, EXAMPLES / "route-north.toml")
    assert code == 0 and "ok: 0 schemes, 1 meter list" in out
    # "0 schemes" alone reads as if the list's schemes went unchecked: say where they came from
    assert f"its schemes checked against 3 schemes beside it in {EXAMPLES}" in out
    shutil.copy(EXAMPLES / "route-north.toml", tmp_path)
    code, out, _ = run(capsys, tmp_path / "route-north.toml")
    assert code == 1 and "unknown scheme id 'a1700-ci-tou-2026'" in out
