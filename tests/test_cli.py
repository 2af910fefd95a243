"""The CLI as a user runs it: a real process, its output and exit status."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

import pytest
from support.coursehelpers import make_course


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


def test_a_build_refused_before_it_starts_still_says_one_line_and_exits_1(tmp_path):
    """``oersite build`` ends its process at once (``cli.run``): its output flushed, its exit status kept."""
    result = run("build", str(tmp_path / "nowhere"), timeout=60)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "no such folder" in lines[0], result.stderr


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


def _ask(url: str, path: str, host: str) -> tuple[int, bytes]:
    import http.client
    from urllib.parse import urlsplit

    connection = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=10)
    connection.putrequest("GET", path, skip_host=True)
    connection.putheader("Host", host)
    connection.endheaders()
    response = connection.getresponse()
    try:
        return response.status, response.read()
    finally:
        connection.close()


def test_the_preview_answers_only_requests_addressed_to_its_own_address(tmp_path):
    """A page on evil.example whose name now resolves to 127.0.0.1 (DNS rebinding) must not read the preview."""
    import threading

    from oersite.preview import EVENTS_PATH, PreviewState, preview_handler
    from oersite.serve import serve_on_loopback, serving

    site = tmp_path / "html"
    site.mkdir()
    (site / "index.html").write_text("<html><body>the course draft</body></html>")
    preview = serve_on_loopback(preview_handler(site, PreviewState()), 0)
    threading.Thread(target=preview.serve_forever, daemon=True).start()
    try:
        with serving(site) as plain:
            for url in (f"http://127.0.0.1:{preview.server_address[1]}/", plain):
                port = url.rstrip("/").rsplit(":", 1)[1]
                for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
                    status, body = _ask(url, "/index.html", host)
                    assert status == 200 and b"the course draft" in body, (url, host)
                for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{int(port) + 1}", ""):
                    for path in ("/index.html", "/", EVENTS_PATH):
                        status, body = _ask(url, path, host)
                        assert status == 421, (url, host, path, status)
                        assert b"the course draft" not in body
    finally:
        preview.shutdown()
        preview.server_close()
