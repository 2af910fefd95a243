"""Allow ``python -m oersite``."""

from oersite.cli import run

run()
