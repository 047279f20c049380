"""Run the command line: ``python -m ul4m4 --help``."""

from .cli import run

run()
