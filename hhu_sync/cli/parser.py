"""The `hhu-sync` argument parser: the command modules it gathers and the help it shows.

Each command module exposes ``register(subparsers)`` and sets ``func`` on its parser, so
adding a command is one line in :data:`COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import re

COMMAND_MODULES: tuple[str, ...] = (
    "hhu_sync.cli.validate_cmd",
    "hhu_sync.cli.transfer_cmds",
    "hhu_sync.cli.key_cmds",
    "hhu_sync.cli.daemon_cmds",
    "hhu_sync.cli.link_cmds",
    "hhu_sync.cli.meter_cmds",
    "hhu_sync.cli.ingest_cmd",
    "hhu_sync.cli.scheme_cmds",
    "hhu_sync.cli.user_cmds",
    "hhu_sync.cli.web_cmd",
    "hhu_sync.cli.billing_cmd",
    "hhu_sync.cli.db_cmds",
)


_CONFIG_HELP = ("configuration file (TOML); default: $HHU_SYNC_CONFIG, else ./hhu-sync.toml, "
                "else the built-in defaults (var/ of the current folder); the demo's is "
                "config/demo.toml")
_EPILOG = ("exit codes: 0 success; 1 invalid input, refused file, bad configuration, "
           "another daemon on the database or run --once timed out; 2 wrong usage; "
           "3 run --once left deliveries the docked HHUs refused or could not take; 141 "
           "output closed early (| head); push, pull, meter and ingest say theirs in their "
           "--help. README.md has a command tour.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hhu-sync",
        description="Depot sync service for electricity-meter handheld units (HHUs).",
        epilog=_EPILOG,
    )
    parser.add_argument("--config", metavar="FILE", help=_CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    # --config is accepted after the command too: `hhu-sync run --config F`.
    for command in sub.choices.values():
        _add_config(command)
    _for_people(parser)
    return parser


_LITERAL = re.compile(r"``([^`]+)``|`([^`]+)`")


def _for_people(parser: argparse.ArgumentParser) -> None:
    """Every command's --help says what it does: a command given only a one-line help
    shows it as its description, and reStructuredText quoting (a module docstring used
    as a description) is shown as plain text."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help for a in action._choices_actions}
        for name, child in action.choices.items():
            if not child.description and (text := helps.get(name)):
                child.description = text[0].upper() + text[1:] + "."
            for attr in ("description", "epilog"):
                text = getattr(child, attr)
                if text:
                    setattr(child, attr, _LITERAL.sub(lambda m: m.group(1) or m.group(2), text))
            _for_people(child)


def _add_config(parser: argparse.ArgumentParser) -> None:
    if any("--config" in a.option_strings for a in parser._actions):
        return
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help=_CONFIG_HELP)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_config(child)
