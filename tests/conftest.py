"""Fixtures shared by the tests: the sample course, built once per session."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support.cli import oersite

REPOSITORY = Path(__file__).resolve().parent.parent
#: What makes up the sample course in this repository.
SAMPLE_COURSE = ("_config.yml", "book", "notebooks", "data")


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="session")
def sample_course(tmp_path_factory) -> Path:
    """A copy of the sample course as its own git repository on branch main.

    A copy, so the tests see the course as committed and never write into
    this checkout; a repository, because the launch buttons pull from it.
    """
    course = tmp_path_factory.mktemp("sample") / "course"
    course.mkdir()
    for name in SAMPLE_COURSE:
        source = REPOSITORY / name
        if source.is_dir():
            shutil.copytree(source, course / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy2(source, course / name)
    git(course, "init", "--quiet", "--initial-branch", "main")
    git(course, "add", ".")
    git(course, "-c", "user.name=Tests", "-c", "user.email=tests@oersite.invalid", "commit", "--quiet", "-m", "course")
    return course


@pytest.fixture(scope="session")
def built_sample(sample_course) -> tuple[Path, str]:
    """The sample course built once, warnings as errors; returns (site folder, build output)."""
    result = oersite("build", str(sample_course), "--strict")
    assert result.exit_code == 0, result.output
    return sample_course / "_build" / "html", result.output


@pytest.fixture(scope="session")
def docker_engine():
    """A Docker engine of the tests' own (see dockerhelpers.py), stopped when the session ends."""
    from support.dockerhelpers import start_engine, stop_engine

    engine = start_engine()
    yield engine
    stop_engine(engine)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless (tests/support/browser.py), for the tests of one module."""
    from support.browser import chromium

    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def cdn():
    """The CDN files notebooks' libraries load in JupyterLab, answered from this machine (journey_lab.py)."""
    from support.journey_lab import CdnFiles

    return CdnFiles()
