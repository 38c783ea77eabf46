"""hhu-sim offers every simulator command from one entry point."""

from __future__ import annotations

import pytest

from hhu_firmware_sim.cli import build_parser


@pytest.mark.parametrize("command", ["flash", "add-upload", "line", "serve", "meter",
                                     "field-trip"])
def test_every_command_is_reachable(command, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0
    assert f"hhu-sim {command}" in capsys.readouterr().out
