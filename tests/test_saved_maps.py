"""Maps saved by an older Folium: named at build time, drawn offline with the site's libraries.

Older Folium (through branca) hid a map's page in a base64 ``data-html`` attribute or
``data:`` URL, loading Leaflet, jQuery, Bootstrap and Font Awesome of their day from CDNs
that neither the build's list nor ``oersite check`` saw.
"""

from __future__ import annotations

import html
import json

import nbformat
import pytest
from support.browser import Quiet, Traffic, chromium, offline_context, served
from support.cli import oersite
from support.coursehelpers import KERNELSPEC, make_course
from support.old_folium import data_html_output, data_url_output, map_cell, map_page
from support.publish_courses import git

from oersite.assets import THEBE_URL, remote_references, rewrite_page
from oersite.saved_maps import modernised, saved_map, stand_in

OLD_LIBRARIES = [
    "https://cdn.jsdelivr.net/npm/leaflet@1.6.0/dist/leaflet.js",
    "https://code.jquery.com/jquery-1.12.4.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/3.2.0/js/bootstrap.min.js",
    "https://maxcdn.bootstrapcdn.com/font-awesome/4.6.3/css/font-awesome.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css",
]


def test_a_base64_map_frame_becomes_a_srcdoc_frame_holding_its_page():
    for markup in (data_html_output(map_page()), data_url_output(map_page())):
        new = modernised(markup)
        assert "data-html" not in new and "base64" not in new and "onload" not in new
        srcdoc = new.split('srcdoc="', 1)[1].split('"', 1)[0]
        assert html.unescape(srcdoc) == map_page()  # decoded as UTF-8: the é survives
        assert 'style="position:absolute;' in new and "allowfullscreen" in new


def test_an_old_frame_is_found_whatever_the_case_of_its_markup():
    """The quick look for a frame (before the patterns try every tag) ignores case as they do."""
    for markup in (data_html_output(map_page()), data_url_output(map_page())):
        shouted = markup.replace("<iframe", "<IFRAME").replace("data-html", "DATA-HTML")
        shouted = shouted.replace("data:text", "DATA:TEXT")
        assert shouted != markup
        assert "srcdoc=" in modernised(shouted)
        found = saved_map(shouted, "lessons/old.ipynb, cell 2", "lessons/old.ipynb")
        assert found is not None and found.base64_frame
    plot = '<div id="p1"></div><script type="application/json">{"srcdoc": "data"}</script>'
    assert modernised(plot) is plot and saved_map(plot, "lessons/plot.ipynb, cell 1", "lessons/plot.ipynb") is None


def test_the_libraries_inside_a_base64_frame_are_remote_references():
    found = remote_references(data_html_output(map_page()))
    assert set(OLD_LIBRARIES) <= found


@pytest.mark.parametrize(
    ("url", "library", "version", "vendored"),
    [
        ("https://cdn.jsdelivr.net/npm/leaflet@1.2.0/dist/leaflet.css", "Leaflet", "1.2.0", "leaflet/leaflet.css"),
        ("https://unpkg.com/leaflet@1.3.4/dist/leaflet.js", "Leaflet", "1.3.4", "leaflet/leaflet.js"),
        (
            "https://ajax.googleapis.com/ajax/libs/jquery/1.11.1/jquery.min.js",
            "jQuery",
            "1.11.1",
            "jquery/jquery.min.js",
        ),
        ("https://code.jquery.com/jquery-1.12.4.min.js", "jQuery", "1.12.4", "jquery/jquery.min.js"),
        (
            "https://maxcdn.bootstrapcdn.com/bootstrap/3.2.0/css/bootstrap-theme.min.css",
            "Bootstrap theme",
            "3.2.0",
            "glyphicons/css/glyphicons.min.css",
        ),
        (
            "https://maxcdn.bootstrapcdn.com/font-awesome/4.6.3/css/font-awesome.min.css",
            "Font Awesome",
            "4.6.3",
            "fontawesome/css/all.min.css",
        ),
        (
            "https://rawgit.com/python-visualization/folium/master/folium/templates/leaflet.awesome.rotate.css",
            "Folium's rotated markers",
            "master",
            "folium/leaflet.awesome.rotate.min.css",
        ),
        ("https://cdnjs.cloudflare.com/ajax/libs/d3/3.5.17/d3.min.js", "d3", "3.5.17", "d3/d3.min.js"),
    ],
)
def test_older_library_versions_have_the_sites_copy_as_stand_in(url, library, version, vendored):
    assert stand_in(url) == (library, version, vendored)


@pytest.mark.parametrize(
    "url",
    [
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet/0.7.3/leaflet.js",  # before Leaflet's 1.0 API
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js",
        "https://d3js.org/d3.v7.min.js",
    ],
)
def test_libraries_the_site_cannot_stand_in_for_have_none(url):
    assert stand_in(url) is None


def test_a_rewritten_old_map_loads_nothing_from_elsewhere():
    text, found = rewrite_page(modernised(data_html_output(map_page())), "../", "3.9.2")
    assert found.remote == []
    assert "_static/oersite/vendor/glyphicons/" in html.unescape(text)


def test_an_old_map_is_named_with_its_libraries_and_hosts():
    found = saved_map(data_html_output(map_page()), "lessons/old.ipynb, cell 2", "lessons/old.ipynb")
    assert found.base64_frame and not found.without_copy
    assert "Leaflet 1.6.0" in found.libraries and "Font Awesome 4.6.3" in found.libraries
    assert set(found.hosts) == {
        "cdn.jsdelivr.net",
        "code.jquery.com",
        "maxcdn.bootstrapcdn.com",
        "cdnjs.cloudflare.com",
    }
    assert found.line().startswith("lessons/old.ipynb, cell 2: a map saved by an older Folium (a base64 frame) loads")


def test_an_old_map_with_a_library_the_site_lacks_says_which_notebook_to_execute_again():
    found = saved_map(data_html_output(map_page(plugin=True)), "lessons/old.ipynb, cell 2", "lessons/old.ipynb")
    assert found.without_copy == [
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js"
    ]
    assert "execute lessons/old.ipynb again" in found.line()


def test_a_map_of_the_installed_folium_is_not_an_old_one():
    import folium

    assert saved_map(folium.Map([48.85, 2.35])._repr_html_(), "x, cell 1", "x") is None


def old_maps_course(root, *, plugin: bool = False):
    """A course that shows notebooks' saved outputs (no execution), one with an old base64 map."""
    make_course(root, {}, config={"execute": {"execute_notebooks": "off"}}, extra_chapters=["lessons/old"])
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC})
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# An old map"),
        map_cell(data_html_output(map_page(plugin=plugin))),
    ]
    (root / "lessons").mkdir(exist_ok=True)
    nbformat.write(notebook, root / "lessons" / "old.ipynb")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "course")
    return root


@pytest.mark.slow  # builds a site and drives Chromium
def test_an_old_base64_map_is_named_and_draws_with_every_other_host_refused(tmp_path):
    course = old_maps_course(tmp_path / "course")
    before = (course / "lessons" / "old.ipynb").read_bytes()
    built = oersite("build", course)
    assert built.exit_code == 0, built.output
    flat = " ".join(built.output.split())
    assert "lessons/old.ipynb, cell 2: a map saved by an older Folium (a base64 frame) loads Leaflet 1.6.0" in flat
    assert "maxcdn.bootstrapcdn.com" in flat and "the site draws it offline with its own copies" in flat
    assert "still load files from other hosts" not in built.output
    assert (course / "lessons" / "old.ipynb").read_bytes() == before  # the notebook is never rewritten

    site = course / "_build" / "html"
    page_text = (site / "lessons" / "old.html").read_text(encoding="utf-8")
    assert "data-html" not in page_text
    # A figure like a new map: its frame named by the cell's alt, one image of it, drawn offline.
    assert "allowfullscreen" in page_text and 'title="A map of Paris with the Eiffel Tower marked"' in page_text
    assert "1 figure image for print and readers without JavaScript: 1 made" in flat
    assert {url for url in remote_references(page_text) if not THEBE_URL.match(url)} == set()
    checked = oersite("check", course)
    assert "loaded from another host" not in checked.output, checked.output

    traffic = Traffic()
    with served(site) as url, chromium() as browser:
        context = offline_context(browser, traffic)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{url}lessons/old.html", wait_until="load")
            frame = next(frame for frame in page.frames if frame.parent_frame is not None)
            frame.locator(".leaflet-container").wait_for(state="attached", timeout=15_000)
            frame.locator(".leaflet-marker-pane .awesome-marker").wait_for(state="visible", timeout=15_000)
            frame.locator("path.leaflet-interactive").wait_for(state="attached", timeout=15_000)
            frame.locator(".leaflet-marker-pane .awesome-marker").click(force=True)
            popup = frame.locator(".leaflet-popup-content")
            popup.wait_for(state="visible", timeout=5_000)
            assert "Paris (é)" in popup.inner_text()
            # The glyphicon on the marker has its font: its ::before draws a glyph, not nothing.
            glyph = frame.locator(".awesome-marker i.glyphicon").evaluate(
                "element => getComputedStyle(element, '::before').fontFamily"
            )
            assert "Glyphicons" in glyph
            Quiet(page).wait(page)
        finally:
            context.close()
    loaded = [(kind, link) for kind, link in traffic.loaded_from_outside()]
    assert loaded == [], "scripts, stylesheets or fonts requested from other hosts"
    assert traffic.loads_that_failed() == []
    # sphinx-thebe declares its constant twice on every page of the theme; nothing of the map's
    assert [error for error in errors if "THEBE_JS_URL" not in error] == []
    assert {kind for kind, _ in traffic.blocked} <= {"image"}  # the map's tiles, which are map data


@pytest.mark.slow  # builds a site
def test_an_old_map_with_a_library_the_site_lacks_is_a_warning_and_a_finding(tmp_path):
    course = old_maps_course(tmp_path / "course", plugin=True)
    built = oersite("build", course)
    assert built.exit_code == 0, built.output
    flat = " ".join(built.output.split())
    assert "the site has no copy of" in flat and "execute lessons/old.ipynb again" in flat
    checked = oersite("check", course)
    assert checked.exit_code == 1
    assert "lessons/old.html: https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster" in checked.output
    saved = json.loads((course / "lessons" / "old.ipynb").read_text())
    assert "data-html" in "".join(saved["cells"][1]["outputs"][0]["data"]["text/html"])
