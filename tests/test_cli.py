"""The CLI as a user runs it: a real process, its output and exit status."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

import pytest
from coursehelpers import make_course


def run(*args, cwd=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "oersite", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_help_lists_the_commands_without_loading_the_build_libraries():
    result = run("--help", timeout=60)
    assert result.returncode == 0
    for command in ("build", "serve"):
        assert command in result.stdout
    # Heavy libraries are imported inside commands, so asking for help does not load Sphinx.
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, oersite.cli; print('sphinx' in sys.modules, 'nbclient' in sys.modules)"],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "False False"


@pytest.mark.slow
def test_build_in_the_course_folder_without_arguments(tmp_path):
    course = make_course(tmp_path / "c")
    result = run("build", cwd=course)
    assert result.returncode == 0, result.stderr
    assert "Built 2 pages" in result.stdout
    assert "Open _build/html/index.html" in result.stdout
    assert (course / "_build/html/lessons/first.html").is_file()


@pytest.mark.slow
def test_a_failing_build_exits_1_with_one_line_and_no_traceback(tmp_path):
    course = make_course(tmp_path / "c", {"bad.ipynb": ["raise ValueError('the data is wrong')"]})
    result = run("build", str(course))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: bad.ipynb, cell 2: ValueError: the data is wrong")


@pytest.mark.slow
def test_serve_no_watch_previews_the_built_site_on_loopback(tmp_path):
    course = make_course(tmp_path / "c")
    assert run("build", str(course)).returncode == 0
    server = subprocess.Popen(
        [sys.executable, "-m", "oersite", "serve", str(course), "--port", "0", "--no-watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert "Serving" in line and "http://127.0.0.1:" in line, line
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url + "lessons/first.html", timeout=10) as response:
            assert response.status == 200
            page = response.read().decode()
        assert "<h1>First" in page
        assert "hello" in page  # what the notebook printed
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_no_watch_before_build_says_what_to_run(tmp_path):
    course = make_course(tmp_path / "c")
    result = run("serve", str(course), "--no-watch")
    assert result.returncode == 1
    assert "no built site here; run first: oersite build" in result.stderr
