"""The built sample course, read the way a reader's browser gets it."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from bs4 import BeautifulSoup
from conftest import git
from support.sample_site import BOKEH_PAGES, FOLIUM_PAGES, NOTEBOOK_PAGES, TEXT_PAGES, soup

pytestmark = pytest.mark.slow  # builds the sample course


def folium_documents(page: BeautifulSoup) -> list[BeautifulSoup]:
    """Each Folium map is a whole HTML document inside an iframe's srcdoc."""
    return [BeautifulSoup(frame["srcdoc"], "html.parser") for frame in page.select("iframe[srcdoc]")]


def test_the_build_summary_counts_every_notebook(built_sample):
    _site, output = built_sample
    assert "Built 9 pages (7 notebooks: 7 executed, 0 from cache)" in output


@pytest.mark.parametrize("docname", NOTEBOOK_PAGES + TEXT_PAGES)
def test_every_page_is_built_with_its_title(built_sample, sample_course, docname):
    """The page's heading and the browser tab say what the author's first heading says."""
    site, _ = built_sample
    page = soup(site, docname)
    source = next(sample_course.glob(f"{docname}.*"))
    text = source.read_text(encoding="utf-8")
    if source.suffix == ".ipynb":
        text = "".join(
            "".join(cell["source"]) + "\n" for cell in json.loads(text)["cells"] if cell["cell_type"] == "markdown"
        )
    title = next(line[2:].strip() for line in text.splitlines() if line.startswith("# "))
    heading = page.select_one("main h1")
    assert heading is not None, f"{docname} has no title"
    assert heading.get_text().strip("#¶ \n") == title
    assert page.title.get_text().startswith(title)


@pytest.mark.parametrize("docname", NOTEBOOK_PAGES)
def test_notebook_pages_show_no_error_output(built_sample, docname):
    site, _ = built_sample
    page = soup(site, docname)
    assert page.select(".cell_output"), "the notebook was executed"
    assert not page.select(".output.traceback, .output.error"), page.select_one(".output.traceback")
    assert not page.select(".output.stderr")


@pytest.mark.parametrize("docname", BOKEH_PAGES)
def test_bokeh_pages_embed_each_plot_with_its_script(built_sample, docname):
    site, _ = built_sample
    page = soup(site, docname)
    roots = [div["data-root-id"] for div in page.select("div[data-root-id]")]
    assert roots, "no Bokeh plot on the page"
    scripts = " ".join(script.get_text() for script in page.select("script"))
    for root in roots:
        assert root in scripts, f"no script renders Bokeh root {root}"
    assert "embed_items" in scripts


@pytest.mark.parametrize("docname", FOLIUM_PAGES)
def test_folium_pages_hold_a_leaflet_map(built_sample, docname):
    site, _ = built_sample
    maps = folium_documents(soup(site, docname))
    assert maps, "no Folium map on the page"
    for document in maps:
        code = " ".join(script.get_text() for script in document.select("script"))
        assert "L.map(" in code
        assert "L.tileLayer(" in code


def map_code(site: Path, docname: str) -> str:
    return " ".join(
        script.get_text() for document in folium_documents(soup(site, docname)) for script in document.select("script")
    )


def test_the_markers_map_has_markers_with_popups(built_sample):
    code = map_code(built_sample[0], "notebooks/folium/markers")
    assert code.count("L.marker(") >= 5
    assert "bindPopup(" in code


def test_the_choropleth_has_state_polygons_and_a_legend(built_sample):
    code = map_code(built_sample[0], "notebooks/folium/choropleth")
    assert "L.geoJson(" in code
    assert code.count('"Polygon"') + code.count('"MultiPolygon"') >= 40
    assert "legend" in code.lower()


def test_the_voronoi_map_has_a_cell_per_point(built_sample):
    code = map_code(built_sample[0], "notebooks/folium/voronoi")
    assert "L.geoJson(" in code
    assert code.count('"Polygon"') >= 5
    assert "L.circleMarker(" in code


def launch_links(site: Path, docname: str) -> dict[str, dict]:
    links = {}
    for anchor in soup(site, docname).select("a.btn"):
        text = anchor.get_text(" ", strip=True)
        if text in ("Open in hub", "Try now"):
            links[text] = {"href": anchor["href"], "title": anchor.get("title", "")}
    return links


@pytest.mark.parametrize("docname", NOTEBOOK_PAGES)
def test_every_notebook_page_has_both_launch_buttons_to_a_committed_file(built_sample, sample_course, docname):
    site, _ = built_sample
    links = launch_links(site, docname)
    assert set(links) == {"Open in hub", "Try now"}
    assert links["Open in hub"]["href"].startswith("http://127.0.0.1:8000/hub/user-redirect/git-pull?")
    assert links["Try now"]["href"].startswith("http://127.0.0.1:8001/hub/user-redirect/git-pull?")
    # Open in hub opens JupyterLab, Try now the notebook on a page of its own (the sample's interfaces).
    for button, interface_path in (("Open in hub", "lab/tree/"), ("Try now", "notebooks/")):
        query = {key: values[0] for key, values in parse_qs(urlsplit(links[button]["href"]).query).items()}
        assert query["repo"] == sample_course.as_uri()
        assert query["targetpath"] == "course"
        assert query["urlpath"].startswith(interface_path), query["urlpath"]
        opened = unquote(query["urlpath"].removeprefix(interface_path))
        assert opened.startswith("course/")
        in_repository = opened.removeprefix("course/")
        assert in_repository == f"{docname}.ipynb"
        git(sample_course, "cat-file", "-e", f"{query['branch']}:{in_repository}")  # committed on that branch


@pytest.mark.parametrize("docname", TEXT_PAGES)
def test_pages_that_are_not_notebooks_have_no_launch_buttons(built_sample, docname):
    assert launch_links(built_sample[0], docname) == {}
