"""Chromium at build and check time reaches the site's own server and nothing else, WebSockets included.

A course page can carry any script (a notebook's HTML output, raw HTML in Markdown). When
oersite opens it in Chromium (the figure images, ``build --pdf``, ``check --accessibility``),
that script must not reach another server of the build machine: a canary listening on
another port of 127.0.0.1 counts every connection, and must count none. Playwright's request
routing does not see WebSockets (nor a worker's requests), so the page tries those first.
"""

from __future__ import annotations

import html
import json
import socket
import threading

import pytest
from support.cli import oersite
from support.coursehelpers import make_course

from oersite.chromium import headless_chromium
from oersite.serve import serving

pytestmark = pytest.mark.slow  # builds a course with a figure, prints it, audits it, all in Chromium

PLOT = """from bokeh.plotting import figure, show, output_notebook
output_notebook(hide_banner=True)
plot = figure(width=300, height=200)
plot.line([1, 2, 3], [1, 4, 9])
show(plot)"""


class Canary:
    """A server on another port of 127.0.0.1 that only counts who connects, and what they first said."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.heard: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            connection.settimeout(2)
            try:
                self.heard.append(connection.recv(120) or b"(nothing)")
            except OSError:
                self.heard.append(b"(nothing)")
            connection.close()


def reaching_out(port: int) -> str:
    """A script that tries every way a page has to reach the canary: WebSockets (from the page, a frame and a
    worker), fetch, server-sent events, a beacon, and a preconnect."""
    target = f"127.0.0.1:{port}"
    frame = f"<script>new WebSocket('ws://{target}/from-a-frame')</script>"
    script = f"""
      for (const url of ['ws://{target}/from-the-page', 'ws://localhost:{port}/by-name']) {{
        try {{ new WebSocket(url); }} catch (e) {{}}
      }}
      new Worker(URL.createObjectURL(new Blob(["new WebSocket('ws://{target}/from-a-worker')"])));
      fetch('http://{target}/fetch').catch(() => {{}});
      try {{ new EventSource('http://{target}/events'); }} catch (e) {{}}
      try {{ navigator.sendBeacon('http://{target}/beacon', 'x'); }} catch (e) {{}}
    """
    return (
        f'<link rel="preconnect" href="http://{target}/">\n'
        f'<iframe title="a frame" srcdoc="{html.escape(frame)}"></iframe>\n'
        f"<script>{script}</script>\n"
    )


@pytest.fixture(scope="module")
def canary():
    listening = Canary()
    yield listening
    listening.socket.close()


@pytest.fixture(scope="module")
def course(tmp_path_factory, canary):
    """One notebook page with a plot (so the build shoots it) and a script that reaches out."""
    root = make_course(
        tmp_path_factory.mktemp("reaching-out") / "course",
        {"lessons/plot.ipynb": [(PLOT, {"alt": "A line rising from 1 to 9."})]},
    )
    notebook = root / "lessons" / "plot.ipynb"
    document = json.loads(notebook.read_text())
    document["cells"].insert(1, {"cell_type": "markdown", "metadata": {}, "source": reaching_out(canary.port)})
    notebook.write_text(json.dumps(document))
    (root / "intro.md").write_text("# Welcome\n\nAn introduction.\n\n" + reaching_out(canary.port))
    return root


def test_the_figure_images_and_the_pdf_reach_no_other_server(course, canary):
    result = oersite("build", str(course), "--pdf")
    assert result.exit_code == 0, result.output
    assert list((course / "_build" / "html" / "_static" / "oersite" / "figures").glob("*.png")), result.output
    assert list((course / "_build" / "pdf").glob("*.pdf"))
    assert canary.heard == [], "Chromium reached a server other than the site's"


def test_the_accessibility_check_reaches_no_other_server(course, canary):
    oersite("build", str(course))
    result = oersite("check", str(course), "--accessibility")
    assert "not audited" not in result.output, result.output
    assert canary.heard == [], "Chromium reached a server other than the site's"


def test_the_page_does_reach_out_in_a_browser_that_lets_it(course, canary):
    """The control: in a plain Chromium context, the same page reaches the canary."""
    oersite("build", str(course))
    with serving(course / "_build" / "html") as url, headless_chromium() as browser:
        page = browser.new_page()
        page.goto(url + "intro.html")
        page.wait_for_timeout(2000)
    heard = b" ".join(canary.heard)
    canary.heard.clear()
    assert b"/from-the-page" in heard and b"/from-a-worker" in heard and b"/from-a-frame" in heard, heard
