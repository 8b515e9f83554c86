"""`python -m kolwatch` runs the command line."""

from kolwatch.cli import run

run()
