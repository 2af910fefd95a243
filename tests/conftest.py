"""Fixtures shared by the tests: the sample course, built once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.cli import oersite

REPOSITORY = Path(__file__).resolve().parent.parent
#: What makes up the sample course in this repository.
SAMPLE_COURSE = ("_config.yml", "book", "notebooks", "data")


#: The xdist group of every test that needs the tests' Docker engine: one engine, one data root,
#: so those tests run one after another on one worker.
DOCKER_GROUP = "docker"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Docker tests first, in one group, then the other slow modules, then the fast ones.

    Under ``-n`` each module runs whole on one worker (its module fixtures start hubs and
    browsers once), so the longest unit, the Docker group, goes first and the short fast
    modules fill the ends of both workers. Without ``-n`` only the order changes; modules do
    not depend on one another's order.
    """
    for item in items:
        if "docker_engine" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group(DOCKER_GROUP))

    def weight(item) -> int:
        if item.get_closest_marker("xdist_group"):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    module_weight: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        module_weight[module] = min(module_weight.get(module, 2), weight(item))
    items.sort(key=lambda item: module_weight[item.nodeid.split("::", 1)[0]])  # stable: order inside kept


def pytest_xdist_auto_num_workers(config) -> int:
    """One worker more than the cores, two at least (the tests mostly wait on hubs, containers and
    browsers: on 2 cores 3 workers ran the suite in 15 min 11 s, 2 in 16 min 26 s), four at most
    (each starts its own hubs and builds the sample once)."""
    return max(2, min(4, (os.cpu_count() or 1) + 1))


def pytest_xdist_make_scheduler(config, log):
    """Whole modules per worker, the Docker group as one unit, in collection order (see above)."""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndDocker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if "@" in nodeid:  # xdist marks a grouped test's id with its group under --dist loadgroup
                return nodeid.rsplit("@", 1)[-1]
            return nodeid.split("::", 1)[0]

    config.option.loadscopereorder = False
    return ModulesAndDocker(config, log)


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
