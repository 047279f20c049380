"""Run the command line: ``python -m ul4m4 --help``."""

import sys

from .cli import main

sys.exit(main())
