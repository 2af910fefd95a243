"""Allow ``python -m oersite``."""

from oersite.cli import main

main()
