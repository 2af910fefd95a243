"""The README's lint command passes (CI runs it through this test)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPOSITORY


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["check", "format"])
def test_ruff_passes_as_the_readme_says(command):
    result = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=REPOSITORY, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
