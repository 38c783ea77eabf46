"""`python -m hhu_sync` runs the command line."""
import sys

from hhu_sync.cli import main

sys.exit(main())
