"""The page's chrome as a reader meets it in Chromium: one search field, no empty top bar.

With sphinx-book-theme 1.3 on pydata-sphinx-theme 0.17, every page opened with a near-empty
header bar holding a second "Search Ctrl+K" above the sidebar's own
(https://github.com/executablebooks/sphinx-book-theme/issues/986).  A screenshot of the top of
each page is kept under _build/test-artifacts/page-chrome/.
"""

from __future__ import annotations

import pytest
from conftest import REPOSITORY
from support.browser import Traffic, chromium, offline_context, served
from support.cli import oersite
from support.coursehelpers import make_course

pytestmark = pytest.mark.slow  # builds a course and drives Chromium

SCREENSHOTS = REPOSITORY / "_build" / "test-artifacts" / "page-chrome"
VISIBLE_SEARCH_FIELDS = """() => [...document.querySelectorAll('.search-button-field')]
  .filter(e => e.getBoundingClientRect().height > 0).length"""


@pytest.fixture(scope="module")
def two_page_site(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("chrome") / "course")
    result = oersite("build", str(course), "--strict")
    assert result.exit_code == 0, result.output
    return course / "_build" / "html"


@pytest.mark.parametrize("docname", ["intro", "lessons/first"])
def test_a_page_opens_with_the_sidebar_search_and_no_empty_top_bar(two_page_site, docname):
    traffic = Traffic()
    with served(two_page_site) as url, chromium() as browser:
        context = offline_context(browser, traffic)
        page = context.new_page()
        page.goto(f"{url}{docname}.html", wait_until="networkidle")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(SCREENSHOTS / f"{docname.replace('/', '-')}.png"),
            clip={"x": 0, "y": 0, "width": 1280, "height": 300},
        )
        header = page.locator("#pst-header")
        header_height = header.bounding_box()["height"] if header.count() and header.is_visible() else 0
        assert header_height == 0, "the page opens with a top bar above the sidebar"
        assert page.evaluate(VISIBLE_SEARCH_FIELDS) == 1, "one search field, the sidebar's"
        # The title sits at the very top of the sidebar, and the search still opens with Ctrl+K.
        assert page.locator(".bd-sidebar-primary").bounding_box()["y"] == 0
        page.keyboard.press("Control+k")
        page.locator("#pst-search-dialog input[name=q]").wait_for(state="visible", timeout=5_000)
        context.close()
    assert traffic.loaded_from_outside() == []


def test_a_course_that_names_the_headers_persistent_slot_keeps_its_choice(tmp_path):
    course = make_course(
        tmp_path / "course",
        config={"sphinx": {"config": {"html_theme_options": {"navbar_persistent": ["search-button-field"]}}}},
    )
    result = oersite("build", str(course))
    assert result.exit_code == 0, result.output
    page = (course / "_build/html/intro.html").read_text(encoding="utf-8")
    header = page.split('<header id="pst-header"', 1)[1].split("</header>", 1)[0]
    assert "search-button-field" in header
