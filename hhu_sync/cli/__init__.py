"""`hhu-sync` command line: thin wrappers that parse, call the library, print.

The parser is built in :mod:`hhu_sync.cli.parser` from the command modules; the entry point
(``hhu_sync.cli:main``, the console script) is :mod:`hhu_sync.cli.entry`.
"""

from hhu_sync.cli.entry import main
from hhu_sync.cli.parser import COMMAND_MODULES, build_parser

__all__ = ["COMMAND_MODULES", "build_parser", "main"]
