"""The benchmarks run where the tests run: what they need is found as a user's shell would not."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BUILD_BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "build.py"


def test_the_build_benchmark_finds_jupyter_book_beside_the_running_python(tmp_path, monkeypatch):
    """A virtualenv's Python run by its path, not activated: its jupyter-book is not on the PATH."""
    beside = Path(sys.executable).parent / "jupyter-book"
    assert beside.is_file(), f"{beside} is missing: pip install jupyter-book"
    spec = importlib.util.spec_from_file_location("build_benchmark", BUILD_BENCHMARK)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    assert benchmark.jupyter_book() == str(beside)
