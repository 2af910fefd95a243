"""oersite check: scripts in outputs that call other hosts, redirect stubs, plots of another Bokeh."""

from __future__ import annotations

import base64
import html

import pytest
from support.cli import oersite
from support.coursehelpers import make_course
from support.publish_courses import git

from oersite.checks.findings import ERROR, WARNING, redirect_target
from oersite.checks.links import missing_anchors
from oersite.checks.outputs import network_calls
from oersite.checks.remote_files import check_bokeh_versions

#: sphinxext-rediraffe's stub, as it writes it.
REDIRAFFE_STUB = """
<html>
    <head>
        <noscript>
            <meta http-equiv="refresh" content="0; url=new.html"/>
        </noscript>
    </head>
    <body>
        <script>
            window.location.href = 'new.html' + (window.location.search || '') + (window.location.hash || '');
        </script>
        <p>You should have been redirected.</p>
        <a href="new.html">If not, click here to continue.</a>
    </body>
</html>
"""


def notebook_with(*outputs: dict, tags: list[str] = ()) -> dict:
    cell = {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": "", "outputs": list(outputs)}
    return {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# T"}, cell]}


def html_output(markup: str) -> dict:
    return {"output_type": "display_data", "data": {"text/html": markup}, "metadata": {}}


def js_output(code: str) -> dict:
    return {"output_type": "display_data", "data": {"application/javascript": code}, "metadata": {}}


@pytest.mark.parametrize(
    ("output", "call", "host"),
    [
        (
            html_output("<script>fetch('https://api.example.org/data.json').then(r => r.json())</script>"),
            "fetch",
            "api.example.org",
        ),
        (
            html_output('<script>const url = "https://api.example.org/x";\nfetch(url)</script>'),
            "fetch",
            "api.example.org",
        ),
        (
            js_output("var x = new XMLHttpRequest(); x.open('GET', 'https://stats.example.com/hit');"),
            "XMLHttpRequest",
            "stats.example.com",
        ),
        (js_output("new WebSocket('wss://live.example.net/feed')"), "WebSocket", "live.example.net"),
        (js_output("new EventSource('https://push.example.net/events')"), "EventSource", "push.example.net"),
        (
            js_output("var i = new Image(); i.src = 'https://pixel.example.com/p.gif';"),
            "an Image src",
            "pixel.example.com",
        ),
        (js_output("import('https://esm.example.com/widget.js').then(m => m.draw())"), "import()", "esm.example.com"),
        (
            html_output(
                '<iframe srcdoc="'
                + html.escape(
                    "<script>fetch(&quot;x&quot;); $.getJSON('https://geo.example.org/a.json')</script>leaflet"
                )
                + '"></iframe>'
            ),
            "jQuery's ajax",
            "geo.example.org",
        ),
        (
            html_output(
                '<iframe src="about:blank" data-html='
                + base64.b64encode(
                    b"<script src='leaflet.js'></script><script>fetch('https://tiles.example.org/q')</script>"
                ).decode()
                + ' onload="..."></iframe>'
            ),
            "fetch",
            "tiles.example.org",
        ),
    ],
)
def test_a_script_in_an_output_that_calls_another_host_is_an_error_naming_page_and_cell(output, call, host):
    (finding,) = network_calls(notebook_with(output), "lessons/live.html")
    assert (finding.page, finding.what, finding.severity) == ("lessons/live.html", "cell 2", ERROR)
    assert f"calls {host} ({call} of " in finding.why


@pytest.mark.parametrize(
    "output",
    [
        html_output("<script>fetch('data/local.json')</script>"),  # the site's own file
        html_output("<script>fetch('http://127.0.0.1:8888/api')</script>"),
        html_output('<script src="https://cdn.example.org/lib.js"></script>'),  # the remote files check's
        js_output('const js_urls = ["https://cdn.bokeh.org/bokeh/release/bokeh-3.9.2.min.js"];\nelement.src = url;'),
        js_output("var i = new Image(); i.src = 'https://cdn.bokeh.org/bokeh/release/bokeh-3.9.2.min.js';"),
        html_output("<p>See https://example.org/fetch(x)</p>"),
    ],
)
def test_scripts_that_stay_on_the_site_are_not_flagged(output):
    assert network_calls(notebook_with(output), "lessons/live.html") == []


def test_a_call_in_an_output_the_page_does_not_show_is_not_flagged():
    output = js_output("fetch('https://api.example.org/data.json')")
    assert network_calls(notebook_with(output, tags=["remove-output"]), "lessons/live.html") == []


def test_redirect_stubs_are_told_from_pages():
    assert redirect_target(REDIRAFFE_STUB) == "new.html"
    assert redirect_target('<meta http-equiv="Refresh" content="0; url=intro.html" />') == "intro.html"
    page = '<html><head><meta charset="utf-8"></head><body><h1>A page</h1>' + "<p>text</p>" * 1000 + "</body></html>"
    assert redirect_target(page) is None


def test_an_anchor_through_a_redirect_stub_is_looked_for_on_the_page_it_leads_to(tmp_path):
    (tmp_path / "lessons").mkdir()
    (tmp_path / "lessons" / "old.html").write_text(REDIRAFFE_STUB)
    (tmp_path / "lessons" / "new.html").write_text('<h1 id="results">Results</h1>')
    (tmp_path / "index.html").write_text(
        '<a href="lessons/old.html#results">x</a><a href="lessons/old.html#gone">y</a>'
    )
    findings = missing_anchors(tmp_path)
    assert [(finding.page, finding.what) for finding in findings] == [("index.html", "link lessons/old.html#gone")]
    assert "lessons/new.html" in findings[0].why


def bokeh_page(made_with: str) -> str:
    return (
        '<html><head><script data-oersite-bokehjs src="_static/oersite/bokeh/bokeh-3.9.2.min.js"></script></head>'
        f'<body><script>const docs_json = {{"x":{{"version":"{made_with}","title":"Bokeh Application"}}}};'
        "Bokeh.embed.embed_items_notebook(docs_json, render_items);</script></body></html>"
    )


@pytest.mark.parametrize(("made_with", "severity"), [("2.4.3", ERROR), ("3.4.1", WARNING)])
def test_plots_of_another_bokeh_appear_in_check(tmp_path, made_with, severity):
    (tmp_path / "plots.html").write_text(bokeh_page(made_with))
    (tmp_path / "same.html").write_text(bokeh_page("3.9.2"))
    (finding,) = check_bokeh_versions(tmp_path)
    assert (finding.page, finding.what, finding.severity) == (
        "plots.html",
        f"plots made with Bokeh {made_with}",
        severity,
    )
    assert "BokehJS 3.9.2" in finding.why


@pytest.mark.slow  # builds a site
def test_check_passes_redirect_stubs_and_names_the_cell_whose_script_calls_another_host(tmp_path):
    course = make_course(
        tmp_path / "course",
        {
            "lessons/new.ipynb": ["print('moved here')"],
            "lessons/live.ipynb": [
                "from IPython.display import HTML\n"
                "HTML(\"<div id='n'></div><script>fetch('https://api.example.org/count.json')"
                ".then(r => r.json()).then(d => document.getElementById('n').textContent = d.n)</script>\")"
            ],
        },
        config={
            "sphinx": {
                "extra_extensions": ["sphinxext.rediraffe"],
                "config": {"rediraffe_redirects": {"lessons/old.md": "lessons/new.ipynb"}},
            }
        },
    )
    (course / "intro.md").write_text(
        '# Welcome\n\nStart with <a href="lessons/old.html">the moved lesson</a>, '
        '<a href="lessons/old.html#moved">its moved part</a>.\n'
    )
    git(course, "init", "-q", "-b", "main")
    git(course, "add", "-A")
    git(course, "commit", "-qm", "course")
    built = oersite("build", course)
    assert built.exit_code == 0, built.output
    assert redirect_target((course / "_build/html/lessons/old.html").read_text()) == "new.html"

    checked = oersite("check", course)
    errors = [line for line in checked.output.splitlines() if line.startswith("error:")]
    assert checked.exit_code == 1, checked.output
    assert len(errors) == 2, checked.output
    assert errors[0].startswith("error: intro.html: link lessons/old.html#moved: no anchor #moved on lessons/new.html")
    assert errors[1].startswith(
        "error: lessons/live.html: cell 2: a script in its output calls api.example.org (fetch of"
    )
    assert "old.html" not in " ".join(errors[1:])
