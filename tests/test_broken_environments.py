"""Every command, in a broken environment or with broken input: one line saying what to do, exit 1, no traceback.

Each case runs ``oersite`` as a user would, in a process of its own; what is
missing is really missing there (a module that cannot be imported, a program not
on PATH, a port taken), and nothing of the course is written.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import Ran, assert_one_line_error, oersite
from support.coursehelpers import make_course

pytestmark = pytest.mark.slow  # runs oersite (and apache2, openssl, git) as processes

REPOSITORY = Path(__file__).resolve().parent.parent
LAUNCH = {"launch": {"hub_url": "http://127.0.0.1:8000", "try_url": "http://127.0.0.1:8001"}}
REPOSITORY_URL = {"url": "https://github.com/example/course"}
#: What the hub commands run (configurable-http-proxy is a node script).
HUB_PROGRAMS = ("apache2", "htpasswd", "openssl", "docker-compose", "docker", "git", "node", "configurable-http-proxy")


#: Runs the CLI with some modules made unimportable (as if their package were not installed).
def programs_except(tmp_path: Path, *missing: str) -> str:
    """A PATH holding what oersite's hub commands run, except ``missing``."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for program in HUB_PROGRAMS:
        found = shutil.which(program)
        if program not in missing and found:
            (folder / program).symlink_to(found)
    return str(folder)


@pytest.fixture
def course(tmp_path):
    return make_course(tmp_path / "course", config={"repository": REPOSITORY_URL, "oersite": LAUNCH})


@pytest.mark.parametrize(
    ("module", "distribution"),
    [
        ("jupyterhub", "jupyterhub"),
        ("helm_python", "helm-python-sdk"),
        ("kubernetes_validate", "kubernetes-validate"),
    ],
)
def test_hub_check_without_the_hub_extra(course, module, distribution):
    assert oersite("hub", "config", str(course), process=True).exit_code == 0
    result = oersite("hub", "check", str(course), without=(module,), process=True)
    assert_one_line_error(
        result, f"{module}: not installed ({distribution})", 'install the hub extra: pip install -e ".['
    )


def test_hub_check_where_helms_engine_cannot_load(course, tmp_path):
    not_a_library = tmp_path / "libhelm_c.so"
    not_a_library.write_text("not a shared library\n")
    assert oersite("hub", "config", str(course), process=True).exit_code == 0
    result = oersite("hub", "check", str(course), env={"HELM_C_LIB": str(not_a_library)}, process=True)
    assert_one_line_error(result, "helm-python-sdk cannot load Helm's engine here", "reinstall the hub extra")


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ("apache2", "apache2: not found; install it (Debian: apt-get install apache2)"),
        ("configurable-http-proxy", "npm install --global configurable-http-proxy@5.3.0"),
        ("htpasswd", "htpasswd: not found; install it (Debian: apt-get install apache2-utils)"),
    ],
)
def test_hub_serve_without_a_program_it_runs_starts_nothing(course, tmp_path, missing, expected):
    result = oersite("hub", "serve", str(course), path=programs_except(tmp_path, missing), process=True)
    assert_one_line_error(result, expected)
    assert not (course / "_build" / "hub").exists()


def test_hub_serve_without_jupytext_starts_nothing(course):
    # Without it, a course's MyST Markdown notebooks would open on the hubs as text.
    result = oersite("hub", "serve", str(course), without=("jupytext",), process=True)
    assert_one_line_error(result, "jupytext: not installed", 'install the hub extra: pip install -e ".[hub]"')
    assert not (course / "_build" / "hub").exists()


def test_serve_on_a_port_in_use(course, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>built</p>")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = oersite("serve", str(course), "--output", str(site), "--port", str(port), process=True)
    assert_one_line_error(result, f"127.0.0.1:{port} is in use", "--port")


def test_live_check_with_a_malformed_hub_settings_file(course):
    assert oersite("build", str(course), process=True).exit_code == 0
    assert oersite("hub", "config", str(course), process=True).exit_code == 0
    (course / "hub" / "hub-settings.json").write_text('{"branch": "main"', encoding="utf-8")
    result = oersite("check", str(course), "--live", process=True)
    output = result.output
    assert result.exit_code == 1 and "Traceback" not in output, output
    assert "error: hub/hub-settings.json: hub settings:" in output
    assert "run oersite hub config to write it again" in output


def test_build_without_the_vendored_browser_libraries(tmp_path):
    course = make_course(tmp_path / "course", {"map.ipynb": ["import folium\nfolium.Map(location=[0, 0])"]})
    empty = tmp_path / "no-vendor"
    empty.mkdir()
    script = (
        "import sys, oersite.assets as assets\n"
        f"assets.VENDOR_DIR = __import__('pathlib').Path({str(empty)!r})\n"
        "sys.argv = ['oersite', 'build', sys.argv[1]]\n"
        "from oersite.cli import main\nmain()\n"
    )
    finished = subprocess.run([sys.executable, "-c", script, str(course)], capture_output=True, text=True, timeout=600)
    result = Ran(finished.returncode, finished.stdout + finished.stderr, finished.stdout, finished.stderr)
    assert_one_line_error(result, "oersite was installed without its browser libraries", "pip install -e .")


def test_hub_check_without_docker_compose_apache_or_openssl_names_each(course, tmp_path):
    assert oersite("hub", "config", str(course), process=True).exit_code == 0
    result = oersite(
        "hub", "check", str(course), path=programs_except(tmp_path, "docker-compose", "docker", "apache2"), process=True
    )
    output = result.output
    assert result.exit_code == 1 and "Traceback" not in output, output
    assert "docker-compose not found; install it (Debian: apt-get install docker-compose)" in output
    assert "apache2 not found; install it (Debian: apt-get install apache2)" in output
