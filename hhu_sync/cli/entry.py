"""`hhu-sync`'s entry point: parse, run the command, turn errors into one line and an exit code.

``func(args)`` returns the exit code. Errors meant for a person are raised as
:class:`CliError` and printed as one line, never as a traceback.
"""

from __future__ import annotations

import os
import sys

from hhu_sync.cli.parser import build_parser
from hhu_sync.errors import CliError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"hhu-sync: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hhu-sync: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout quit (`| head`): no traceback; stdout to /dev/null so that the
        # interpreter's own flush at exit does not fail again; 128 + SIGPIPE, as shells say.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
