"""Python environments with another JupyterHub than this one's, made once and kept in the tests' cache.

The Zero to JupyterHub chart's hub runs JupyterHub 5.5.0 with KubeSpawner; the
tests check the chart's values, and the single-user image built for that hub,
against those versions rather than the ones installed here.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

CACHE = Path(os.environ.get("OERSITE_TEST_CACHE", Path.home() / ".cache" / "oersite-tests"))


def hub_environment(packages: tuple[str, ...]) -> str:
    """The Python of a virtual environment holding exactly ``packages`` (pip requirements)."""
    key = hashlib.sha256(" ".join(sorted(packages)).encode()).hexdigest()[:12]
    venv = CACHE / f"hub-env-{key}"
    python = venv / "bin" / "python"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"hub-env-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test workers wanting it at once: one makes it, the other waits
        if not python.exists():
            _make_environment(venv, python, packages)
    return str(python)


def _make_environment(venv: Path, python: Path, packages: tuple[str, ...]) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *packages], capture_output=True, text=True
    )
    if installed.returncode != 0:
        subprocess.run(["rm", "-rf", str(venv)], check=False)
        raise AssertionError(f"cannot install {' '.join(packages)}:\n{installed.stderr[-2000:]}")
