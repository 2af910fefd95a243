"""Every plot and map works with no internet, checked in a real browser (Debian's Chromium).

The built sample course is served on 127.0.0.1 and every request to any other
host is refused, as on a campus network without CDN access or an archived copy.
Screenshots of each notebook page are kept under _build/test-artifacts/.
"""

from __future__ import annotations

import pytest
from conftest import REPOSITORY
from support.browser import Quiet, Traffic, chromium, offline_context, served
from support.sample_site import BOKEH_PAGES

pytestmark = pytest.mark.slow  # drives Chromium over built pages

SCREENSHOTS = REPOSITORY / "_build" / "test-artifacts" / "offline-pages"


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def site_url(built_sample):
    with served(built_sample[0]) as url:
        yield url


def open_offline(browser, url):
    traffic = Traffic()
    context = offline_context(browser, traffic)
    page = context.new_page()
    page.quiet = Quiet(page)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url, wait_until="load")
    return context, page, traffic, errors


def keep_screenshot(page, docname):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{docname.replace('/', '-')}.png"), full_page=True)


def assert_nothing_left_the_machine(traffic: Traffic):
    assert traffic.loaded_from_outside() == [], "scripts, stylesheets or fonts requested from other hosts"
    assert traffic.loads_that_failed() == [], "scripts, stylesheets or fonts that failed to load"


@pytest.mark.parametrize("docname", BOKEH_PAGES)
def test_bokeh_plots_draw_with_no_internet(browser, site_url, docname):
    context, page, traffic, errors = open_offline(browser, f"{site_url}{docname}.html")
    try:
        roots = page.locator("div[data-root-id]")
        assert roots.count() >= 1
        # BokehJS 3 draws into shadow DOM; Playwright's CSS engine pierces open shadow roots.
        for index in range(roots.count()):
            roots.nth(index).locator("canvas").first.wait_for(state="attached", timeout=15_000)
        page.quiet.wait(page)
        keep_screenshot(page, docname)
        assert_nothing_left_the_machine(traffic)
        assert not [error for error in errors if "Bokeh" in error or "bokeh" in error], errors
    finally:
        context.close()


def map_frames(page, expected: int):
    page.wait_for_function(f"document.querySelectorAll('iframe[srcdoc]').length >= {expected}")
    frames = [frame for frame in page.frames if frame.parent_frame is not None]
    assert len(frames) >= expected
    for frame in frames:
        frame.locator(".leaflet-container").first.wait_for(state="attached", timeout=15_000)
    return frames


def test_the_markers_map_shows_its_markers_with_no_internet(browser, site_url):
    docname = "notebooks/folium/markers"
    context, page, traffic, _errors = open_offline(browser, f"{site_url}{docname}.html")
    try:
        (frame,) = map_frames(page, 1)
        frame.locator(".awesome-marker").first.wait_for(state="visible", timeout=15_000)
        markers = frame.locator(".leaflet-marker-pane .awesome-marker")
        assert markers.count() >= 5
        # the icon font (glyphicons) came from the site and a popup opens on click
        markers.first.click(force=True)
        frame.locator(".leaflet-popup-content").first.wait_for(state="visible", timeout=5_000)
        page.quiet.wait(page)
        keep_screenshot(page, docname)
        assert_nothing_left_the_machine(traffic)
    finally:
        context.close()


@pytest.mark.parametrize(
    ("docname", "at_least", "has_legend"),
    [
        ("notebooks/folium/choropleth", 40, True),  # the states, and branca's colour scale
        ("notebooks/folium/voronoi", 10, False),  # the cells and the airport circles
    ],
)
def test_polygon_maps_draw_their_shapes_with_no_internet(browser, site_url, docname, at_least, has_legend):
    context, page, traffic, _errors = open_offline(browser, f"{site_url}{docname}.html")
    try:
        for frame in map_frames(page, 1):
            frame.locator("path.leaflet-interactive").first.wait_for(state="attached", timeout=15_000)
            assert frame.locator("path.leaflet-interactive").count() >= at_least
            if has_legend:  # branca draws the colour scale with d3 into an svg legend
                frame.locator("svg#legend g, .legend svg g").first.wait_for(state="attached", timeout=15_000)
        page.quiet.wait(page)
        keep_screenshot(page, docname)
        assert_nothing_left_the_machine(traffic)
    finally:
        context.close()


def test_every_notebook_page_of_the_site_is_checked_above(built_sample):
    site, _ = built_sample
    checked = set(BOKEH_PAGES) | {f"notebooks/folium/{name}" for name in ("markers", "choropleth", "voronoi")}
    built = {page.relative_to(site).with_suffix("").as_posix() for page in (site / "notebooks").rglob("*.html")}
    assert built == checked, "a notebook page without a browser check"
