"""Running git for the checks and for publishing, and saying what it said in one line."""

from __future__ import annotations

import subprocess


def run_git(arguments: list[str], environment: dict[str, str], *, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run git (never interactive: ``environment`` should set ``GIT_TERMINAL_PROMPT=0``)."""
    return subprocess.run(["git", *arguments], capture_output=True, text=True, env=environment, timeout=timeout)


def git_message(text: str) -> str:
    """The line of git's output that says what went wrong, without its ``fatal:``."""
    lines = [line.removeprefix("fatal: ").strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
