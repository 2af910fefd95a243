"""The one way tests run ``oersite``, and the one way they assert a refusal.

In this process by default (Click's runner: fast, the fast tier's hundreds of
calls), or as its own process when a test needs what only a process has: a
working folder, an environment, a ``PATH`` without some programs, or Python
packages made to look uninstalled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from oersite.cli import main

#: Run as ``python -c``: hides the named modules (as if not installed), then runs the command line.
WITHOUT_MODULES = """
import sys
for name in sys.argv[1].split(","):
    if name:
        sys.modules[name] = None  # import raises ImportError, as for a package that is not installed
sys.argv = ["oersite", *sys.argv[2:]]
from oersite.cli import run
run()
"""


@dataclass(frozen=True)
class Ran:
    """What a user saw: the exit status, and what was printed (both streams, and each alone)."""

    exit_code: int
    output: str
    stdout: str
    stderr: str


def oersite(
    *args: str | Path,
    process: bool = False,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    path: str | None = None,
    without: tuple[str, ...] = (),
    timeout: float = 600,
) -> Ran:
    """``oersite ARGS…``; ``process=True`` for its own process (needed by ``cwd``, ``env``, ``path``, ``without``)."""
    words = [str(arg) for arg in args]
    if not process:
        if cwd or env or path is not None or without:
            raise TypeError("cwd, env, path and without need process=True")
        result = CliRunner().invoke(main, words)
        output = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            # An unexpected exception: shown as the user would see it, so "no traceback" can fail.
            output += "".join(traceback.format_exception(result.exception))
        return Ran(result.exit_code, output, result.stdout, result.stderr)
    environment = {**os.environ, **(env or {})}
    if path is not None:
        environment["PATH"] = path
    finished = subprocess.run(
        [sys.executable, "-c", WITHOUT_MODULES, ",".join(without), *words],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=timeout,
    )
    return Ran(finished.returncode, finished.stdout + finished.stderr, finished.stdout, finished.stderr)


def assert_one_line_error(ran: Ran, *fragments: str) -> str:
    """Refused as the charter says: exit 1, no traceback, one ``Error:`` holding every fragment.

    The error is one line per problem: a configuration with three problems names
    all three, each on a line of its own below the ``Error:`` line.
    """
    assert ran.exit_code == 1, ran.output
    assert "Traceback" not in ran.output, ran.output
    lines = ran.output.splitlines()
    starts = [number for number, line in enumerate(lines) if line.startswith("Error:")]
    assert len(starts) == 1, ran.output
    error = "\n".join(lines[starts[0] :])
    for fragment in fragments:
        assert fragment in error, ran.output
    return error
